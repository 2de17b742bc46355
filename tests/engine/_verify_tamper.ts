/**
 * Tampering with a store through its raw storage, as an attacker who holds the files (and,
 * where said, the DEK) would: for the verify coverage suites (engine, CLI, REST).
 */
import {
  decodeEventHeader,
  decodeEventPayload,
  decodeHead,
  decodePositionRun,
  encodeHeadValue,
  encodePositionRun,
  openHeadState,
  openJson,
  sealedHeadState,
  sealHeadState,
  sealJson,
  type StoredHead,
} from "../../src/engine/codec.ts";
import {
  aggregatePart,
  eventKey,
  headKey,
  metaKey,
  positionKey,
  readU64,
  snapshotKey,
  writeU64,
} from "../../src/engine/keys.ts";
import { foldPayload } from "../../src/engine/state.ts";
import { appendLeaf, emptyFrontier, leafHash } from "../../src/integrity/merkle.ts";
import { fromHex, toHex } from "../../src/integrity/sha256.ts";
import type { Storage } from "../../src/store/storage.ts";
import { assert } from "../_helpers/assert.ts";

async function put(storage: Storage, key: Uint8Array, value: Uint8Array): Promise<void> {
  await storage.write([{ type: "put", key, value }], { sync: true });
}

async function must(storage: Storage, key: Uint8Array, what: string): Promise<Uint8Array> {
  const value = await storage.get(key);
  assert(value, `${what} is missing before tampering`);
  return Uint8Array.from(value);
}

/** The stored head of an aggregate. */
export async function readHead(
  storage: Storage,
  type: string,
  id: string,
): Promise<{ value: Uint8Array; head: StoredHead }> {
  const value = await must(storage, headKey(type, id), `the head of ${type}/${id}`);
  return { value, head: decodeHead(value) };
}

/** The version the head's sealed state was taken at. */
export async function sealedAt(storage: Storage, type: string, id: string): Promise<number> {
  const { head } = await readHead(storage, type, id);
  return head.state_version ?? head.version;
}

/** Flip one byte of the sealed state in an aggregate's head (its authentication tag). */
export async function flipHeadState(storage: Storage, type: string, id: string): Promise<void> {
  const { value } = await readHead(storage, type, id);
  assert(sealedHeadState(value).length > 0, "the head holds no sealed state (fewer than 8 events)");
  value[value.length - 1] ^= 0x01;
  await put(storage, headKey(type, id), value);
}

/** Re-seal the head's state with the DEK, with `extra` fields injected. */
export async function resealHeadState(
  storage: Storage,
  dek: Uint8Array,
  type: string,
  id: string,
  extra: Record<string, unknown>,
): Promise<void> {
  const key = headKey(type, id);
  const { value, head } = await readHead(storage, type, id);
  const state = openHeadState(sealedHeadState(value), key, dek);
  await put(storage, key, encodeHeadValue(head, sealHeadState({ ...state, ...extra }, key, dek)));
}

/**
 * Remove the last event and rewind the head consistently to the version before it: version,
 * root, Merkle frontier, updated_at and (resealed with the DEK when needed) the state. Only
 * the global position index still names the removed event.
 */
export async function rewindLastEvent(
  storage: Storage,
  dek: Uint8Array,
  type: string,
  id: string,
): Promise<{ removed: number; root: string }> {
  const key = headKey(type, id);
  const { value, head } = await readHead(storage, type, id);
  const last = head.version;
  const kept = last - 1;
  assert(kept >= 1, "the aggregate needs two events");
  let frontier = emptyFrontier();
  let state: Record<string, unknown> = {};
  let previous = decodeEventHeader(await must(storage, eventKey(type, id, 1), "event 1"));
  for (let v = 1; v <= kept; v++) {
    const eKey = eventKey(type, id, v);
    const event = await must(storage, eKey, `event ${v}`);
    previous = decodeEventHeader(event);
    frontier = appendLeaf(frontier, leafHash(fromHex(previous.hash)));
    state = foldPayload(state, decodeEventPayload(event, eKey, dek));
  }
  const rewound: StoredHead = {
    ...head,
    version: kept,
    merkle_root: previous.merkle_root,
    frontier: frontier.nodes.map(toHex),
    updated_at: previous.metadata.created_at,
  };
  const at = head.state_version ?? head.version;
  let sealed = sealedHeadState(value);
  if (at > kept) {
    delete rewound.state_version;
    sealed = sealHeadState(state, key, dek);
  }
  await storage.write([
    { type: "del", key: eventKey(type, id, last) },
    { type: "del", key: snapshotKey(type, id, last) },
    { type: "put", key, value: encodeHeadValue(rewound, sealed) },
  ], { sync: true });
  return { removed: last, root: previous.merkle_root };
}

