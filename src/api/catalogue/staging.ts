/**
 * The staging queue: events checked now (`aggregate apply --stage`) and written later, all at
 * once and atomically (`aggregate commit`), plus removing an aggregate that has only staged
 * events. A staged event is checked with the same decision the writer makes; a commit is
 * one atomic batch under the committing caller's scope and write limit.
 */
import type { CheckedAppendInput } from "../../engine/input.ts";
import { DbxError } from "../../errors.ts";
import { checkObject, optionalInteger } from "../checks.ts";
import { aggregateInput, ofAggregate, strip } from "./aggregates.ts";
import { checkEventInput, ofEvents } from "./events.ts";
import type { Operations } from "./spec.ts";

/** The staging operations. */
export const stagingOperations: Operations<
  "stageEvent" | "listStaged" | "commitStaged" | "removeAggregate"
> = {
  stageEvent: {
    scope: { action: "aggregate.append", resources: (input) => ofEvents([input]) },
    check: (raw, node) => checkEventInput(raw, node),
    async run(ctx, input) {
      const engine = await ctx.engine();
      await engine.check(input);
      const event = { ...input, staged_at: new Date().toISOString() };
      return await ctx.node.staging.update((events) => {
        const next = [...events, event];
        return Promise.resolve([next, { staged: next.length, event }]);
      });
    },
  },

  listStaged: {
    scope: { action: "aggregate.read", resources: "filtered" },
    check(raw) {
      const body = checkObject(raw ?? {}, ["skip", "take"], "the input");
      const skip = optionalInteger(body, "skip") ?? 0;
      const take = optionalInteger(body, "take");
      return take === undefined ? { skip } : { skip, take };
    },
    async run(ctx, input) {
      const readable = (await ctx.node.staging.read()).filter((e) =>
        ofAggregate(e).every((r) => ctx.node.access.allows(ctx.who, "aggregate.read", r))
      );
      const skip = input.skip ?? 0;
      const end = input.take === undefined ? readable.length : skip + input.take;
      const items = readable.slice(skip, end);
      return end < readable.length ? { items, next: end } : { items };
    },
  },

  commitStaged: {
    scope: { action: "aggregate.append", resources: "filtered" },
    check: (raw) => checkObject(raw ?? {}, [], "the input") as Record<string, never>,
    async run(ctx) {
      const engine = await ctx.engine();
      // Only a committed batch clears the queue: a refused one stays staged to fix and retry.
      return await ctx.node.staging.update(async (staged) => {
        if (staged.length === 0) return [staged, { committed: 0, events: [] }];
        const inputs = staged.map(({ staged_at: _, ...input }, i) =>
          checkEventInput(input, ctx.node, `staged event ${i + 1}`)
        );
        for (const resource of ofEvents(inputs)) ctx.permit("aggregate.append", resource);
        const { events } = await engine.appendChecked(inputs as CheckedAppendInput[], {
          issued_by: ctx.who.issued_by,
          charge: ctx.who.charge,
        });
        return [[], { committed: events.length, events }];
      });
    },
  },

  removeAggregate: {
    scope: { action: "aggregate.append", resources: ofAggregate },
    check: (raw) => strip(aggregateInput(raw)),
    async run(ctx, input) {
      const { aggregate_type: type, aggregate_id: id } = input;
      const engine = await ctx.engine();
      if (await engine.exists(type, id)) {
        throw new DbxError(
          "conflict",
          `aggregate ${type}/${id} has committed events and cannot be removed; archive it instead`,
        );
      }
      return await ctx.node.staging.update((staged) => {
        const kept = staged.filter((s) => !(s.aggregate_type === type && s.aggregate_id === id));
        if (kept.length === staged.length) {
          throw new DbxError("not_found", `aggregate ${type}/${id} not found`);
        }
        return Promise.resolve([kept, { ...input, removed_staged: staged.length - kept.length }]);
      });
    },
  },
};
