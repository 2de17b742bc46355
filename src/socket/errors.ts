/**
 * The socket's answer to every failure: a `ControlError{code, message}` with the codes the
 * official client SDKs know (upstream's `control_error_code`), mapped from the API's
 * DbxError codes in this one table. Messages are the API's (never secrets); anything
 * unexpected becomes a generic message.
 */
import { type ErrorCode, errorData } from "../errors.ts";

/** The control protocol's error codes for each API error code. */
const CONTROL_CODES: Record<ErrorCode, string> = {
  invalid_input: "invalid_schema", // upstream reports a malformed request as an invalid schema
  schema_violation: "schema_violation",
  not_found: "aggregate_not_found",
  // Upstream answers a create of an existing aggregate with a schema violation
  // ("… already exists"); clients match that message.
  conflict: "schema_violation",
  archived: "aggregate_archived",
  unauthorized: "invalid_token",
  forbidden: "unauthorized",
  limit_reached: "token_limit_reached",
  too_large: "invalid_schema",
  overloaded: "overloaded",
  wrong_key: "config",
  corrupt: "storage",
  integrity: "storage",
  unavailable: "io",
  internal: "io",
};

/**
 * The control error for a thrown value.
 *
 * @example
 * ```ts
 * import { DbxError } from "../errors.ts";
 * controlError(new DbxError("not_found", "aggregate order/o-1 not found"));
 * // { code: "aggregate_not_found", message: "aggregate order/o-1 not found" }
 * ```
 */
export function controlError(err: unknown): { code: string; message: string } {
  const { code, message, details } = errorData(err);
  const reason = details?.reason;
  if (code === "unauthorized" && reason === "expired") return { code: "token_expired", message };
  if (code === "invalid_input" && reason === "invalid_cursor") {
    return { code: "invalid_cursor", message };
  }
  if (code === "invalid_input" && reason === "malformed") return { code: "serialization", message };
  if (code === "invalid_input" && reason === "unsupported") return { code: "unsupported", message };
  return { code: CONTROL_CODES[code], message };
}
