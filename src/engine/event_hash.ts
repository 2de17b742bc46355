import { canonicalJson } from "../integrity/canonical_json.ts";
import { createHash } from "node:crypto";
import type { EventRecord } from "./types.ts";

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
 * const hash = eventHash(record); // 64 lowercase hex characters
 * ```
 */
export function eventHash(record: HashedRecord): string {
  return hashWithPayload(record, canonicalJson(record.payload));
}

/**
 * The event hash given the payload's canonical JSON (text or its UTF-8 bytes).
 * The canonical record is `before || payload || after`: the envelope's keys are
 * fixed, so they are written in their sorted order around the payload. The
 * writer stores exactly this payload text, so verification can hash the
 * decrypted bytes without parsing and re-encoding them.
 *
 * @example
 * ```ts
 * const json = canonicalJson(payload);
 * const hash = hashWithPayload(record, json); // === eventHash({ ...record, payload })
 * ```
 */
export function hashWithPayload(
  record: Omit<HashedRecord, "payload">,
  payloadJson: string | Uint8Array,
): string {
  return createHash("sha256")
    .update(
      `{"aggregate_id":${canonicalJson(record.aggregate_id)},"aggregate_type":${
        canonicalJson(record.aggregate_type)
      },"event_type":${canonicalJson(record.event_type)},"metadata":${
        canonicalJson(record.metadata)
      },"payload":`,
    )
    .update(payloadJson)
    .update(`,"version":${canonicalJson(record.version)}}`)
    .digest("hex");
}
