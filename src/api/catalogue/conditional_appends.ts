/**
 * Appends that depend on whether the aggregate exists: `createAggregate` writes the first
 * event of an aggregate that must not exist yet (atomic: the writer checks version 0), and
 * `appendExisting` appends to one that must exist (aggregates are never deleted once they
 * have an event, so checking first cannot go stale). The input rules, scope and write
 * charge are those of `appendEvent`.
 */
import type { CheckedAppendInput } from "../../engine/input.ts";
import { DbxError, isDbxError } from "../../errors.ts";
import { checkObject } from "../checks.ts";
import type { Node } from "../node.ts";
import { APPEND_FIELDS, checkEventInput, ofEvents } from "./events.ts";
import type { OperationContext, Operations } from "./spec.ts";

const CREATE_FIELDS = APPEND_FIELDS.filter((f) => f !== "expected_version");

function notFound(type: string, id: string): DbxError {
  return new DbxError("not_found", `aggregate ${type}/${id} not found`);
}

function exists(type: string, id: string): DbxError {
  return new DbxError("conflict", `aggregate ${type}/${id} already exists`, { reason: "exists" });
}

async function append(ctx: OperationContext, input: CheckedAppendInput) {
  const engine = ctx.node.openEngine ?? await ctx.engine();
  const { events, written } = await engine.appendChecked([input], {
    issued_by: ctx.who.issued_by,
    charge: ctx.who.charge,
  });
  return { event: events[0], created: written > 0 };
}

/** The conditional append operations. */
export const conditionalAppendOperations: Operations<"createAggregate" | "appendExisting"> = {
  createAggregate: {
    scope: { action: "aggregate.append", resources: (input) => ofEvents([input]) },
    check(raw, node: Node) {
      checkObject(raw, CREATE_FIELDS, "the event");
      // Version 0 before this event: the writer refuses it atomically if one came first.
      return checkEventInput({ ...(raw as object), expected_version: 0 }, node);
    },
    async run(ctx, input) {
      const engine = await ctx.engine();
      const { aggregate_type: type, aggregate_id: id } = input;
      // An existing aggregate (archived or not) is refused as existing, whatever else.
      if (await engine.exists(type, id) && input.event_id === undefined) throw exists(type, id);
      let result;
      try {
        result = await append(ctx, input as CheckedAppendInput);
      } catch (err) {
        if (isDbxError(err, "conflict")) throw exists(type, id);
        if (isDbxError(err, "archived")) throw exists(type, id);
        throw err;
      }
      return { ...result, aggregate: await engine.getAggregate(type, id) };
    },
  },

  appendExisting: {
    scope: { action: "aggregate.append", resources: (input) => ofEvents([input]) },
    check: (raw, node) => checkEventInput(raw, node),
    async run(ctx, input) {
      const engine = ctx.node.openEngine ?? await ctx.engine();
      if (!(await engine.exists(input.aggregate_type, input.aggregate_id))) {
        throw notFound(input.aggregate_type, input.aggregate_id);
      }
      return await append(ctx, input as CheckedAppendInput);
    },
  },
};
