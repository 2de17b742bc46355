/**
 * The current state of an aggregate from its head value. The head holds the
 * state sealed at `state_version`; the writer reseals it only every
 * STATE_SEAL_INTERVAL versions (sealing is a large part of a single append's
 * cost), so the few events after it are folded in on read.
 */
import type { Storage } from "../store/storage.ts";
import {
  aggregateName,
  decodeEventPayload,
  integrityError,
  isPlainObject,
  openHeadState,
  readRecord,
  recordName,
  sealedHeadState,
  type StoredHead,
} from "./codec.ts";
import { partKeys } from "./keys.ts";
import { foldPayload } from "./state.ts";

/** At most this many events are folded on read; at that distance the writer reseals. */
export const STATE_SEAL_INTERVAL = 8;

/** Version the sealed state of a head was taken at. */
export function stateVersion(head: StoredHead): number {
  return head.state_version ?? head.version;
}

/**
 * The state at the head's version: the sealed state plus the events after it. A sealed
 * state that cannot be opened, or an event after it that is missing or unreadable, is a
 * DbxError "integrity" naming the aggregate and version.
 *
 * @example
 * ```ts
 * import type { Storage } from "../store/storage.ts";
 * import { decodeHead } from "./codec.ts";
 * import { aggregatePart, headKey } from "./keys.ts";
 * declare const storage: Storage;
 * declare const dek: Uint8Array;
 * const value = await storage.get(headKey("patient", "p-001"));
 * if (value) {
 *   const part = aggregatePart("patient", "p-001");
 *   const state = await headState(storage, dek, part, value, decodeHead(value));
 * }
 * ```
 */
export async function headState(
  storage: Storage,
  dek: Uint8Array,
  part: Uint8Array,
  value: Uint8Array,
  head: StoredHead,
): Promise<Record<string, unknown>> {
  const key = partKeys.head(part);
  const sealedAt = stateVersion(head);
  const subject = () =>
    `the aggregate state of ${aggregateName(key)} version ${sealedAt} stored in its head`;
  let state = readRecord(key, () => openHeadState(sealedHeadState(value), key, dek), subject);
  if (!isPlainObject(state)) throw integrityError(subject(), "is not an object");
  const from = sealedAt + 1;
  if (from > head.version) return state;
  // At most a few keys, known in advance: one batched read, not an iterator.
  const keys: Uint8Array[] = [];
  for (let v = from; v <= head.version; v++) keys.push(partKeys.event(part, v));
  const events = await storage.getMany(keys);
  for (let i = 0; i < keys.length; i++) {
    const event = events[i];
    if (!event) {
      throw integrityError(
        `the stored ${recordName(keys[i])}`,
        "is missing (the aggregate's current state needs it)",
      );
    }
    state = foldPayload(state, readRecord(keys[i], () => decodeEventPayload(event, keys[i], dek)));
  }
  return state;
}
