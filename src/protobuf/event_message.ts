/**
 * The protobuf shape of a committed event, `eventdbx.api.Event` (proto/api.proto): what the
 * gRPC surface answers and what a grpc plugin receives. It sits below both so that neither
 * imports the other.
 */
import type { EventRecord } from "../engine/types.ts";

/** `eventdbx.api.Event` as sent: the EventRecord, its payload as JSON text. */
export interface EventMessage {
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload_json: string;
  metadata: {
    event_id: string;
    created_at: string;
    issued_by?: { group: string; user: string };
    note?: string;
  };
  version: number;
  hash: string;
  merkle_root: string;
  position: number;
}

/**
 * A committed event as an `Event` message (absent metadata stays absent).
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../engine/types.ts";
 * declare const record: EventRecord;
 * eventMessage(record).payload_json; // '{"name":"Jane"}'
 * ```
 */
export function eventMessage(record: EventRecord): EventMessage {
  const { metadata } = record;
  return {
    aggregate_type: record.aggregate_type,
    aggregate_id: record.aggregate_id,
    event_type: record.event_type,
    payload_json: JSON.stringify(record.payload),
    metadata: {
      event_id: metadata.event_id,
      created_at: metadata.created_at,
      ...(metadata.issued_by ? { issued_by: metadata.issued_by } : {}),
      ...(metadata.note === undefined ? {} : { note: metadata.note }),
    },
    version: record.version,
    hash: record.hash,
    merkle_root: record.merkle_root,
    position: record.position,
  };
}
