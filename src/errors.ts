/**
 * Typed errors shared by every module and surface.
 *
 * Surfaces map `code` to their own status (HTTP status, CLI exit code); the
 * message is always safe to show: it never contains secrets or tokens.
 */
export type ErrorCode =
  | "invalid_input"
  | "schema_violation"
  | "not_found"
  | "conflict"
  | "archived"
  | "unauthorized"
  | "forbidden"
  | "limit_reached"
  | "too_large"
  | "wrong_key"
  | "corrupt"
  | "unavailable"
  | "internal";

/** HTTP status for each error code; other surfaces derive from it too. */
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
  wrong_key: 500,
  corrupt: 500,
  unavailable: 503,
  internal: 500,
};

/**
 * An error with a stable machine-readable code.
 *
 * @example
 * ```ts
 * throw new DbxError("not_found", "aggregate patient/p-001 not found");
 * ```
 */
export class DbxError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "DbxError";
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

/** True when `err` is a DbxError with the given code. */
export function isDbxError(err: unknown, code?: ErrorCode): err is DbxError {
  return err instanceof DbxError && (code === undefined || err.code === code);
}
