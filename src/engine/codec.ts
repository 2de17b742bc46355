/**
 * Stored forms of events, heads and snapshots. Payloads, state and snapshots are
 * sealed with the DEK (the storage key is the associated data); names, versions,
 * hashes and roots stay readable.
 */
import { open, seal, sealedLength, sealInto } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import type { ByteSlab } from "../util/byte_slab.ts";
import { MAX_SCRATCH_BYTES, ScratchBuffer } from "../util/scratch_buffer.ts";
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
  /**
   * Version the sealed state was taken at (absent: `version`). The state is
   * resealed only every few versions; readers fold the events after it.
   */
  state_version?: number;
}

/** What an aggregate listing or read shows of a head. */
export type HeadSummary = Pick<
  StoredHead,
  "version" | "merkle_root" | "archived" | "created_at" | "updated_at"
>;

/**
 * Head value: u32 length || head JSON (plaintext) || sealed state (empty for the
 * empty state at version 0). One value, so an append touches one key per
 * aggregate, and listings read the head without decrypting the state.
 */
export function encodeHeadValue(
  head: StoredHead,
  sealedState: Uint8Array,
  slab?: ByteSlab,
): Uint8Array {
  return withLengthPrefix(utf8(JSON.stringify(head), 0), sealedState, slab);
}

/** The plaintext head part of a head value. */
export function decodeHead(value: Uint8Array): StoredHead {
  return decodeJson<StoredHead>(prefixed(value, "aggregate head").first, "aggregate head");
}

/** The sealed state bytes of a head value, as stored. */
export function sealedHeadState(value: Uint8Array): Uint8Array {
  return prefixed(value, "aggregate head").rest;
}

/** Replace the plaintext head part of a head value, keeping its sealed state. */
export function replaceHead(value: Uint8Array, head: StoredHead): Uint8Array {
  return withLengthPrefix(enc.encode(JSON.stringify(head)), sealedHeadState(value));
}

/** Seal a state for a head value (the head key is the associated data). */
export function sealHeadState(
  state: Record<string, unknown>,
  key: Uint8Array,
  dek: Uint8Array,
): Uint8Array {
  return sealJson(state, key, dek);
}

/** Open sealed head state bytes; empty bytes are the empty state. */
export function openHeadState(
  sealed: Uint8Array,
  key: Uint8Array,
  dek: Uint8Array,
): Record<string, unknown> {
  return sealed.length === 0 ? {} : openJson(sealed, key, dek, "aggregate state");
}

/**
 * Position run value: the events committed by one synced write, in position
 * order, as length-prefixed `<type>\0<id>\0<version>` parts. Positions in a write
 * are contiguous, so one entry (keyed by the first position) indexes them all.
 */
export function encodePositionRun(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += 2 + p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out[at] = p.length >>> 8;
    out[at + 1] = p.length & 0xff;
    out.set(p, at + 2);
    at += 2 + p.length;
  }
  return out;
}

export function decodePositionRun(value: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < value.length) {
    if (at + 2 > value.length) throw new DbxError("corrupt", "the global event index is damaged");
    const length = (value[at] << 8) | value[at + 1];
    if (at + 2 + length > value.length) {
      throw new DbxError("corrupt", "the global event index is damaged");
    }
    out.push(value.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return out;
}

function withLengthPrefix(first: Uint8Array, rest: Uint8Array, slab?: ByteSlab): Uint8Array {
  const out = lengthPrefixed(first, rest.length, slab);
  out.set(rest, 4 + first.length);
  return out;
}

/**
 * A value `u32 length || first || <restLength bytes>` (from the slab, if given)
 * with the length and `first` written; the caller fills in the rest.
 */
function lengthPrefixed(first: Uint8Array, restLength: number, slab?: ByteSlab): Uint8Array {
  const length = 4 + first.length + restLength;
  const out = slab ? slab.take(length) : new Uint8Array(length);
  out[0] = first.length >>> 24;
  out[1] = (first.length >>> 16) & 0xff;
  out[2] = (first.length >>> 8) & 0xff;
  out[3] = first.length & 0xff;
  out.set(first, 4);
  return out;
}

/** Two buffers: an event's header and payload text are both in use at once. */
const scratch = [new ScratchBuffer(8192), new ScratchBuffer(8192)];

/**
 * UTF-8 of `text`, in reused scratch buffer `slot` when it is short: valid
 * only until the next call with the same slot (callers copy it out at once).
 */
function utf8(text: string, slot: 0 | 1): Uint8Array {
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  if (text.length * 3 > MAX_SCRATCH_BYTES) return enc.encode(text);
  const buffer = scratch[slot].reserve(text.length * 3);
  return buffer.subarray(0, enc.encodeInto(text, buffer).written);
}

function prefixed(value: Uint8Array, what: string): { first: Uint8Array; rest: Uint8Array } {
  if (value.length < 4) throw new DbxError("corrupt", `stored ${what} is unreadable`);
  const length = new DataView(value.buffer, value.byteOffset, value.length).getUint32(0);
  if (4 + length > value.length) throw new DbxError("corrupt", `stored ${what} is unreadable`);
  return { first: value.subarray(4, 4 + length), rest: value.subarray(4 + length) };
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

/**
 * Event value: u32 header length || header JSON || sealed payload JSON. The
 * writer passes the payload's canonical JSON (the text it hashed), so a verify
 * can hash the decrypted bytes as they are, and a slab for the value (see
 * ByteSlab: the value must not outlive its write).
 */
export function encodeEvent(
  record: EventRecord,
  key: Uint8Array,
  dek: Uint8Array,
  payloadJson: string = JSON.stringify(record.payload),
  slab?: ByteSlab,
): Uint8Array {
  const header: StoredEventHeader = {
    event_type: record.event_type,
    metadata: record.metadata,
    version: record.version,
    hash: record.hash,
    merkle_root: record.merkle_root,
    position: record.position,
  };
  const json = utf8(JSON.stringify(header), 0);
  const plaintext = utf8(payloadJson, 1);
  const out = lengthPrefixed(json, sealedLength(plaintext.length), slab);
  sealInto(dek, plaintext, key, out, 4 + json.length);
  return out;
}

/** Parse just the header (no decryption): enough for proofs, listings and replay order. */
export function decodeEventHeader(value: Uint8Array): StoredEventHeader {
  return decodeJson<StoredEventHeader>(prefixed(value, "event").first, "event");
}

/** Decrypt and parse an event's payload. */
export function decodeEventPayload(
  value: Uint8Array,
  key: Uint8Array,
  dek: Uint8Array,
): Record<string, unknown> {
  return openJson(prefixed(value, "event").rest, key, dek, "event payload");
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
