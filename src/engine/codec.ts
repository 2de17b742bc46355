/**
 * Stored forms of events, heads and snapshots. Payloads, state and snapshots are
 * sealed with the DEK (the storage key is the associated data); names, versions,
 * hashes and roots stay readable.
 */
import { open, seal, sealedLength, sealInto } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import type { ByteSlab } from "../util/byte_slab.ts";
import { MAX_SCRATCH_BYTES, ScratchBuffer } from "../util/scratch_buffer.ts";
import { parseAggregatePart, PREFIX } from "./keys.ts";
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

/** The plaintext head part of a head value (DbxError "corrupt" when it is not a head). */
export function decodeHead(value: Uint8Array): StoredHead {
  const head = decodeJson<StoredHead>(prefixed(value, "aggregate head").first, "aggregate head");
  if (!isStoredHead(head)) throw new DbxError("corrupt", "stored aggregate head is unreadable");
  return head;
}

/** Whether a parsed head has the shape the writer stores (so readers never meet a TypeError). */
function isStoredHead(head: StoredHead): boolean {
  return head !== null && typeof head === "object" && isCount(head.version) &&
    typeof head.merkle_root === "string" && Array.isArray(head.frontier) &&
    head.frontier.every((node) => typeof node === "string") &&
    typeof head.archived === "boolean" && typeof head.created_at === "string" &&
    typeof head.updated_at === "string" &&
    (head.comment === undefined || head.comment === null || typeof head.comment === "string") &&
    (head.state_version === undefined ||
      (isCount(head.state_version) && head.state_version <= head.version));
}

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
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

/**
 * Parse just the header (no decryption): enough for proofs, listings and replay order.
 * DbxError "corrupt" when it is not an event header.
 */
export function decodeEventHeader(value: Uint8Array): StoredEventHeader {
  const header = decodeJson<StoredEventHeader>(prefixed(value, "event").first, "event");
  if (!isEventHeader(header)) throw new DbxError("corrupt", "stored event is unreadable");
  return header;
}

/** Whether a parsed event header has the shape `decodeEventHeader` accepts. */
export function isEventHeader(h: StoredEventHeader): boolean {
  const m = h?.metadata;
  return h !== null && typeof h === "object" && typeof h.event_type === "string" &&
    m !== null && typeof m === "object" && typeof m.event_id === "string" &&
    typeof m.created_at === "string" && m.issued_by !== undefined &&
    isCount(h.version) && h.version >= 1 && typeof h.hash === "string" &&
    typeof h.merkle_root === "string" && isCount(h.position) && h.position >= 1;
}

/** Decrypt and parse an event's payload. */
export function decodeEventPayload(
  value: Uint8Array,
  key: Uint8Array,
  dek: Uint8Array,
): Record<string, unknown> {
  const payload = openJson<Record<string, unknown>>(
    prefixed(value, "event").rest,
    key,
    dek,
    "event payload",
  );
  if (!isPlainObject(payload)) throw new DbxError("corrupt", "stored event payload is unreadable");
  return payload;
}

/** A JSON object (not an array, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
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

// --- integrity errors ------------------------------------------------------------

/**
 * What a stored record is, from its key: "event patient/p-1 version 7", "snapshot
 * patient/p-1 version 7", "head of patient/p-1" (with `version` when the caller knows it).
 *
 * @example
 * ```ts
 * import { eventKey } from "./keys.ts";
 * recordName(eventKey("patient", "p-1", 7)); // "event patient/p-1 version 7"
 * ```
 */
export function recordName(key: Uint8Array, version?: number): string {
  const { type, id, version: keyed } = parseAggregatePart(key.subarray(1));
  const name = `${type}/${id}`;
  const at = (v: number | undefined) => (v === undefined ? "" : ` version ${v}`);
  switch (key[0]) {
    case PREFIX.event:
      return `event ${name}${at(version ?? keyed)}`;
    case PREFIX.snapshot:
      return `snapshot ${name}${at(version ?? keyed)}`;
    case PREFIX.head:
      return `head of ${name}${at(version)}`;
    default:
      return "record";
  }
}

/**
 * The error a read answers when a stored record cannot be decrypted or read, or does not fit
 * the records around it: code "integrity", naming the aggregate and version, never the data.
 *
 * @example
 * ```ts
 * import { eventKey } from "./keys.ts";
 * const err = integrityError(`the stored ${recordName(eventKey("patient", "p-1", 7))}`);
 * err.code; // "integrity"
 * ```
 */
export function integrityError(
  subject: string,
  problem = UNREADABLE,
  hint = "dbx aggregate verify reports the first bad version",
): DbxError {
  return new DbxError("integrity", `integrity error: ${subject} ${problem} (${hint})`);
}

const UNREADABLE = "cannot be decrypted or read: the stored data was altered or damaged";

/**
 * Run a decode of the record under `key`; a failure to decrypt or parse it (the DEK was
 * checked when the store opened, so the data is at fault) becomes an integrity error
 * naming the record. Other errors pass through.
 *
 * @example
 * ```ts
 * import { eventKey } from "./keys.ts";
 * declare const value: Uint8Array;
 * declare const dek: Uint8Array;
 * const key = eventKey("patient", "p-1", 7);
 * const payload = readRecord(key, () => decodeEventPayload(value, key, dek));
 * ```
 */
export function readRecord<T>(key: Uint8Array, decode: () => T, subject?: () => string): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof DbxError && (err.code === "wrong_key" || err.code === "corrupt")) {
      throw integrityError(subject ? subject() : `the stored ${recordName(key)}`);
    }
    throw err;
  }
}

/**
 * "patient/p-1" for any key of that aggregate.
 *
 * @example
 * ```ts
 * import { headKey } from "./keys.ts";
 * aggregateName(headKey("patient", "p-1")); // "patient/p-1"
 * ```
 */
export function aggregateName(key: Uint8Array): string {
  const { type, id } = parseAggregatePart(key.subarray(1));
  return `${type}/${id}`;
}
