/**
 * A schema prepared for the writer's hot path, and the event check in the
 * documented order: locked aggregate, locked field, undeclared event, missing or
 * unpermitted fields, then column types and rules.
 */
import { checkColumn, compileColumn, type CompiledColumn, type Violation } from "./rules.ts";
import type { AggregateSchema } from "./types.ts";

interface CompiledEvent {
  /** Permitted fields; null when the event permits any. */
  permitted: ReadonlySet<string> | null;
  /** Listed fields whose column is required, in order. */
  required: readonly CompiledColumn[];
}

/** An aggregate schema with regexes built, bounds parsed and lookups indexed. */
export interface CompiledSchema {
  readonly schema: AggregateSchema;
  readonly events: ReadonlyMap<string, CompiledEvent>;
  readonly fieldLocks: ReadonlySet<string>;
  readonly columns: ReadonlyMap<string, CompiledColumn>;
}

/**
 * Compile a normalized schema.
 *
 * @example
 * ```ts
 * import { normalizeSchema } from "./definition.ts";
 * const schema = normalizeSchema(
 *   { aggregate: "patient", events: { "patient-added": { fields: ["name"] } } },
 *   new Date().toISOString(),
 * );
 * const compiled = compileSchema(schema);
 * checkEvent(compiled, "patient-added", { name: "Jane" }); // undefined when valid
 * ```
 */
export function compileSchema(schema: AggregateSchema): CompiledSchema {
  const columns = new Map(
    Object.entries(schema.columns).map(([field, def]) => [field, compileColumn(field, def)]),
  );
  const events = new Map<string, CompiledEvent>();
  for (const [name, def] of Object.entries(schema.events)) {
    const permitted = def.fields.length > 0 ? new Set(def.fields) : null;
    const required = def.fields
      .map((field) => columns.get(field))
      .filter((col): col is CompiledColumn => col !== undefined && col.required);
    events.set(name, { permitted, required });
  }
  return { schema, events, fieldLocks: new Set(schema.field_locks), columns };
}

function quotedList(names: Iterable<string>): string {
  const all = [...names];
  const shown = all.slice(0, 10).map((n) => JSON.stringify(n)).join(", ");
  return all.length > 10 ? `${shown}, ... ${all.length - 10} more` : shown;
}

/**
 * The first violation of an event against a schema, or undefined when it passes.
 *
 * @example
 * ```ts
 * import { normalizeSchema } from "./definition.ts";
 * const compiled = compileSchema(normalizeSchema(
 *   { aggregate: "patient", events: { "patient-added": {} } },
 *   new Date().toISOString(),
 * ));
 * checkEvent(compiled, "patient-deleted", {});
 * // { rule: "events",
 * //   detail: 'the event is not declared in the schema (declared: "patient-added")' }
 * ```
 */
export function checkEvent(
  compiled: CompiledSchema,
  eventType: string,
  payload: Record<string, unknown>,
): Violation | undefined {
  if (compiled.schema.locked) {
    return { rule: "locked", detail: "the aggregate type is locked; no events are accepted" };
  }
  const keys = Object.keys(payload);
  if (compiled.fieldLocks.size > 0) {
    for (const key of keys) {
      if (compiled.fieldLocks.has(key)) {
        return { field: key, rule: "field_locks", detail: "the field is locked" };
      }
    }
  }
  const event = compiled.events.get(eventType);
  if (!event) {
    return {
      rule: "events",
      detail: `the event is not declared in the schema (declared: ${
        quotedList(compiled.events.keys())
      })`,
    };
  }
  for (const col of event.required) {
    const value = payload[col.name];
    if (value === undefined || value === null) {
      return { field: col.name, rule: "required", detail: "the field is required but missing" };
    }
  }
  if (event.permitted) {
    for (const key of keys) {
      if (!event.permitted.has(key)) {
        return {
          field: key,
          rule: "fields",
          detail: `the field is not permitted for this event (permitted: ${
            quotedList(event.permitted)
          })`,
        };
      }
    }
  }
  if (compiled.columns.size > 0) {
    for (const key of keys) {
      const col = compiled.columns.get(key);
      if (!col) continue;
      const violation = checkColumn(col, payload[key], false);
      if (violation) return violation;
    }
  }
  return undefined;
}
