/**
 * The engine hook that enforces schemas according to the restriction mode
 * (SPEC §4): off = no validation; default = validate when the aggregate type has
 * a schema; strict = the aggregate type must have a schema.
 */
import type { RestrictMode } from "../config/types.ts";
import type { EventValidator, ValidationContext } from "../engine/types.ts";
import { DbxError } from "../errors.ts";
import { checkEvent, type CompiledSchema } from "./compiled.ts";
import type { Violation } from "./rules.ts";

/** Where the validator finds schemas; `SchemaStore` is one. */
export interface CompiledSchemaSource {
  compiled(aggregateType: string): CompiledSchema | undefined;
}

/**
 * The one-line message for a violation; it names the aggregate, event, field
 * (when there is one) and rule.
 *
 * @example
 * ```ts
 * violationMessage("invoice", "invoice-paid", { field: "amount", rule: "range", detail: "must be >= 0, got -5" });
 * // 'aggregate "invoice", event "invoice-paid", field "amount": violates rule "range": must be >= 0, got -5'
 * ```
 */
export function violationMessage(aggregate: string, event: string, v: Violation): string {
  const field = v.field === undefined ? "" : `, field ${JSON.stringify(v.field)}`;
  return `aggregate ${JSON.stringify(aggregate)}, event ${JSON.stringify(event)}${field}: ` +
    `violates rule ${JSON.stringify(v.rule)}: ${v.detail}`;
}

/**
 * Check one event against a compiled schema; throws DbxError("schema_violation")
 * with `details` {aggregate, event, field?, rule} on the first violation.
 *
 * @example
 * ```ts
 * import type { SchemaStore } from "./store.ts";
 * declare const store: SchemaStore;
 * validateAgainstSchema(store.compiled("patient")!, {
 *   aggregate_type: "patient",
 *   aggregate_id: "p-001",
 *   event_type: "patient-added",
 *   payload: { name: "Jane" },
 *   current_version: 0,
 *   state: {},
 * }); // throws DbxError("schema_violation") when the event breaks the schema
 * ```
 */
export function validateAgainstSchema(compiled: CompiledSchema, ctx: ValidationContext): void {
  const violation = checkEvent(compiled, ctx.event_type, ctx.payload);
  if (!violation) return;
  throw new DbxError(
    "schema_violation",
    violationMessage(ctx.aggregate_type, ctx.event_type, violation),
    {
      aggregate: ctx.aggregate_type,
      event: ctx.event_type,
      ...(violation.field === undefined ? {} : { field: violation.field }),
      rule: violation.rule,
    },
  );
}

/**
 * Build the engine's validator. `mode` is read for every event, so a change of
 * restriction mode applies to the next write.
 *
 * @example
 * ```ts
 * import { Engine } from "../engine/engine.ts";
 * import { SchemaStore } from "./store.ts";
 * const dataDir = await Deno.makeTempDir();
 * const dek = crypto.getRandomValues(new Uint8Array(32));
 * const store = await SchemaStore.open(dataDir);
 * const engine = await Engine.open({ dataDir, dek, validator: createValidator(store, () => "strict") });
 * ```
 */
export function createValidator(
  store: CompiledSchemaSource,
  mode: () => RestrictMode,
): EventValidator {
  return (ctx: ValidationContext) => {
    const current = mode();
    if (current === "off") return;
    const compiled = store.compiled(ctx.aggregate_type);
    if (compiled) return validateAgainstSchema(compiled, ctx);
    if (current === "strict") {
      throw new DbxError(
        "schema_violation",
        `aggregate type ${
          JSON.stringify(ctx.aggregate_type)
        } has no schema; restriction mode strict requires one`,
        { aggregate: ctx.aggregate_type, event: ctx.event_type, rule: "strict" },
      );
    }
  };
}
