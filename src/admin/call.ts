/** Calling the API as the request's admin caller, with input parsed from the request. */
import type { Context } from "hono";
import type { Api } from "../api/api.ts";
import type { OperationInput, OperationName, OperationResult } from "../api/operations.ts";
import type { AdminEnv } from "./app.ts";

/**
 * Run `name` for the request's caller with `input` as the request gave it (the API checks
 * it, as for every surface).
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * import type { Context } from "hono";
 * import type { AdminEnv } from "./app.ts";
 * declare const api: Api;
 * declare const c: Context<AdminEnv>;
 * const tokens = await call(api, c, "listTokens", {});
 * ```
 */
export function call<N extends OperationName>(
  api: Api,
  c: Context<AdminEnv>,
  name: N,
  input: unknown,
): Promise<OperationResult<N>> {
  // The input was just parsed from the request: nobody else holds it.
  return api.call(c.get("caller"), name, input as OperationInput<N>, { owned: true });
}
