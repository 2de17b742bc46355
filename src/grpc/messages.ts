/**
 * Between protobuf messages (proto/api.proto) and the API's plain-data inputs and results.
 * What is gRPC's own here is only the spelling: JSON documents as JSON text
 * (`payload_json`, `patch_json`, `state_json`), proto3's empty strings meaning "not given",
 * and page cursors as optional numbers. Every rule (names, sizes, scopes, exactly one of
 * payload and patch …) is the API's.
 */
import type { JsonObject } from "../api/checks.ts";
import type { AggregateRecord, ListedAggregate, VerifyResult } from "../api/operations.ts";
import { DbxError } from "../errors.ts";

/** `AppendEventRequest` as decoded (absent fields stay absent). */
export interface AppendEventMessage {
  aggregate_type?: string;
  aggregate_id?: string;
  event_type?: string;
  payload_json?: string;
  patch_json?: string;
  note?: string;
  expected_version?: number;
  event_id?: string;
}

/** `ListAggregatesRequest` as decoded. */
export interface ListAggregatesMessage {
  skip?: number;
  take?: number;
  aggregate_type?: string;
  include_state?: boolean;
}

/** `GetAggregateRequest` as decoded. */
export interface GetAggregateMessage {
  aggregate_type?: string;
  aggregate_id?: string;
  version?: number;
}

/** `ListEventsRequest` as decoded. */
export interface ListEventsMessage {
  aggregate_type?: string;
  aggregate_id?: string;
  skip?: number;
  take?: number;
}

/** `Aggregate` as sent. */
export interface AggregateMessage {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  /** Absent when the state was not asked for. */
  state_json?: string;
  merkle_root: string;
  archived: boolean;
  created_at: string;
  updated_at: string;
}

/** Set `field` on `into` when the message gave a non-empty text (proto3: "" is "not given"). */
function text(into: JsonObject, field: string, value: string | undefined): void {
  if (value !== undefined && value !== "") into[field] = value;
}

/** JSON text of a `*_json` field, parsed; DbxError "invalid_input" naming the field. */
function json(value: string, field: string, what?: string): unknown {
  try {
    return JSON.parse(value);
  } catch (err) {
    const where = what ? `${what}: ` : "";
    throw new DbxError(
      "invalid_input",
      `${where}${field} is not valid JSON: ${(err as Error).message}`,
    );
  }
}

/**
 * One `AppendEventRequest` as the API's append input.
 *
 * @example
 * ```ts
 * appendInput({ aggregate_type: "patient", aggregate_id: "p-1", event_type: "added", payload_json: '{"name":"Jane"}' });
 * // { aggregate_type: "patient", aggregate_id: "p-1", event_type: "added", payload: { name: "Jane" } }
 * ```
 */
export function appendInput(message: AppendEventMessage, what?: string): JsonObject {
  const input: JsonObject = {};
  text(input, "aggregate_type", message.aggregate_type);
  text(input, "aggregate_id", message.aggregate_id);
  text(input, "event_type", message.event_type);
  if (message.payload_json !== undefined && message.payload_json !== "") {
    input.payload = json(message.payload_json, "payload_json", what);
  }
  if (message.patch_json !== undefined && message.patch_json !== "") {
    input.patch = json(message.patch_json, "patch_json", what);
  }
  text(input, "note", message.note);
  text(input, "event_id", message.event_id);
  if (message.expected_version !== undefined) input.expected_version = message.expected_version;
  return input;
}

/**
 * `ListAggregatesRequest` as the API's input.
 *
 * @example
 * ```ts
 * listAggregatesInput({ take: 5, include_state: true }); // { take: 5, include_state: true }
 * ```
 */
export function listAggregatesInput(message: ListAggregatesMessage): JsonObject {
  const input: JsonObject = {};
  if (message.skip !== undefined) input.skip = message.skip;
  if (message.take !== undefined) input.take = message.take;
  text(input, "aggregate_type", message.aggregate_type);
  if (message.include_state) input.include_state = true;
  return input;
}

/**
 * `GetAggregateRequest` as the API's input.
 *
 * @example
 * ```ts
 * getAggregateInput({ aggregate_type: "patient", aggregate_id: "p-1", version: 2 });
 * ```
 */
export function getAggregateInput(message: GetAggregateMessage): JsonObject {
  const input: JsonObject = {};
  text(input, "aggregate_type", message.aggregate_type);
  text(input, "aggregate_id", message.aggregate_id);
  if (message.version !== undefined) input.version = message.version;
  return input;
}

/**
 * `ListEventsRequest` as the API's input.
 *
 * @example
 * ```ts
 * listEventsInput({ aggregate_type: "patient", aggregate_id: "p-1", take: 10 });
 * ```
 */
export function listEventsInput(message: ListEventsMessage): JsonObject {
  const input: JsonObject = {};
  text(input, "aggregate_type", message.aggregate_type);
  text(input, "aggregate_id", message.aggregate_id);
  if (message.skip !== undefined) input.skip = message.skip;
  if (message.take !== undefined) input.take = message.take;
  return input;
}

/**
 * `VerifyAggregateRequest` (or any request naming one aggregate) as the API's input.
 *
 * @example
 * ```ts
 * aggregateRefInput({ aggregate_type: "patient", aggregate_id: "p-1" });
 * ```
 */
export function aggregateRefInput(
  message: { aggregate_type?: string; aggregate_id?: string },
): JsonObject {
  const input: JsonObject = {};
  text(input, "aggregate_type", message.aggregate_type);
  text(input, "aggregate_id", message.aggregate_id);
  return input;
}

/**
 * An aggregate (with or without its state) as an `Aggregate` message.
 *
 * @example
 * ```ts
 * import type { AggregateRecord } from "../api/operations.ts";
 * declare const record: AggregateRecord;
 * aggregateMessage(record).state_json; // '{"name":"Jane"}'
 * ```
 */
export function aggregateMessage(record: AggregateRecord | ListedAggregate): AggregateMessage {
  const state = (record as { state?: Record<string, unknown> }).state;
  return {
    aggregate_type: record.aggregate_type,
    aggregate_id: record.aggregate_id,
    version: record.version,
    ...(state === undefined ? {} : { state_json: JSON.stringify(state) }),
    merkle_root: record.merkle_root,
    archived: record.archived,
    created_at: record.created_at,
    updated_at: record.updated_at,
  };
}

/**
 * A verification result as a `VerifyAggregateResponse` message.
 *
 * @example
 * ```ts
 * import type { VerifyResult } from "../api/operations.ts";
 * declare const result: VerifyResult;
 * verifyMessage(result).verified; // true
 * ```
 */
export function verifyMessage(result: VerifyResult): JsonObject {
  return {
    aggregate_type: result.aggregate_type,
    aggregate_id: result.aggregate_id,
    version: result.version,
    merkle_root: result.merkle_root,
    verified: result.verified,
    ...(result.first_bad_version === undefined
      ? {}
      : { first_bad_version: result.first_bad_version }),
    ...(result.reason === undefined ? {} : { reason: result.reason }),
  };
}
