/**
 * Typed errors shared by every module and surface.
 *
 * The core knows only codes; each surface maps a code to its own answer (an HTTP status in
 * `src/http/status.ts`, a CLI exit code, later gRPC and GraphQL codes). The message is
 * always safe to show: it never contains secrets or tokens.
 */

/** Every error code, in one list so surfaces and clients can check a code they receive. */
export const ERROR_CODES = [
  "invalid_input",
  "schema_violation",
  "not_found",
  "conflict",
  "archived",
  "unauthorized",
  "forbidden",
  "limit_reached",
  "too_large",
  "overloaded",
  "wrong_key",
  "corrupt",
  "integrity",
  "unavailable",
  "internal",
] as const;

/** A stable machine-readable error code. */
export type ErrorCode = typeof ERROR_CODES[number];

/**
 * True for a string that is one of {@link ERROR_CODES}.
 *
 * @example
 * ```ts
 * isErrorCode("not_found"); // true
 * isErrorCode("teapot"); // false
 * ```
 */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

/**
 * An error with a stable machine-readable code.
 *
 * @example
 * ```ts
 * const err = new DbxError("not_found", "aggregate patient/p-001 not found");
 * err.code; // "not_found"
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
}

/**
 * True when `err` is a DbxError with the given code.
 *
 * @example
 * ```ts
 * isDbxError(new DbxError("conflict", "version conflict"), "conflict"); // true
 * ```
 */
export function isDbxError(err: unknown, code?: ErrorCode): err is DbxError {
  return err instanceof DbxError && (code === undefined || err.code === code);
}

/** An error as plain data: what crosses a message port or a wire. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

const GENERIC_MESSAGE = "internal server error";

/**
 * The plain-data form of any thrown value. Anything but a DbxError becomes a generic
 * "internal" error: its message may hold details no caller should see.
 *
 * @example
 * ```ts
 * errorData(new DbxError("conflict", "version conflict")); // { code: "conflict", message: "version conflict" }
 * errorData(new TypeError("x is undefined")); // { code: "internal", message: "internal server error" }
 * ```
 */
export function errorData(err: unknown): ErrorData {
  if (err instanceof DbxError) {
    const data: ErrorData = { code: err.code, message: err.message };
    if (err.details !== undefined) data.details = err.details;
    return data;
  }
  return { code: "internal", message: GENERIC_MESSAGE };
}

/**
 * A DbxError rebuilt from its plain-data form (an unknown code becomes "internal").
 *
 * @example
 * ```ts
 * const err = fromErrorData({ code: "not_found", message: "aggregate a/b not found" });
 * err instanceof DbxError; // true
 * ```
 */
export function fromErrorData(data: Partial<ErrorData> | undefined): DbxError {
  const code = isErrorCode(data?.code) ? data.code : "internal";
  const message = typeof data?.message === "string" ? data.message : GENERIC_MESSAGE;
  const details = typeof data?.details === "object" && data.details !== null
    ? data.details
    : undefined;
  return new DbxError(code, message, details);
}
