import { canonicalJson } from "../integrity/canonical_json.ts";
import { createHash } from "node:crypto";
import { MAX_SCRATCH_BYTES, ScratchBuffer } from "../util/scratch_buffer.ts";
import type { EventMetadata, EventRecord } from "./types.ts";

/** The part of a record the event hash covers. */
export type HashedRecord = Pick<
  EventRecord,
  "aggregate_type" | "aggregate_id" | "event_type" | "payload" | "metadata" | "version"
>;

/**
 * The event hash (SPEC §2): SHA-256 (hex) of the canonical JSON of the whole
 * record except `hash`, `merkle_root` and `position`, so payload types,
 * timestamps, issued_by and note are all covered.
 *
 * @example
 * ```ts
 * const hash = eventHash({
 *   aggregate_type: "patient",
 *   aggregate_id: "p-001",
 *   event_type: "patient-added",
 *   payload: { name: "Jane" },
 *   metadata: { event_id: "e-1", created_at: "2024-01-01T00:00:00.000Z", issued_by: null },
 *   version: 1,
 * }); // 64 lowercase hex characters
 * ```
 */
export function eventHash(record: HashedRecord): string {
  return hashWithPayload(record, canonicalJson(record.payload));
}

const utf8 = new TextEncoder();
const message = new ScratchBuffer();

/**
 * The event hash given the payload's canonical JSON (text or its UTF-8 bytes).
 * The canonical record is `before || payload || after`: the envelope's keys are
 * fixed, so they are written in their sorted order around the payload. The
 * writer stores exactly this payload text, so verification can hash the
 * decrypted bytes without parsing and re-encoding them.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "../integrity/canonical_json.ts";
 * declare const record: HashedRecord;
 * const { payload, ...envelope } = record;
 * const hash = hashWithPayload(envelope, canonicalJson(payload)); // === eventHash(record)
 * ```
 */
export function hashWithPayload(
  record: Omit<HashedRecord, "payload">,
  payloadJson: string | Uint8Array,
): string {
  const before = `{"aggregate_id":${JSON.stringify(record.aggregate_id)},"aggregate_type":${
    JSON.stringify(record.aggregate_type)
  },"event_type":${JSON.stringify(record.event_type)},"metadata":${
    canonicalMetadata(record.metadata)
  },"payload":`;
  const after = `,"version":${canonicalJson(record.version)}}`;
  // One native hash update of one buffer: each update of a string costs a conversion and a call.
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  const bound = 3 * (before.length + after.length) +
    (typeof payloadJson === "string" ? 3 * payloadJson.length : payloadJson.length);
  if (bound > MAX_SCRATCH_BYTES) {
    return createHash("sha256").update(before).update(payloadJson).update(after).digest("hex");
  }
  const scratch = message.reserve(bound);
  let at = utf8.encodeInto(before, scratch).written;
  if (typeof payloadJson === "string") {
    at += utf8.encodeInto(payloadJson, scratch.subarray(at)).written;
  } else {
    scratch.set(payloadJson, at);
    at += payloadJson.length;
  }
  at += utf8.encodeInto(after, scratch.subarray(at)).written;
  return createHash("sha256").update(scratch.subarray(0, at)).digest("hex");
}

/**
 * `canonicalJson(metadata)` for the shape every writer produces (its keys in
 * sorted order, written directly); anything else takes the general path, so the
 * bytes are the same either way.
 */
function canonicalMetadata(m: EventMetadata): string {
  if (
    m === null || typeof m !== "object" || typeof m.created_at !== "string" ||
    typeof m.event_id !== "string" || (m.note !== undefined && typeof m.note !== "string") ||
    Object.keys(m).length !== (m.note === undefined ? 3 : 4) || !("issued_by" in m)
  ) {
    return canonicalJson(m);
  }
  const issuedBy = m.issued_by === null ? "null" : canonicalJson(m.issued_by);
  const note = m.note === undefined ? "" : `,"note":${JSON.stringify(m.note)}`;
  return `{"created_at":${JSON.stringify(m.created_at)},"event_id":${
    JSON.stringify(m.event_id)
  },"issued_by":${issuedBy}${note}}`;
}
