import { canonicalJson } from "../integrity/canonical_json.ts";
import { createHash } from "node:crypto";
import type { EventRecord } from "./types.ts";

/**
 * The event hash (SPEC §2): SHA-256 of the canonical JSON of the whole record
 * except `hash`, `merkle_root` and `position`, so payload types, timestamps,
 * issued_by and note are all covered.
 */
export function eventHash(
  record: Pick<
    EventRecord,
    "aggregate_type" | "aggregate_id" | "event_type" | "payload" | "metadata" | "version"
  >,
): string {
  return createHash("sha256").update(canonicalJson({
    aggregate_type: record.aggregate_type,
    aggregate_id: record.aggregate_id,
    event_type: record.event_type,
    payload: record.payload,
    metadata: record.metadata,
    version: record.version,
  })).digest("hex");
}
