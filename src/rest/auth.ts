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
import { type Caller, tokenCaller } from "../api/caller.ts";
import { DbxError } from "../errors.ts";
import { readBodyText } from "./body.ts";

/** Hono environment of the app: the caller (once `requireCaller` passed) and the body text. */
export type AppEnv = { Variables: { caller: Caller; body?: string } };

/** Bodies up to this size are read before the token is checked (by the operation itself). */
export const EARLY_AUTH_BYTES = 64 << 10;

/**
 * The token of an `Authorization: Bearer <token>` header.
 *
 * @example
 * ```ts
 * import { DbxError } from "../errors.ts";
 * bearerToken("Bearer eyJhbGciOi..."); // "eyJhbGciOi..."
 * bearerToken(undefined); // throws DbxError("unauthorized")
 * ```
 */
export function bearerToken(header: string | undefined | null): string {
  if (header === undefined || header === null || header.trim() === "") {
    throw new DbxError(
      "unauthorized",
      "a token is required: send the header Authorization: Bearer <token>",
    );
  }
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new DbxError(
      "unauthorized",
      "the Authorization header must be Bearer <token> (one token, no other scheme)",
    );
  }
  return match[1];
}

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
  const caller = tokenCaller(bearerToken(c.req.header("Authorization")));
  c.set("caller", caller);
  const raw = c.req.raw;
  if (!raw.body) return;
  const declared = raw.headers.get("content-length");
  if (declared === null || Number(declared) > EARLY_AUTH_BYTES) {
    await api.call(caller, "describeCaller", {});
  }
  c.set("body", await readBodyText(raw, maxBodyBytes));
}
