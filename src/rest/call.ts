/** Calling the API with input parsed from a request (the API checks it, as for every surface). */
import type { Context } from "hono";
import type { Api } from "../api/api.ts";
import type { OperationInput, OperationName, OperationResult } from "../api/operations.ts";
import type { AppEnv } from "./auth.ts";

/**
 * Run `name` for the request's caller with `input` as the request gave it.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * import type { AppEnv } from "./auth.ts";
 * import type { Context } from "hono";
 * declare const api: Api;
 * declare const c: Context<AppEnv>;
 * const record = await call(api, c, "getAggregate", { aggregate_type: "a", aggregate_id: "b" });
 * ```
 */
export function call<N extends OperationName>(
  api: Api,
  c: Context<AppEnv>,
  name: N,
  input: unknown,
): Promise<OperationResult<N>> {
  // The input was just parsed from the request: nobody else holds it.
  return api.call(c.get("caller"), name, input as OperationInput<N>, { owned: true });
}
