/**
 * GraphQL's side of the error codes: every API error code (src/errors.ts) answers with one
 * `extensions.code` in `errors[]`, from the one table below, and keeps the API's own code in
 * `extensions.dbxCode` (the `code` REST answers with). A failure that is not a DbxError is
 * a generic internal error whose details go to stderr, never to the client.
 */
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { DbxError, type ErrorCode, errorData } from "../errors.ts";

/** `extensions.code` of every API error code. */
export const GRAPHQL_CODE: Record<ErrorCode, string> = {
  invalid_input: "BAD_USER_INPUT",
  schema_violation: "BAD_USER_INPUT",
  not_found: "NOT_FOUND",
  conflict: "CONFLICT",
  archived: "ARCHIVED",
  unauthorized: "UNAUTHENTICATED",
  forbidden: "FORBIDDEN",
  limit_reached: "FORBIDDEN",
  too_large: "PAYLOAD_TOO_LARGE",
  overloaded: "OVERLOADED",
  wrong_key: "INTERNAL_SERVER_ERROR",
  corrupt: "INTERNAL_SERVER_ERROR",
  integrity: "INTEGRITY_ERROR",
  unavailable: "SERVICE_UNAVAILABLE",
  internal: "INTERNAL_SERVER_ERROR",
};

/** Codes of failures GraphQL finds itself, before anything runs. */
export const PARSE_FAILED = "GRAPHQL_PARSE_FAILED";
export const VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED";
/** A request GraphQL over HTTP cannot take (malformed JSON, a missing query …). */
export const BAD_REQUEST = "BAD_REQUEST";
/** Variables that do not fit their declared types. */
export const BAD_USER_INPUT = "BAD_USER_INPUT";

/** An error as it goes into `errors[]`. */
export type FormattedError = GraphQLFormattedError;

/**
 * A request-level error (not tied to a field) with a code.
 *
 * @example
 * ```ts
 * requestError("the request body is not valid JSON", "BAD_REQUEST");
 * // { message: "the request body is not valid JSON", extensions: { code: "BAD_REQUEST" } }
 * ```
 */
export function requestError(
  message: string,
  code: string,
  extensions: Record<string, unknown> = {},
): FormattedError {
  return { message, extensions: { code, ...extensions } };
}

/**
 * An API error (or anything thrown) as an `errors[]` entry without a path.
 *
 * @example
 * ```ts
 * import { DbxError } from "../errors.ts";
 * apiError(new DbxError("unauthorized", "the token has expired"));
 * // { message: "the token has expired", extensions: { code: "UNAUTHENTICATED", dbxCode: "unauthorized" } }
 * ```
 */
export function apiError(err: unknown): FormattedError {
  const { code, message, details } = errorData(err);
  if (!(err instanceof DbxError)) logUnexpected(err);
  return { message, extensions: extensionsOf(code, details) };
}

function extensionsOf(
  code: ErrorCode,
  details: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const extensions: Record<string, unknown> = { code: GRAPHQL_CODE[code], dbxCode: code };
  if (code === "overloaded") extensions.retryAfterSeconds = retryAfter(details);
  return extensions;
}

/** Seconds an overloaded server asks the client to wait (at least 1). */
export function retryAfter(details: Record<string, unknown> | undefined): number {
  const after = details?.retry_after_seconds;
  return typeof after === "number" && after > 0 ? after : 1;
}

function logUnexpected(err: unknown): void {
  console.error("error: a GraphQL request failed:", (err as Error)?.stack ?? err);
}

/**
 * A GraphQL error of an executed operation as an `errors[]` entry: API errors get their
 * code from the table, GraphQL's own errors (a null where the schema promises a value) keep
 * their message, anything else becomes a generic internal error.
 *
 * @example
 * ```ts
 * import { GraphQLError } from "graphql";
 * import { DbxError } from "../errors.ts";
 * const err = new GraphQLError("not found", { originalError: new DbxError("not_found", "aggregate a/b not found") });
 * formatExecutionError(err).extensions?.code; // "NOT_FOUND"
 * ```
 */
export function formatExecutionError(err: GraphQLError): FormattedError {
  const original = err.originalError;
  const where: FormattedError = {
    message: err.message,
    ...(err.locations ? { locations: err.locations } : {}),
    ...(err.path ? { path: err.path } : {}),
  };
  if (original === undefined || original === null || original instanceof GraphQLError) {
    const code = err.extensions?.code ?? original?.extensions?.code;
    return {
      ...where,
      extensions: {
        ...err.extensions,
        code: typeof code === "string" ? code : "INTERNAL_SERVER_ERROR",
      },
    };
  }
  const { code, message, details } = errorData(original);
  if (!(original instanceof DbxError)) logUnexpected(original);
  return { ...where, message, extensions: extensionsOf(code, details) };
}

/**
 * The API error code behind a field error, if it has one.
 *
 * @example
 * ```ts
 * import { GraphQLError } from "graphql";
 * import { DbxError } from "../errors.ts";
 * dbxCodeOf(new GraphQLError("x", { originalError: new DbxError("conflict", "version conflict") })); // "conflict"
 * ```
 */
export function dbxCodeOf(err: GraphQLError): ErrorCode | undefined {
  return err.originalError instanceof DbxError ? err.originalError.code : undefined;
}
