/**
 * HTTP status of each API error code, shared by the HTTP surfaces (REST, the Admin API) and the
 * HTTP client: a protocol concern, kept out of the core error type.
 */
import type { ErrorCode } from "../errors.ts";

/** The status every error code answers with over HTTP. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  schema_violation: 400,
  not_found: 404,
  conflict: 409,
  archived: 403,
  unauthorized: 401,
  forbidden: 403,
  limit_reached: 403,
  too_large: 413,
  overloaded: 503,
  wrong_key: 500,
  corrupt: 500,
  integrity: 500,
  unavailable: 503,
  internal: 500,
};

/**
 * The error code for a status that came without one (a proxy's answer, Hono's own).
 *
 * @example
 * ```ts
 * codeForStatus(404); // "not_found"
 * codeForStatus(418); // "internal"
 * ```
 */
export function codeForStatus(status: number): ErrorCode {
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
