/**
 * Every failure of the REST surface as JSON `{"message", "code"}` with a fitting status:
 * API errors keep their code (status from `status.ts`), Hono's errors (body limit) map to
 * theirs, anything unexpected becomes a generic 500 whose details go to stderr.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { DbxError, type ErrorCode, errorData } from "../errors.ts";
import { codeForStatus, HTTP_STATUS } from "../http/status.ts";

/** The JSON body of every error response. */
export interface ErrorBody {
  message: string;
  code: ErrorCode | "method_not_allowed";
}

/**
 * The status, body and headers for an error thrown while handling a request.
 *
 * @example
 * ```ts
 * import { DbxError } from "../errors.ts";
 * errorResponse(new DbxError("not_found", "aggregate patient/p-404 not found"));
 * // { status: 404, body: { message: "aggregate patient/p-404 not found", code: "not_found" }, headers: {} }
 * ```
 */
export function errorResponse(
  err: unknown,
): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (err instanceof HTTPException) {
    const code = codeForStatus(err.status);
    const message = code === "too_large" ? "request body is too large" : err.message || code;
    return { status: err.status, body: { message, code }, headers: {} };
  }
  const { code, message, details } = errorData(err);
  const headers: Record<string, string> = {};
  // RFC 6750: tell the client which scheme to use.
  if (code === "unauthorized") headers["WWW-Authenticate"] = 'Bearer realm="eventdbx"';
  if (code === "overloaded") {
    const after = details?.retry_after_seconds;
    headers["Retry-After"] = String(typeof after === "number" && after > 0 ? after : 1);
  }
  return { status: HTTP_STATUS[code], body: { message, code }, headers };
}

/**
 * Hono `onError` handler: the JSON error response, logging unexpected errors (method, path
 * and the error, never headers or bodies, which may hold tokens).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * new Hono().onError(handleError);
 * ```
 */
export function handleError(err: Error, c: Context): Response {
  const { status, body, headers } = errorResponse(err);
  if (status >= 500) {
    const detail = err instanceof DbxError ? `${err.code}: ${err.message}` : err.stack ?? err;
    console.error(`error: ${c.req.method} ${c.req.path} failed:`, detail);
  }
  return c.json(body, status as 500, headers);
}

/**
 * A JSON error response for a status the router decides itself (404, 405).
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * declare const c: Context;
 * jsonError(c, 404, "not_found", "no route GET /v2");
 * ```
 */
export function jsonError(
  c: Context,
  status: number,
  code: ErrorBody["code"],
  message: string,
  headers?: Record<string, string>,
): Response {
  return c.json({ message, code } satisfies ErrorBody, status as 404, headers);
}
