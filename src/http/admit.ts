/**
 * Bearer tokens on every HTTP surface (REST, GraphQL): the caller a request names, and its
 * body read only once that is safe. Whether the token is valid and what it may do is the
 * API's decision, made by every operation called; a large body (or one of unknown length)
 * is read only after the API accepted the token, so an unauthenticated client cannot make
 * the server read megabytes.
 */
import type { Api } from "../api/api.ts";
import { type Caller, tokenCaller } from "../api/caller.ts";
import { DbxError } from "../errors.ts";
import { readBodyText } from "./body.ts";

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
 * The caller a request's `Authorization` header names (DbxError "unauthorized" without a
 * well-formed bearer token; the token itself is checked by the API).
 *
 * @example
 * ```ts
 * const request = new Request("http://x/", { headers: { Authorization: "Bearer abc" } });
 * requestCaller(request); // { kind: "token", token: "abc" }
 * ```
 */
export function requestCaller(request: Request): Caller {
  return tokenCaller(bearerToken(request.headers.get("Authorization")));
}

/**
 * The body of an admitted request (undefined without one): the token is checked first when
 * the body is large or of unknown length, then at most `maxBodyBytes` are read (else 413).
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * declare const request: Request;
 * const caller = requestCaller(request);
 * const text = await readAdmittedBody(request, api, caller, 8 << 20);
 * ```
 */
export async function readAdmittedBody(
  request: Request,
  api: Api,
  caller: Caller,
  maxBodyBytes: number,
): Promise<string | undefined> {
  if (!request.body) return undefined;
  const declared = request.headers.get("content-length");
  if (declared === null || Number(declared) > EARLY_AUTH_BYTES) {
    await api.call(caller, "describeCaller", {});
  }
  return await readBodyText(request, maxBodyBytes);
}
