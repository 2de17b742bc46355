/**
 * Every failure of the REST surface as JSON `{"message", "code"}` with a fitting
 * status: DbxError keeps its own status, Hono's errors (body limit) map to
 * theirs, anything unexpected becomes a generic 500 whose details go to stderr.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { DbxError, type ErrorCode } from "../errors.ts";

/** The JSON body of every error response. */
export interface ErrorBody {
  message: string;
  code: ErrorCode | "method_not_allowed";
}

const GENERIC_MESSAGE = "internal server error";

/**
 * The status and body for an error thrown while handling a request.
 *
 * @example
 * ```ts
 * errorBody(new DbxError("not_found", "aggregate patient/p-404 not found"));
 * // { status: 404, body: { message: "aggregate patient/p-404 not found", code: "not_found" } }
 * ```
 */
export function errorBody(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof DbxError) {
    return { status: err.status, body: { message: err.message, code: err.code } };
  }
  if (err instanceof HTTPException) {
    const code = codeForStatus(err.status);
    const message = code === "too_large" ? "request body is too large" : err.message || code;
    return { status: err.status, body: { message, code } };
  }
  return { status: 500, body: { message: GENERIC_MESSAGE, code: "internal" } };
}

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return "invalid_input";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 413:
      return "too_large";
    case 503:
      return "unavailable";
    default:
      return "internal";
  }
}

/**
 * Hono `onError` handler: the JSON error response, logging unexpected errors
 * (method, path and the error, never headers or bodies, which may hold tokens).
 *
 * @example
 * ```ts
 * app.onError(handleError);
 * ```
 */
export function handleError(err: Error, c: Context): Response {
  const { status, body } = errorBody(err);
  if (status >= 500) {
    const detail = err instanceof DbxError ? `${err.code}: ${err.message}` : err.stack ?? err;
    console.error(`error: ${c.req.method} ${c.req.path} failed:`, detail);
  }
  // RFC 6750: tell the client which scheme to use.
  const headers: Record<string, string> = status === 401
    ? { "WWW-Authenticate": 'Bearer realm="eventdbx"' }
    : {};
  return c.json(body, status as 500, headers);
}

/**
 * A JSON error response for a status the router decides itself (404, 405).
 *
 * @example
 * ```ts
 * return jsonError(c, 404, "not_found", "no route GET /v2");
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
