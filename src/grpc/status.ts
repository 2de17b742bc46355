/**
 * gRPC status of each API error code: the one table of the gRPC surface (REST has its own
 * in src/http/status.ts). A refused call also carries the EventDBX code in the trailing
 * metadata `dbx-error-code`, so a client can tell e.g. `schema_violation` from
 * `invalid_input`, which share INVALID_ARGUMENT.
 */
import { Metadata, status as Status, type StatusObject } from "@grpc/grpc-js";
import { type ErrorCode, errorData } from "../errors.ts";

/** The status every error code answers with on gRPC. */
export const GRPC_STATUS: Record<ErrorCode, Status> = {
  invalid_input: Status.INVALID_ARGUMENT,
  schema_violation: Status.INVALID_ARGUMENT,
  not_found: Status.NOT_FOUND,
  conflict: Status.ABORTED,
  archived: Status.FAILED_PRECONDITION,
  unauthorized: Status.UNAUTHENTICATED,
  forbidden: Status.PERMISSION_DENIED,
  limit_reached: Status.RESOURCE_EXHAUSTED,
  too_large: Status.RESOURCE_EXHAUSTED,
  overloaded: Status.UNAVAILABLE,
  wrong_key: Status.INTERNAL,
  corrupt: Status.DATA_LOSS,
  integrity: Status.DATA_LOSS,
  unavailable: Status.UNAVAILABLE,
  internal: Status.INTERNAL,
};

/** Trailing metadata key of the EventDBX error code. */
export const ERROR_CODE_KEY = "dbx-error-code";
/** Trailing metadata key of the seconds to wait before retrying an overloaded call. */
export const RETRY_AFTER_KEY = "dbx-retry-after";

/** Statuses that mean the server failed (logged), not the caller. */
const SERVER_FAULTS = new Set<Status>([Status.INTERNAL, Status.DATA_LOSS]);

/**
 * The status a failed call answers with: the API's code mapped by {@link GRPC_STATUS}, its
 * safe message as details (anything but a DbxError is a generic internal error).
 *
 * @example
 * ```ts
 * import { DbxError } from "../errors.ts";
 * const s = grpcStatus(new DbxError("not_found", "aggregate a/b not found"));
 * s.code; // 5 (NOT_FOUND)
 * s.metadata.get("dbx-error-code"); // ["not_found"]
 * ```
 */
export function grpcStatus(err: unknown): StatusObject & { serverFault: boolean } {
  const { code, message, details } = errorData(err);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, code);
  if (code === "overloaded") {
    const after = details?.retry_after_seconds;
    metadata.set(RETRY_AFTER_KEY, String(typeof after === "number" && after > 0 ? after : 1));
  }
  const status = GRPC_STATUS[code];
  return { code: status, details: message, metadata, serverFault: SERVER_FAULTS.has(status) };
}
