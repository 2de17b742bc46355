/**
 * The store as a whole: the global position index, checked one page at a time (each
 * aggregate is verified by `verifyAggregate`), and the counters of its synced writes. The
 * index names every aggregate, so only a caller that may read every aggregate may check it.
 */
import { matchResource } from "../../auth/authority.ts";
import { POSITIONS_PAGE } from "../../engine/engine.ts";
import { DbxError } from "../../errors.ts";
import type { Principal } from "../access.ts";
import { checkObject, optionalInteger } from "../checks.ts";
import type { Operations } from "./spec.ts";

/** The resource every aggregate matches (for the scope check and its message). */
const EVERY_AGGREGATE = "aggregate:*:*";

/**
 * Whether the caller's read scope covers every aggregate: a pattern without `?` that
 * matches `aggregate:*:*` matches every aggregate resource (its `*`s take any text), where
 * one with `?` may need exactly one character.
 */
function readsEveryAggregate(who: Principal): boolean {
  return who.unrestricted ||
    who.scope.resources.some((p) =>
      p === "*" || (!p.includes("?") && matchResource(p, EVERY_AGGREGATE))
    );
}

/** DbxError "forbidden" unless the caller may read every aggregate. */
function requireEveryAggregate(who: Principal, what: string): void {
  if (readsEveryAggregate(who)) return;
  throw new DbxError(
    "forbidden",
    `${what} needs aggregate.read on every aggregate (${EVERY_AGGREGATE})`,
    { reason: "not_permitted" },
  );
}

/** The store-wide operations: the position index check and the write counters. */
export const verifyOperations: Operations<"verifyPositions" | "writeStats"> = {
  verifyPositions: {
    scope: { action: "aggregate.read", resources: () => [EVERY_AGGREGATE] },
    check(raw) {
      const body = checkObject(raw ?? {}, ["from", "take"], "the input");
      const from = optionalInteger(body, "from", 1);
      const take = optionalInteger(body, "take", 1);
      if (take !== undefined && take > POSITIONS_PAGE.max) {
        throw new DbxError("invalid_input", `take must be at most ${POSITIONS_PAGE.max}`);
      }
      return {
        ...(from === undefined ? {} : { from }),
        ...(take === undefined ? {} : { take }),
      };
    },
    async run(ctx, input) {
      requireEveryAggregate(ctx.who, "checking the global position index");
      const engine = await ctx.engine();
      return await engine.verifyPositions(input);
    },
  },
  writeStats: {
    scope: { action: "aggregate.read", resources: () => [EVERY_AGGREGATE] },
    check: (raw) => checkObject(raw ?? {}, [], "the input") as Record<string, never>,
    async run(ctx) {
      // Store-wide counts say how busy every aggregate is: the same bar as the index check.
      requireEveryAggregate(ctx.who, "reading the store's write counters");
      return (await ctx.engine()).writeStats();
    },
  },
};
