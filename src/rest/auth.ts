/**
 * Bearer tokens on the REST surface. Every route but `/health` runs `admit` first:
 * it refuses a request without a well-formed `Authorization: Bearer <token>` header (401)
 * and names the caller for the handlers. Whether the token is valid and what it may do is
 * the API's decision, made by every operation the handler calls; a large body (or one of
 * unknown length) is read only after the API accepted the token, so an unauthenticated
 * client cannot make the server read megabytes.
 */
import type { Context } from "hono";
import type { Api } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import { readAdmittedBody, requestCaller } from "../http/admit.ts";

/** Hono environment of the app: the caller (once `requireCaller` passed) and the body text. */
export type AppEnv = { Variables: { caller: Caller; body?: string } };

// The bearer-token rules are shared by every HTTP surface.
export { bearerToken, EARLY_AUTH_BYTES } from "../http/admit.ts";

/**
 * Admit a request: refuse it without a bearer token (401), name the caller for the handler,
 * check the token first when the body is large or of unknown length, then read the body (at
 * most `maxBodyBytes`, else 413). One plain function, run by every route but `/health`.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * import type { Context } from "hono";
 * declare const api: Api;
 * declare const c: Context<AppEnv>;
 * await admit(c, api, 8 << 20);
 * ```
 */
export async function admit(c: Context<AppEnv>, api: Api, maxBodyBytes: number): Promise<void> {
  const raw = c.req.raw;
  const caller = requestCaller(raw);
  c.set("caller", caller);
  if (!raw.body) return;
  c.set("body", await readAdmittedBody(raw, api, caller, maxBodyBytes));
}
