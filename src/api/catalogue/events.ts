/**
 * Appending events: one event, or an atomic batch over any aggregates. The input rules are
 * the engine's (`checkAppendInput`), declared here once for every surface; the caller needs
 * `aggregate.append` on every aggregate the events name, and a token's write limit is
 * charged in the same synced batch as the events.
 */
import { aggregateResource } from "../../auth/authority.ts";
import { checkAppendInput, type CheckedAppendInput } from "../../engine/input.ts";
import type { AppendInput } from "../../engine/types.ts";
import { DbxError, isDbxError } from "../../errors.ts";
import { checkObject } from "../checks.ts";
import type { Node } from "../node.ts";
import type { Operations } from "./spec.ts";

/** The fields of one event's input. */
export const APPEND_FIELDS = [
  "aggregate_type",
  "aggregate_id",
  "event_type",
  "payload",
  "patch",
  "note",
  "event_id",
  "expected_version",
] as const;

/**
 * One event's input: only known fields, then the engine's input rules. `what` prefixes
 * messages (e.g. "event 2") so a refused batch names the event.
 */
export function checkEventInput(raw: unknown, node: Node, what?: string): CheckedAppendInput {
  try {
    const body = checkObject(raw, APPEND_FIELDS, "the event");
    for (const field of ["aggregate_type", "aggregate_id", "event_type"]) {
      if (body[field] === undefined || body[field] === null) {
        throw new DbxError("invalid_input", `${field} is required`);
      }
    }
    return checkAppendInput(body as unknown as AppendInput, node.limits);
  } catch (err) {
    if (what === undefined || !isDbxError(err)) throw err;
    throw new DbxError(err.code, `${what}: ${err.message}`, err.details);
  }
}

/** Each aggregate the events name, once. */
export function ofEvents(inputs: readonly AppendInput[]): readonly string[] {
  return [...new Set(inputs.map((i) => aggregateResource(i.aggregate_type, i.aggregate_id)))];
}

/** The append operations. */
export const eventOperations: Operations<"appendEvent" | "appendEvents"> = {
  appendEvent: {
    scope: { action: "aggregate.append", resources: (input) => ofEvents([input]) },
    check: (raw, node) => checkEventInput(raw, node),
    async run(ctx, input) {
      const engine = ctx.node.openEngine ?? await ctx.engine();
      const { events, written } = await engine.appendChecked(
        [input as CheckedAppendInput],
        { issued_by: ctx.who.issued_by, charge: ctx.who.charge },
      );
      return { event: events[0], created: written > 0 };
    },
  },

  appendEvents: {
    scope: { action: "aggregate.append", resources: (input) => ofEvents(input.events) },
    check(raw, node) {
      const body = checkObject(raw, ["events"], "the input");
      if (!Array.isArray(body.events)) {
        throw new DbxError("invalid_input", "events must be a list of events");
      }
      if (body.events.length === 0) {
        throw new DbxError("invalid_input", "a batch needs at least one event");
      }
      return { events: body.events.map((e, i) => checkEventInput(e, node, `event ${i + 1}`)) };
    },
    async run(ctx, input) {
      const engine = ctx.node.openEngine ?? await ctx.engine();
      const { events, written } = await engine.appendChecked(
        input.events as CheckedAppendInput[],
        { issued_by: ctx.who.issued_by, charge: ctx.who.charge },
      );
      return { events, created: written > 0 };
    },
  },
};
