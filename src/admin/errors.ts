/**
 * Every failure of the Admin API as JSON `{"message", "code"}` with a fitting status: API
 * errors keep their code (and REST's status, src/http/status.ts), the Admin API's own refusals (rate
 * limited, unknown route) have theirs; anything unexpected is a generic 500 whose details go
 * to stderr. Nothing a client sent (a key, a body) is ever part of a message or a log line.
 */
import type { Context } from "hono";
import { DbxError, type ErrorCode, errorData } from "../errors.ts";
import { HTTP_STATUS } from "../http/status.ts";

/** The codes of the Admin API's error bodies. */
export type AdminErrorCode = ErrorCode | "rate_limited" | "method_not_allowed";

/** The JSON body of every error response. */
export interface AdminErrorBody {
  message: string;
  code: AdminErrorCode;
}

/**
 * A JSON error response.
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * declare const c: Context;
 * adminError(c, 404, "not_found", "no route GET /admin/nope");
 * ```
 */
export function adminError(
  c: Context,
  status: number,
  code: AdminErrorCode,
  message: string,
  headers?: Record<string, string>,
): Response {
  return c.json({ message, code } satisfies AdminErrorBody, status as 400, headers);
}

/**
 * Hono `onError` handler of the Admin API.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * new Hono().onError(handleAdminError);
 * ```
 */
export function handleAdminError(err: Error, c: Context): Response {
  const { code, message } = errorData(err);
  const status = HTTP_STATUS[code] ?? 500;
  const headers: Record<string, string> = {};
  if (code === "unauthorized") headers["WWW-Authenticate"] = 'Bearer realm="eventdbx-admin"';
  if (code === "overloaded" || code === "unavailable") headers["Retry-After"] = "1";
  if (status >= 500) {
    const detail = err instanceof DbxError ? `${err.code}: ${err.message}` : err.stack ?? err;
    console.error(`error: admin ${c.req.method} ${c.req.path} failed:`, detail);
  }
  return adminError(c, status, code, message, headers);
}
