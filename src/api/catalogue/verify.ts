/**
 * Verifying the store as a whole: the global position index, one page at a time (each
 * aggregate is verified by `verifyAggregate`). The index names every aggregate, so only a
 * caller that may read every aggregate may check it.
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

/** The store-wide verify operations. */
export const verifyOperations: Operations<"verifyPositions"> = {
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
      if (!readsEveryAggregate(ctx.who)) {
        throw new DbxError(
          "forbidden",
          "checking the global position index needs aggregate.read on every aggregate " +
            `(${EVERY_AGGREGATE})`,
          { reason: "not_permitted" },
        );
      }
      const engine = await ctx.engine();
      return await engine.verifyPositions(input);
    },
  },
};
