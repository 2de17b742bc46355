import { canonicalJson } from "../integrity/canonical_json.ts";
import { createHash } from "node:crypto";
import type { EventRecord } from "./types.ts";

/** The part of a record the event hash covers. */
export type HashedRecord = Pick<
  EventRecord,
  "aggregate_type" | "aggregate_id" | "event_type" | "payload" | "metadata" | "version"
>;

/**
 * The event hash (SPEC §2) as bytes: SHA-256 of the canonical JSON of the whole
 * record except `hash`, `merkle_root` and `position`, so payload types,
 * timestamps, issued_by and note are all covered. Bytes, because the Merkle leaf
 * is built from them: no hex round trip on the write path.
 *
 * @example
 * ```ts
 * const leaf = leafHash(eventHashBytes(record));
 * ```
 */
export function eventHashBytes(record: HashedRecord): Uint8Array {
  const digest = createHash("sha256").update(canonicalRecord(record)).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/** The event hash as stored and shown: lowercase hex of {@link eventHashBytes}. */
export function eventHash(record: HashedRecord): string {
  return createHash("sha256").update(canonicalRecord(record)).digest("hex");
}

/**
 * canonicalJson of the six hashed fields. The envelope's keys are fixed, so they
 * are written in their sorted order directly; only metadata and payload go
 * through the general encoder. Equal to canonicalJson({...those six fields}).
 */
function canonicalRecord(r: HashedRecord): string {
  return `{"aggregate_id":${canonicalJson(r.aggregate_id)},"aggregate_type":${
    canonicalJson(r.aggregate_type)
  },"event_type":${canonicalJson(r.event_type)},"metadata":${canonicalJson(r.metadata)},"payload":${
    canonicalJson(r.payload)
  },"version":${canonicalJson(r.version)}}`;
}
