/**
 * Calling the API from a Hono handler: the request's caller (set by the surface's guard) and
 * input parsed from the request, which the API checks as for every surface.
 */
import type { Context } from "hono";
import type { Api } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import type { OperationInput, OperationName, OperationResult } from "../api/operations.ts";

/** What a surface's Hono environment must hold: the caller its guard admitted. */
export type CallerEnv = { Variables: { caller: Caller } };

/**
 * Run `name` for the request's caller with `input` as the request gave it.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * import type { Context } from "hono";
 * import type { CallerEnv } from "./call.ts";
 * declare const api: Api;
 * declare const c: Context<CallerEnv>;
 * const record = await call(api, c, "getAggregate", { aggregate_type: "a", aggregate_id: "b" });
 * ```
 */
export function call<N extends OperationName, E extends CallerEnv>(
  api: Api,
  c: Context<E>,
  name: N,
  input: unknown,
): Promise<OperationResult<N>> {
  // The input was just parsed from the request: nobody else holds it.
  return api.call(c.get("caller"), name, input as OperationInput<N>, { owned: true });
}
