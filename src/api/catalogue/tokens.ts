/**
 * Token management (`token.manage` on `token:*`): list, issue, revoke, refresh. Write counts
 * live in the store, so listing and `refresh --limit` read them from the engine; the engine
 * is opened only when a token with a limit needs it.
 */
import { tokenResource, type UsedWrites } from "../../auth/authority.ts";
import {
  checkObject,
  optionalBoolean,
  optionalInteger,
  optionalStrings,
  requiredString,
} from "../checks.ts";
import type { OperationContext, Operations } from "./spec.ts";

const manage = { action: "token.manage", resources: () => [tokenResource()] } as const;

function usedWrites(ctx: OperationContext): UsedWrites {
  return async (id) => (await ctx.engine()).usedWrites(id);
}

/** The token operations. */
export const tokenOperations: Operations<
  "listTokens" | "generateToken" | "revokeToken" | "refreshToken"
> = {
  listTokens: {
    scope: manage,
    check: (raw) => checkObject(raw ?? {}, [], "the input") as Record<string, never>,
    run: async (ctx) => (await ctx.node.tokens()).list(usedWrites(ctx)),
  },

  generateToken: {
    scope: manage,
    check(raw) {
      const body = checkObject(raw, [
        "group",
        "user",
        "expiration",
        "limit",
        "keep_alive",
        "actions",
        "resources",
      ], "the input");
      return {
        group: requiredString(body, "group"),
        user: requiredString(body, "user"),
        expiration: optionalInteger(body, "expiration", 1),
        limit: optionalInteger(body, "limit", 0),
        keep_alive: optionalBoolean(body, "keep_alive"),
        actions: optionalStrings(body, "actions"),
        resources: optionalStrings(body, "resources"),
      };
    },
    run: async (ctx, input) =>
      (await ctx.node.tokens()).generate({
        group: input.group,
        user: input.user,
        expiration: input.expiration,
        limit: input.limit,
        keepAlive: input.keep_alive,
        actions: input.actions,
        resources: input.resources,
      }),
  },

  revokeToken: {
    scope: manage,
    check: (raw) => ({ token: requiredString(checkObject(raw, ["token"], "the input"), "token") }),
    run: async (ctx, input) => (await ctx.node.tokens()).revoke(input.token),
  },

  refreshToken: {
    scope: manage,
    check(raw) {
      const body = checkObject(raw, ["token", "expiration", "limit"], "the input");
      return {
        token: requiredString(body, "token"),
        expiration: optionalInteger(body, "expiration", 1),
        limit: optionalInteger(body, "limit", 0),
      };
    },
    run: async (ctx, input) =>
      (await ctx.node.tokens()).refresh(
        input.token,
        { expiration: input.expiration, limit: input.limit },
        usedWrites(ctx),
      ),
  },
};
