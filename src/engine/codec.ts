/**
 * Stored forms of events, heads and snapshots. Payloads, state and snapshots are
 * sealed with the DEK (the storage key is the associated data); names, versions,
 * hashes and roots stay readable.
 */
import { Buffer } from "node:buffer";
import { open, seal } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import type { EventMetadata, EventRecord } from "./types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What the head key holds: everything needed to append without reading old events. */
export interface StoredHead {
  version: number;
  merkle_root: string;
  /** Right-edge frontier of the Merkle tree, hex, largest subtree first. */
  frontier: string[];
  archived: boolean;
  created_at: string;
  updated_at: string;
  /** Last archive/restore comment, kept for the audit trail. */
  comment?: string;
}

/** The readable header of a stored event. */
export interface StoredEventHeader {
  event_type: string;
  metadata: EventMetadata;
  version: number;
  hash: string;
  merkle_root: string;
  position: number;
}

/** Event value: u32 header length || header JSON || sealed payload JSON. */
export function encodeEvent(record: EventRecord, key: Uint8Array, dek: Uint8Array): Uint8Array {
  const header: StoredEventHeader = {
    event_type: record.event_type,
    metadata: record.metadata,
    version: record.version,
    hash: record.hash,
    merkle_root: record.merkle_root,
    position: record.position,
  };
  const headerBytes = enc.encode(JSON.stringify(header));
  const sealed = seal(dek, enc.encode(JSON.stringify(record.payload)), key);
  const out = Buffer.allocUnsafe(4 + headerBytes.length + sealed.length);
  out.writeUInt32BE(headerBytes.length, 0);
  out.set(headerBytes, 4);
  out.set(sealed, 4 + headerBytes.length);
  return out;
}

/** Parse just the header (no decryption): enough for proofs, listings and replay order. */
export function decodeEventHeader(value: Uint8Array): StoredEventHeader {
  try {
    const length = new DataView(value.buffer, value.byteOffset, value.length).getUint32(0);
    return JSON.parse(dec.decode(value.subarray(4, 4 + length))) as StoredEventHeader;
  } catch {
    throw new DbxError("corrupt", "a stored event is unreadable");
  }
}

/** Decrypt and parse an event's payload. */
export function decodeEventPayload(
  value: Uint8Array,
  key: Uint8Array,
  dek: Uint8Array,
): Record<string, unknown> {
  const length = new DataView(value.buffer, value.byteOffset, value.length).getUint32(0);
  const plain = open(dek, value.subarray(4 + length), key);
  return JSON.parse(dec.decode(plain)) as Record<string, unknown>;
}

export function decodeEvent(
  type: string,
  id: string,
  value: Uint8Array,
  key: Uint8Array,
  dek: Uint8Array,
): EventRecord {
  const header = decodeEventHeader(value);
  return {
    aggregate_type: type,
    aggregate_id: id,
    event_type: header.event_type,
    payload: decodeEventPayload(value, key, dek),
    metadata: header.metadata,
    version: header.version,
    hash: header.hash,
    merkle_root: header.merkle_root,
    position: header.position,
  };
}

export function encodeJson(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

export function decodeJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(dec.decode(bytes)) as T;
  } catch {
    throw new DbxError("corrupt", `stored ${what} is unreadable`);
  }
}

export function sealJson(value: unknown, key: Uint8Array, dek: Uint8Array): Uint8Array {
  return seal(dek, encodeJson(value), key);
}

export function openJson<T>(bytes: Uint8Array, key: Uint8Array, dek: Uint8Array, what: string): T {
  return decodeJson<T>(open(dek, bytes, key), what);
}