/** Re-seal the snapshot at `version` with the DEK, its state changed by `edit`. */
export async function resealSnapshot(
  storage: Storage,
  dek: Uint8Array,
  type: string,
  id: string,
  version: number,
  edit: (state: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const key = snapshotKey(type, id, version);
  const snap = openJson<{ state: Record<string, unknown> }>(
    await must(storage, key, `the snapshot at ${version}`),
    key,
    dek,
    "snapshot",
  );
  await put(storage, key, sealJson({ ...snap, state: edit(snap.state) }, key, dek));
}

/** Flip one byte of the sealed snapshot at `version`. */
export async function flipSnapshot(
  storage: Storage,
  type: string,
  id: string,
  version: number,
): Promise<void> {
  const key = snapshotKey(type, id, version);
  const value = await must(storage, key, `the snapshot at ${version}`);
  value[value.length - 5] ^= 0x10;
  await put(storage, key, value);
}

/** The position stored with an event. */
export async function positionOf(
  storage: Storage,
  type: string,
  id: string,
  version: number,
): Promise<number> {
  return decodeEventHeader(await must(storage, eventKey(type, id, version), `event ${version}`))
    .position;
}

/**
 * Delete the index record holding event `version` (it must hold that event alone, as single
 * appends write them): a gap in the global position index.
 */
export async function removeIndexRecordOf(
  storage: Storage,
  type: string,
  id: string,
  version: number,
): Promise<number> {
  const position = await positionOf(storage, type, id, version);
  const record = await must(storage, positionKey(position), `the index record at ${position}`);
  assert(decodePositionRun(record).length === 1, "the record holds more than one event");
  await storage.write([{ type: "del", key: positionKey(position) }], { sync: true });
  return position;
}

/** The store's recorded last position. */
export async function lastPosition(storage: Storage): Promise<number> {
  const value = await storage.get(metaKey("position"));
  return value ? readU64(value) : 0;
}

/**
 * Add an index record after the store's last position naming `version` of an aggregate,
 * which does not exist (a dangling entry). Returns its position.
 */
export async function addDanglingEntry(
  storage: Storage,
  type: string,
  id: string,
  version: number,
): Promise<number> {
  const position = (await lastPosition(storage)) + 1;
  const part = aggregatePart(type, id);
  const entry = new Uint8Array(part.length + 9);
  entry.set(part);
  writeU64(entry, part.length + 1, version);
  await put(storage, positionKey(position), encodePositionRun([entry]));
  return position;
}

/** Rewrite the position in an event's header (the hash does not cover it). */
export async function setEventPosition(
  storage: Storage,
  type: string,
  id: string,
  version: number,
  position: number,
): Promise<void> {
  const key = eventKey(type, id, version);
  const value = await must(storage, key, `event ${version}`);
  const length = new DataView(value.buffer, value.byteOffset).getUint32(0);
  const header = new TextDecoder().decode(value.subarray(4, 4 + length));
  const edited = new TextEncoder().encode(
    header.replace(/"position":\d+/, `"position":${position}`),
  );
  const out = new Uint8Array(4 + edited.length + value.length - 4 - length);
  new DataView(out.buffer).setUint32(0, edited.length);
  out.set(edited, 4);
  out.set(value.subarray(4 + length), 4 + edited.length);
  await put(storage, key, out);
}
