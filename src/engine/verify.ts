/**
 * Full verification of one aggregate: every event is re-read, decrypted and re-hashed,
 * every stored Merkle root is recomputed, the state is rebuilt from the events and compared
 * with the head's and every snapshot's, and the global position index is cross-checked; the
 * first version that does not match is reported.
 *
 * Per event, in one pass in version order (the first failing check names the version):
 * 1. its key holds the next version (nothing missing or reordered);
 * 2. its header parses and its payload decrypts (the key is the associated data);
 * 3. the header's version is the key's version;
 * 4. the canonical event hash matches the stored hash;
 * 5. the Merkle root over events 1..v matches the root stored with event v;
 * 6. the global position index names this event at the position stored with it;
 * and its payload is folded into the state rebuilt so far.
 *
 * Then, against the head (version V, read first):
 * - the events number V and their root and Merkle frontier are the head's; no event,
 *   snapshot or index entry names a version beyond V (one written while the verify ran, and
 *   so within the head read again, is not a problem);
 * - the state sealed in the head (at its `state_version`) and every snapshot decrypt and equal
 *   the state rebuilt from the events at their versions;
 * - the head's `created_at` is its first event's.
 * Every finding has a version; the smallest is the `first_bad_version` (at equal versions
 * the event checks come first).
 *
 * Large aggregates spread checks 2–5 and the payload folds (decryption, JSON parsing,
 * canonical hashing, Merkle roots: nearly all the CPU) over Web Workers, while this thread
 * reads the store in key order, runs checks 1 and 6, chains the Merkle leaves and composes
 * the folds (the sequential parts). Results are decided strictly in version order, so the
 * outcome is exactly that of one pass.
 */
import { open } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import { EMPTY_ROOT, leafHash } from "../integrity/merkle.ts";
import { hashHexInto, toHex } from "../integrity/sha256.ts";
import { sha256Node } from "../integrity/sha256_small.ts";
import type { Storage } from "../store/storage.ts";
import {
  decodeEventHeader,
  isEventHeader,
  isPlainObject,
  openHeadState,
  openJson,
  sealedHeadState,
  type StoredEventHeader,
  type StoredHead,
} from "./codec.ts";
import { eventHash, type HashedRecord, hashWithPayload } from "./event_hash.ts";
import { stateVersion } from "./head_state.ts";
import {
  aggregatePart,
  eventRange,
  parseAggregatePart,
  partKeys,
  prefixEnd,
  readU64,
  snapshotRange,
  writeU64,
} from "./keys.ts";
import { foldPayload } from "./state.ts";
import type { VerifyResult } from "./types.ts";
import { entriesAbove, type IndexRuns, IndexTail, PositionCursor } from "./verify_index.ts";

/** Tuning knobs; the defaults suit production. */
export interface VerifyOptions {
  /** Use worker threads when the aggregate has more events than this. */
  parallelAbove?: number;
  /** How many workers (default: one per core, at least 1, at most 4). */
  workers?: number;
  /** The worker module (tests substitute a faulty one). */
  workerUrl?: string | URL;
  /** Fail rather than verify on this thread when workers cannot start (tests). */
  requireWorkers?: boolean;
  /** The stored head value the head was decoded from (default: read again). */
  headValue?: Uint8Array;
  /**
   * A summary of the global position index kept between verifies, with the index records
   * they read (an engine keeps one: a whole-store verify then reads the index about once).
   */
  indexTail?: IndexTail;
}

/**
 * Aggregates above this many events are verified on workers. Starting workers
 * and warming up their JIT costs about as much as verifying ~15k events on one
 * thread, so below this the single-threaded pass is as fast or faster.
 */
export const PARALLEL_ABOVE = 20_000;
/** Events per message to a worker: large enough to amortise messaging, small enough to pipeline. */
const CHUNK_EVENTS = 512;
/** Chunks queued per worker before reading pauses (bounds memory). */
const IN_FLIGHT_PER_WORKER = 3;
const HASH_BYTES = 32;
const utf8 = new TextDecoder();

/** Where and why verification stopped. */
interface Failure {
  version: number;
  reason: string;
}

const reasons = {
  missing: (v: number) => `event ${v} is missing`,
  unreadable: (v: number) => `event ${v} cannot be read or decrypted (altered data)`,
  wrongVersion: (v: number, stored: unknown) => `event ${v} is stored as version ${stored}`,
  hash: (v: number) => `event ${v} does not match its hash`,
  root: (v: number) => `the Merkle root stored with event ${v} does not match`,
  count: (version: number, count: number) =>
    `the aggregate has version ${version} but ${count} events`,
  headRoot: "the aggregate's Merkle root does not match its events",
  frontier: "the Merkle frontier stored in the aggregate's head does not match its events",
  headUnreadable: "the aggregate's head cannot be read (altered data)",
  createdAt: "the aggregate's created_at is not its first event's",
  eventBeyond: (w: number, v: number) =>
    `event ${w} is stored beyond the aggregate's head (version ${v})`,
  indexBeyond: (w: number, at: number, v: number) =>
    `the global position index names version ${w} at position ${at}, beyond the aggregate's ` +
    `head (version ${v})`,
  stateUnreadable: (at: number) =>
    `the aggregate state stored in its head (at version ${at}) cannot be decrypted or read ` +
    "(altered data)",
  stateVersion: (at: unknown) => `the aggregate's head holds its state at version ${at}`,
  state: (at: number) =>
    `the aggregate state stored in its head (at version ${at}) does not match the state ` +
    "rebuilt from the events",
  snapshotUnreadable: (at: number) =>
    `the snapshot at version ${at} cannot be decrypted or read (altered data)`,
  snapshotKey: "a snapshot is stored under a malformed key",
  eventId: (v: number) =>
    `an idempotency entry names event ${v}, which does not carry its event id (a retry ` +
    "would return the wrong event)",
  eventIdBeyond: (w: number, v: number) =>
    `an idempotency entry names version ${w}, beyond the aggregate's head (version ${v})`,
  eventIdUnreadable: "an idempotency entry of the aggregate is unreadable",
  snapshotBeyond: (at: number, v: number) =>
    `a snapshot is stored at version ${at}, beyond the aggregate's head (version ${v})`,
  snapshot: (at: number) =>
    `the snapshot at version ${at} does not match the state rebuilt from the events`,
};

/**
 * The earliest finding. At equal versions the pass over the events (`first`) wins, then the
 * one reported first.
 */
class Findings {
  best: Failure | undefined;
  #first = false;

  add(version: number, reason: string, first = false): void {
    const best = this.best;
    if (!best || version < best.version || (version === best.version && first && !this.#first)) {
      this.best = { version, reason };
      this.#first = first;
    }
  }
}

/**
 * The states the events are compared with, as the pass reaches their versions: the state
 * sealed in the head and each snapshot (read then, one at a time: a long history may hold
 * many). A pass `offer`s the state it rebuilt at each mark; `settle` compares what was
 * offered (it awaits snapshot reads, so passes call it from their loops).
 */
class StateChecks {
  /** Versions at which a state is wanted, ascending. */
  readonly marks: number[];
  readonly #storage: Storage;
  readonly #dek: Uint8Array;
  readonly #part: Uint8Array;
  readonly #findings: Findings;
  readonly #sealed: { at: number; state: Record<string, unknown> } | undefined;
  readonly #snapshots: Set<number>;
  #offered: [number, Record<string, unknown>][] = [];

  constructor(
    storage: Storage,
    dek: Uint8Array,
    part: Uint8Array,
    findings: Findings,
    sealed: { at: number; state: Record<string, unknown> } | undefined,
    snapshots: readonly number[],
    last: number | undefined,
  ) {
    this.#storage = storage;
    this.#dek = dek;
    this.#part = part;
    this.#findings = findings;
    this.#sealed = sealed;
    this.#snapshots = new Set(snapshots.filter((v) => v <= (last ?? Infinity)));
    const marks = new Set(this.#snapshots);
    if (sealed) marks.add(sealed.at);
    this.marks = [...marks].sort((a, b) => a - b);
  }

  /** The last version a state is wanted at (0: none). */
  get lastMark(): number {
    return this.marks.length === 0 ? 0 : this.marks[this.marks.length - 1];
  }

  /** The state rebuilt from events 1..`version` (normalized), for comparison. */
  offer(version: number, state: Record<string, unknown>): void {
    this.#offered.push([version, state]);
  }

  async settle(): Promise<void> {
    for (const [version, state] of this.#offered.splice(0)) {
      const sealed = this.#sealed;
      if (sealed && sealed.at === version && !sameJson(state, sealed.state)) {
        this.#findings.add(Math.max(1, version), reasons.state(version));
      }
      if (this.#snapshots.has(version)) await this.#snapshot(version, state);
    }
  }

  async #snapshot(version: number, rebuilt: Record<string, unknown>): Promise<void> {
    const key = partKeys.snapshot(this.#part, version);
    const value = await this.#storage.get(key);
    if (!value) return; // gone meanwhile: never, but nothing to compare
    let state: unknown;
    try {
      state = openJson<{ state?: unknown }>(value, key, this.#dek, "snapshot")?.state;
    } catch {
      state = undefined;
    }
    if (!isPlainObject(state)) {
      this.#findings.add(Math.max(1, version), reasons.snapshotUnreadable(version));
    } else if (!sameJson(rebuilt, state)) {
      this.#findings.add(Math.max(1, version), reasons.snapshot(version));
    }
  }
}

/**
 * Verify one aggregate against its stored `head` (undefined: the head could not be read;
 * then the events are still checked and the head is reported).
 *
 * @example
 * ```ts
 * import type { Storage } from "../store/storage.ts";
 * import { decodeHead } from "./codec.ts";
 * import { headKey } from "./keys.ts";
 * declare const storage: Storage;
 * declare const dek: Uint8Array;
 * const head = decodeHead((await storage.get(headKey("patient", "p-001")))!);
 * const result = await verifyAggregate(storage, dek, "patient", "p-001", head);
 * if (!result.verified) console.log(result.first_bad_version, result.reason);
 * ```
 */
export async function verifyAggregate(
  storage: Storage,
  dek: Uint8Array,
  type: string,
  id: string,
  head: StoredHead | undefined,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const part = aggregatePart(type, id);
  const findings = new Findings();

  // Reads that do not depend on the events start now and overlap with what follows (each is
  // a round trip to the store's threads, a good part of verifying a small aggregate).
  const snapshotsRead = snapshotVersions(storage, type, id, findings);
  snapshotsRead.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
  const eventIds = head ? new Prefetched(storage.range(eventIdRange(part))) : undefined;
  // The events too, when they will be read on this thread.
  const parallel = head !== undefined && head.version > (options.parallelAbove ?? PARALLEL_ABOVE);
  const events = parallel ? undefined : new Prefetched(storage.range(eventRange(type, id)));
  try {
    return await verifyWith(storage, dek, type, id, head, options, {
      part,
      findings,
      snapshotsRead,
      eventIds,
      events,
    });
  } finally {
    await Promise.allSettled([snapshotsRead]);
    await eventIds?.close();
    await events?.close();
  }
}

/** What `verifyAggregate` started before the checks that need it. */
interface Started {
  part: Uint8Array;
  findings: Findings;
  snapshotsRead: Promise<number[]>;
  eventIds: Prefetched | undefined;
  /** The aggregate's events, when the pass runs on this thread. */
  events: Prefetched | undefined;
}

async function verifyWith(
  storage: Storage,
  dek: Uint8Array,
  type: string,
  id: string,
  head: StoredHead | undefined,
  options: VerifyOptions,
  { part, findings, snapshotsRead, eventIds, events }: Started,
): Promise<VerifyResult> {
  const headKey = partKeys.head(part);
  const version = head?.version;
  // What the events will be compared with: the sealed state and the snapshots.
  let sealed: { at: number; state: Record<string, unknown> } | undefined;
  const late: string[] = [];
  if (head) {
    const at = stateVersion(head);
    if (!Number.isSafeInteger(at) || at < 0 || at > head.version) {
      late.push(reasons.stateVersion(at));
    } else {
      const value = options.headValue ?? await storage.get(headKey);
      try {
        const state = openHeadState(sealedHeadState(value!), headKey, dek);
        if (!isPlainObject(state)) throw new Error("not an object");
        sealed = { at, state };
      } catch {
        findings.add(Math.max(1, at), reasons.stateUnreadable(at));
      }
    }
  }
  const snapshots = await snapshotsRead;
  const states = new StateChecks(storage, dek, part, findings, sealed, snapshots, version);
  // The state before any event (version 0) is empty.
  states.offer(0, {});
  await states.settle();

  const input: PassInput = {
    storage,
    dek,
    type,
    id,
    part,
    last: version,
    states,
    runs: options.indexTail?.runs,
  };
  let pass: Pass | undefined;
  if (version !== undefined && version > (options.parallelAbove ?? PARALLEL_ABOVE)) {
    pass = await verifyParallel(input, options);
    if (!pass && options.requireWorkers) {
      throw new DbxError("unavailable", "the verification worker threads could not start");
    }
  }
  pass ??= await verifySequential(input, events);
  if (pass.failure) findings.add(pass.failure.version, pass.failure.reason, true);
  const passed = pass.failure ? pass.failure.version - 1 : pass.count;
  const root = pass.failure ? undefined : toHex(pass.root);

  if (!head) {
    findings.add(Math.max(1, passed), reasons.headUnreadable);
  } else {
    const v = head.version;
    if (!pass.failure) {
      if (pass.count !== v) findings.add(pass.count + 1, reasons.count(v, pass.count));
      else if (root !== head.merkle_root) findings.add(v, reasons.headRoot);
      else if (!sameList(pass.frontier, head.frontier)) findings.add(v, reasons.frontier);
    }
    for (const why of late) findings.add(v, why);
    await checkBeyondHead(storage, part, v, pass, snapshots, findings, options);
    if (v >= 1 && passed >= 1) await checkCreatedAt(storage, part, head, pass, findings);
    await checkEventIds(storage, part, v, passed, eventIds!, findings);
  }

  // A state compared at a version after the first failing event lost to that event: the
  // earliest finding is the one reported.
  const bad = findings.best;
  return {
    aggregate_type: type,
    aggregate_id: id,
    version: version ?? pass.count,
    // The root recomputed from the events when they are all there, else the head's.
    merkle_root: root !== undefined && (version === undefined || pass.count === version)
      ? root
      : head?.merkle_root ?? "",
    verified: bad === undefined,
    ...(bad === undefined ? {} : { first_bad_version: bad.version, reason: bad.reason }),
  };
}

/** The versions of the aggregate's snapshots (read as keys only: the pass reads each). */
async function snapshotVersions(
  storage: Storage,
  type: string,
  id: string,
  findings: Findings,
): Promise<number[]> {
  const out: number[] = [];
  const range = snapshotRange(type, id);
  for await (const [key] of storage.range({ ...range, keysOnly: true })) {
    const version = keyVersion(key, range.gte.length);
    if (version === undefined) findings.add(1, reasons.snapshotKey);
    else out.push(version);
  }
  return out;
}

/**
 * No event, snapshot or index entry names a version beyond the head (`version`), except
 * what was committed while the verify ran: the head read again covers those.
 */
async function checkBeyondHead(
  storage: Storage,
  part: Uint8Array,
  version: number,
  pass: Pass,
  snapshots: readonly number[],
  findings: Findings,
  options: VerifyOptions,
): Promise<void> {
  const { lastPosition } = pass;
  // Read again each time: whatever was read before it was committed before it, and a head
  // is written with its events, snapshots and index entries.
  const headNow = () => currentVersion(storage, part, version);

  const beyond = pass.beyond !== undefined ? (pass.beyond ? [[pass.beyond]] : []) : storage.range({
    gt: partKeys.event(part, version),
    lt: prefixEnd(partKeys.event(part, 0).subarray(0, part.length + 2)),
    keysOnly: true,
    limit: 1,
  });
  for await (const [key] of beyond) {
    const w = key.length === part.length + 10 ? readU64(key, part.length + 2) : undefined;
    if (w !== undefined && w > version && w <= await headNow()) continue; // committed since
    const at = w !== undefined && w > version ? w : version + 1;
    findings.add(at, reasons.eventBeyond(at, version));
  }

  for (const s of snapshots) {
    if (s > version && s > await headNow()) findings.add(s, reasons.snapshotBeyond(s, version));
  }

  const tail = options.indexTail ?? new IndexTail();
  const highest = await tail.highestAfter(storage, part, lastPosition);
  if (highest <= version) return;
  // A close look: which entries, and whether each is an event committed since the head was read.
  for (const entry of await entriesAbove(storage, part, version, lastPosition)) {
    if (entry.version <= await headNow()) {
      const value = await storage.get(partKeys.event(part, entry.version));
      let stored: number | undefined;
      try {
        stored = value ? decodeEventHeader(value).position : undefined;
      } catch {
        stored = undefined;
      }
      if (stored === entry.position) continue;
    }
    findings.add(entry.version, reasons.indexBeyond(entry.version, entry.position, version));
  }
}

/** The keys of an aggregate's idempotency entries. */
function eventIdRange(part: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  const prefix = partKeys.idempotency(part, "");
  return { gte: prefix, lt: prefixEnd(prefix) };
}

/**
 * A range read whose first step starts at once (its result waits until it is iterated);
 * `close` ends it however far it was read.
 */
class Prefetched implements AsyncIterable<[Uint8Array, Uint8Array]> {
  readonly #it: AsyncIterator<[Uint8Array, Uint8Array]>;
  #first: Promise<IteratorResult<[Uint8Array, Uint8Array]>> | undefined;

  constructor(range: AsyncIterable<[Uint8Array, Uint8Array]>) {
    this.#it = range[Symbol.asyncIterator]();
    this.#first = this.#it.next();
    // A failure is reported when the entries are iterated, not as an unhandled rejection.
    this.#first.catch(() => {});
  }

  async *[Symbol.asyncIterator](): AsyncIterator<[Uint8Array, Uint8Array]> {
    const first = this.#first;
    this.#first = undefined;
    if (!first) throw new Error("a prefetched range is read once");
    for (let step = await first; !step.done; step = await this.#it.next()) yield step.value;
  }

  async close(): Promise<void> {
    await this.#first?.catch(() => {});
    await this.#it.return?.();
  }
}

/** Events per read while checking the idempotency entries. */
const EVENT_ID_BATCH = 512;

/**
 * The idempotency entries (caller-chosen event id → version) name events that carry that
 * id: a retry returns what they name. Only events up to `passed` (all fine) are compared.
 */
async function checkEventIds(
  storage: Storage,
  part: Uint8Array,
  version: number,
  passed: number,
  entries: Prefetched,
  findings: Findings,
): Promise<void> {
  const prefix = partKeys.idempotency(part, "");
  let batch: { eventId: string; version: number }[] = [];
  const flush = async () => {
    const entries = batch;
    batch = [];
    const values = await storage.getMany(entries.map((e) => partKeys.event(part, e.version)));
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.version > version) {
        if (e.version > await currentVersion(storage, part, version)) {
          findings.add(e.version, reasons.eventIdBeyond(e.version, version));
        }
        continue;
      }
      if (e.version > passed) continue;
      let id: unknown;
      try {
        id = values[i] ? decodeEventHeader(values[i]!).metadata.event_id : undefined;
      } catch {
        id = undefined;
      }
      if (id !== e.eventId) findings.add(e.version, reasons.eventId(e.version));
    }
  };
  for await (const [key, value] of entries) {
    const named = value.length === 8 ? readU64(value) : 0;
    if (named < 1) {
      findings.add(1, reasons.eventIdUnreadable);
      continue;
    }
    batch.push({ eventId: utf8.decode(key.subarray(prefix.length)), version: named });
    if (batch.length >= EVENT_ID_BATCH) await flush();
  }
  if (batch.length > 0) await flush();
}

/** The head's version now (`fallback` when it cannot be read). */
async function currentVersion(storage: Storage, part: Uint8Array, fallback: number) {
  const value = await storage.get(partKeys.head(part));
  if (!value) return fallback;
  try {
    const { version } = JSON.parse(utf8.decode(value.subarray(4, 4 + readU32(value))));
    return typeof version === "number" && version > fallback ? version : fallback;
  } catch {
    return fallback;
  }
}

/** The head's created_at is the first event's (the writer sets both from one clock reading). */
async function checkCreatedAt(
  storage: Storage,
  part: Uint8Array,
  head: StoredHead,
  pass: Pass,
  findings: Findings,
): Promise<void> {
  if (pass.firstCreatedAt) {
    if (pass.firstCreatedAt.value !== head.created_at) findings.add(1, reasons.createdAt);
    return;
  }
  const value = await storage.get(partKeys.event(part, 1));
  if (!value) return;
  try {
    if (decodeEventHeader(value).metadata.created_at !== head.created_at) {
      findings.add(1, reasons.createdAt);
    }
  } catch {
    // Unreadable: the pass reported event 1.
  }
}

function readU32(value: Uint8Array): number {
  return ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
}

function sameList(a: readonly string[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Deep equality of JSON values (object key order does not matter). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) =>
    Object.hasOwn(b, k) &&
    sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

// --- one pass over the events ------------------------------------------------------

/** What a pass is given. */
interface PassInput {
  storage: Storage;
  dek: Uint8Array;
  type: string;
  id: string;
  part: Uint8Array;
  /** The head's version: events up to it are read (undefined: every event). */
  last: number | undefined;
  /** Where the rebuilt state goes at each mark. */
  states: StateChecks;
  /** Index records kept between verifies, if any. */
  runs: IndexRuns | undefined;
}

/** What a pass over the events found. */
interface Pass {
  /** The first failing version, if any: the events before it passed. */
  failure?: Failure;
  /** Events read (all passed when there is no failure). */
  count: number;
  /** Root and frontier (hex) of the tree of those events (when there is no failure). */
  root: Uint8Array;
  frontier: string[];
  /** The position of the last event that passed (0: none). */
  lastPosition: number;
  /**
   * The first event key after the head's version's (null: none), when the pass read on to
   * the end of the aggregate's events (it then saves `checkBeyondHead` its own look).
   */
  beyond?: Uint8Array | null;
  /** The `created_at` stored with event 1, when the pass read it and it passed. */
  firstCreatedAt?: { value: unknown };
}

/** The events of the pass: up to the head's version, or all. */
function passRange(input: PassInput): { gte: Uint8Array; lte?: Uint8Array; lt?: Uint8Array } {
  const range = eventRange(input.type, input.id);
  return input.last === undefined
    ? range
    : { gte: range.gte, lte: partKeys.event(input.part, input.last) };
}

function frontierHex(chain: RootChain): string[] {
  const nodes = chain.frontier();
  const out: string[] = [];
  for (let at = 0; at < nodes.length; at += HASH_BYTES) {
    out.push(toHex(nodes.subarray(at, at + HASH_BYTES)));
  }
  return out;
}

/** The earliest of some failures; at equal versions the first given. */
function earliest(...failures: (Failure | undefined)[]): Failure | undefined {
  let best: Failure | undefined;
  for (const f of failures) if (f && (!best || f.version < best.version)) best = f;
  return best;
}

// --- checks shared by both paths -------------------------------------------------

/**
 * Checks 2–4 for single events of one aggregate. Writes the event's Merkle leaf
 * and the root stored with it (as bytes) for the caller's chain; keeps the position
 * stored with the event, and folds its payload into `fold` when that is set.
 *
 * @example
 * ```ts
 * declare const dek: Uint8Array;
 * declare const value: Uint8Array; // the stored value of version 7
 * const leaves = new Uint8Array(32);
 * const roots = new Uint8Array(32);
 * const checker = new EventChecker(dek, "patient", "p-001");
 * const bad = checker.check(value, 7, undefined, leaves, roots, 0); // undefined when fine
 * ```
 */
export class EventChecker {
  /** After a check that passed: the position stored with the event (NaN: none). */
  position = NaN;
  /** After a check that passed: the `created_at` stored with the event. */
  createdAt: unknown;
  /** After a check that passed: whether its header is one `decodeEventHeader` accepts. */
  wellFormed = false;
  /**
   * Where the payload of each event that passes is folded: its top-level values
   * assigned as they are (the caller normalizes them with `foldPayload`). None: no fold.
   */
  fold: Record<string, unknown> | undefined;

  readonly #dek: Uint8Array;
  readonly #type: string;
  readonly #id: string;
  /** The event key, rewritten in place for each version (the AAD of its payload). */
  readonly #key: Uint8Array;
  readonly #versionAt: number;
  readonly #digest = new Uint8Array(HASH_BYTES);
  /** The payload #eventHash parsed on its slow path, if it did. */
  #parsed: unknown;

  constructor(dek: Uint8Array, type: string, id: string) {
    this.#dek = dek;
    this.#type = type;
    this.#id = id;
    const prefix = eventRange(type, id).gte;
    this.#key = new Uint8Array(prefix.length + 8);
    this.#key.set(prefix);
    this.#versionAt = prefix.length;
  }

  /**
   * Check the event stored as `version` (under `key`, default: the aggregate's
   * key for that version); on success write its leaf hash and
   * stored root at `at * 32` of `leaves` and `roots` and return undefined,
   * otherwise return why it fails (a bad stored root counts as check 5 failing).
   */
  check(
    value: Uint8Array,
    version: number,
    key: Uint8Array | undefined,
    leaves: Uint8Array,
    roots: Uint8Array,
    at: number,
  ): string | undefined {
    let header: StoredEventHeader;
    let plaintext: Uint8Array;
    try {
      // The layout of codec.ts (u32 header length || header JSON || sealed payload),
      // split once here rather than once per part as decodeEventHeader/Payload do.
      const length = value.length < 4
        ? -1
        : ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
      if (length < 0 || 4 + length > value.length) return reasons.unreadable(version);
      header = JSON.parse(utf8.decode(value.subarray(4, 4 + length)));
      plaintext = open(this.#dek, value.subarray(4 + length), key ?? this.#keyFor(version));
    } catch {
      return reasons.unreadable(version);
    }
    if (header?.version !== version) return reasons.wrongVersion(version, header?.version);
    const envelope = {
      aggregate_type: this.#type,
      aggregate_id: this.#id,
      event_type: header.event_type,
      metadata: header.metadata,
      version,
    };
    this.#parsed = undefined;
    const hash = this.#eventHash(envelope, plaintext, header.hash);
    if (hash === undefined) return reasons.unreadable(version);
    if (hash !== header.hash) return reasons.hash(version);
    hashHexInto(hash, this.#digest, 0);
    leaves.set(leafHash(this.#digest), at * HASH_BYTES);
    // The chain compares roots as bytes; only lowercase hex equals toHex() of a root.
    if (!hashHexInto(header.merkle_root, roots, at * HASH_BYTES)) return reasons.root(version);
    const fold = this.fold;
    if (fold) {
      let payload = this.#parsed;
      try {
        payload ??= JSON.parse(utf8.decode(plaintext));
      } catch {
        return reasons.unreadable(version);
      }
      if (!isPlainObject(payload)) return reasons.unreadable(version);
      for (const name in payload) fold[name] = payload[name];
    }
    this.position = typeof header.position === "number" ? header.position : NaN;
    this.createdAt = header.metadata?.created_at;
    this.wellFormed = isEventHeader(header);
    return undefined;
  }

  /**
   * The event hash of a decrypted payload. The writer stores the canonical JSON
   * it hashed, so the bytes are hashed as they are: a match proves they are that
   * canonical text (SHA-256 is collision resistant), with no parsing. Otherwise
   * (payloads written as plain JSON.stringify), the payload is parsed and hashed
   * canonically. Undefined when the payload or envelope cannot be read.
   */
  #eventHash(
    envelope: Omit<HashedRecord, "payload">,
    plaintext: Uint8Array,
    expected: unknown,
  ): string | undefined {
    try {
      const hash = hashWithPayload(envelope, plaintext);
      if (hash === expected) return hash;
      const payload = JSON.parse(utf8.decode(plaintext));
      this.#parsed = payload;
      return eventHash({ ...envelope, payload });
    } catch {
      return undefined;
    }
  }

  #keyFor(version: number): Uint8Array {
    writeU64(this.#key, this.#versionAt, version);
    return this.#key;
  }
}

/** A fold target: assignments make own properties, even of "__proto__". */
function newFold(): Record<string, unknown> {
  return Object.create(null);
}

/**
 * The right edge of the Merkle tree (RFC 9162), grown one leaf at a time: the
 * same algorithm as `appendLeaf` + `frontierRoot` in merkle.ts, in reused
 * buffers, as it runs for every event.
 *
 * @example
 * ```ts
 * import { leafHash } from "../integrity/merkle.ts";
 * const leaf = leafHash(new Uint8Array(32)); // from the event hash's 32 bytes
 * const chain = new RootChain();
 * chain.append(leaf);
 * chain.rootIs(leaf, 0); // true: the root after one leaf is the leaf
 * ```
 */
export class RootChain {
  size = 0;
  readonly #nodes: Uint8Array[] = [];
  readonly #spare: Uint8Array[] = [];
  readonly #root = new Uint8Array(HASH_BYTES);

  /** The chain whose frontier is `nodes` (32 bytes each, largest first) after `size` leaves. */
  static restore(size: number, nodes: Uint8Array): RootChain {
    const chain = new RootChain();
    chain.size = size;
    for (let at = 0; at < nodes.length; at += HASH_BYTES) {
      chain.#nodes.push(nodes.slice(at, at + HASH_BYTES));
    }
    return chain;
  }

  /** The frontier's nodes back to back (see `restore`). */
  frontier(): Uint8Array {
    const out = new Uint8Array(this.#nodes.length * HASH_BYTES);
    this.#nodes.forEach((node, i) => out.set(node, i * HASH_BYTES));
    return out;
  }

  append(leaf: Uint8Array): void {
    const nodes = this.#nodes;
    const node = this.#spare.pop() ?? new Uint8Array(HASH_BYTES);
    node.set(leaf);
    // Each trailing 1-bit of the old size is a perfect subtree the new leaf completes.
    for (let size = this.size; size % 2 === 1; size = (size - 1) / 2) {
      const left = nodes.pop()!;
      sha256Node(left, node, node);
      this.#spare.push(left);
    }
    nodes.push(node);
    this.size++;
  }

  /** Whether the current root equals `expected[at..at+32]`. */
  rootIs(expected: Uint8Array, at: number): boolean {
    const root = this.root();
    for (let i = 0; i < HASH_BYTES; i++) if (root[i] !== expected[at + i]) return false;
    return true;
  }

  /** Root of the tree so far (a view into a buffer the next call overwrites). */
  root(): Uint8Array {
    const nodes = this.#nodes;
    const n = nodes.length;
    if (n === 0) return EMPTY_ROOT;
    if (n === 1) return nodes[0];
    const root = this.#root;
    sha256Node(nodes[n - 2], nodes[n - 1], root);
    for (let i = n - 3; i >= 0; i--) sha256Node(nodes[i], root, root);
    return root;
  }
}

/** Version in a key of this aggregate (undefined if the key has no version). */
function keyVersion(key: Uint8Array, prefixLength: number): number | undefined {
  if (key.length === prefixLength + 8) return readU64(key, prefixLength);
  return parseAggregatePart(key.subarray(1)).version;
}

// --- one thread -------------------------------------------------------------------

async function verifySequential(
  input: PassInput,
  events?: AsyncIterable<[Uint8Array, Uint8Array]>,
): Promise<Pass> {
  const { storage, dek, type, id, part, states } = input;
  const prefixLength = eventRange(type, id).gte.length;
  const checker = new EventChecker(dek, type, id);
  const fold = newFold();
  // Past the last mark no state is wanted: the payloads need no parsing there.
  const marks = states.marks;
  let mark = marks.findIndex((m) => m > 0);
  if (mark >= 0) checker.fold = fold;
  const cursor = new PositionCursor(storage, part, input.runs);
  const chain = new RootChain();
  const leaf = new Uint8Array(HASH_BYTES);
  const root = new Uint8Array(HASH_BYTES);
  let lastPosition = 0;
  let expected = 1;
  let beyond: Uint8Array | null | undefined;
  let firstCreatedAt: { value: unknown } | undefined;
  const done = (failure?: Failure): Pass => ({
    failure,
    count: expected - 1,
    root: chain.root(),
    frontier: frontierHex(chain),
    lastPosition,
    ...(beyond === undefined ? {} : { beyond }),
    ...(firstCreatedAt ? { firstCreatedAt } : {}),
  });
  // Read on past the head's last event to the end of the aggregate's: the first key there
  // is what `checkBeyondHead` would look for (one read of the store fewer per aggregate).
  const lastKey = input.last === undefined ? undefined : partKeys.event(part, input.last);
  try {
    for await (const [key, value] of events ?? storage.range(eventRange(type, id))) {
      if (lastKey && compareBytes(key, lastKey) > 0) {
        beyond = Uint8Array.from(key);
        break;
      }
      if (keyVersion(key, prefixLength) !== expected) {
        return done({ version: expected, reason: reasons.missing(expected) });
      }
      // A plain view: Buffer subarrays are costly, and check() takes a few.
      const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      const bad = checker.check(bytes, expected, key, leaf, root, 0);
      if (bad) return done({ version: expected, reason: bad });
      chain.append(leaf);
      if (!chain.rootIs(root, 0)) {
        return done({ version: expected, reason: reasons.root(expected) });
      }
      if (expected === 1) firstCreatedAt = { value: checker.createdAt };
      const position = checker.position;
      const sound = checker.wellFormed && key.length === prefixLength + 8;
      const pending = cursor.check(expected, position, sound);
      const misplaced = typeof pending === "object" ? await pending : pending;
      if (misplaced) return done({ version: expected, reason: misplaced });
      lastPosition = position;
      if (mark >= 0 && marks[mark] === expected) {
        states.offer(expected, foldPayload({}, fold));
        await states.settle();
        if (++mark === marks.length) checker.fold = undefined;
      }
      expected++;
    }
    beyond ??= lastKey ? null : undefined;
  } finally {
    await cursor.close();
  }
  return done();
}

/** Byte order of two keys (negative, zero or positive). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// --- worker threads ---------------------------------------------------------------
//
// Two phases per chunk of events, both on the worker that got the chunk:
// 1. checks 2–4 and the fold of the payloads, returning each event's Merkle leaf and
//    position (or the first failure);
// 2. once this thread has appended the leaves of every earlier chunk, it sends
//    the frontier before the chunk, and the worker computes the root after each
//    of its events and compares it with the stored one (check 5).
// This thread only reads, appends leaves (about one node hash per event), checks
// positions against the index, composes the folds and decides in chunk order; the root
// folds (about ten node hashes per event on large aggregates) run in parallel.

/** Main thread → worker: the aggregate to check (sent first). */
export interface WorkerInit {
  kind: "init";
  dek: Uint8Array;
  type: string;
  id: string;
}

/** Main thread → worker, phase 1: consecutive event values from version `first`. */
export interface WorkerChunk {
  kind: "chunk";
  seq: number;
  first: number;
  /** End offset of each value in `data`, where they lie back to back. */
  ends: Uint32Array;
  data: Uint8Array;
  /** Keys not of the usual `prefix || u64(version)` form (tampering), by index. */
  oddKeys: [number, Uint8Array][];
  /** Versions in this chunk after which the fold so far is wanted, ascending. */
  marks: number[];
  /** Whether to fold the payloads (no: every mark is before this chunk). */
  fold: boolean;
}

/** Main thread → worker, phase 2: the frontier before chunk `seq` (see `RootChain.restore`). */
export interface WorkerFrontier {
  kind: "frontier";
  seq: number;
  size: number;
  nodes: Uint8Array;
}

export type WorkerRequest = WorkerInit | WorkerChunk | WorkerFrontier;

/** Worker → main thread. */
export type WorkerReply =
  | { kind: "ready" }
  | {
    kind: "checked";
    seq: number;
    /** Index of the first event failing checks 2–4, or -1; the events before it passed. */
    failedAt: number;
    reason?: string;
    /** 32-byte Merkle leaves of the events before `failedAt`. */
    leaves: Uint8Array;
    /** Position stored with each of those events (NaN: none). */
    positions: Float64Array;
    /** Their payloads folded (values as stored: see `EventChecker.fold`). */
    fold: Record<string, unknown>;
    /** The fold from the chunk's start up to each mark those events reach. */
    marks: [number, Record<string, unknown>][];
  }
  | {
    kind: "rooted";
    seq: number;
    /** Index of the first event whose stored root differs, or -1. */
    badRootAt: number;
  }
  | { kind: "error"; message: string };

type Checked = Extract<WorkerReply, { kind: "checked" }>;

/**
 * Verify on worker threads. Returns undefined, having concluded nothing, when
 * a worker cannot start (e.g. a build that left the worker module out): the
 * caller then verifies on this thread. A worker failing once it has started
 * fails the whole verify with an error, never with a verdict.
 */
async function verifyParallel(
  input: PassInput,
  options: VerifyOptions,
): Promise<Pass | undefined> {
  const { storage, dek, type, id, part } = input;
  const workers = Math.max(1, Math.min(options.workers ?? navigator.hardwareConcurrency ?? 1, 4));
  const run = new ParallelRun(
    options.workerUrl ?? new URL("./verify_worker.ts", import.meta.url),
    workers,
    { kind: "init", dek, type, id },
    input.states,
  );
  const cursor = new PositionCursor(storage, part, input.runs);
  let misplaced: Failure | undefined;
  let lastPosition = 0;
  /** Check 6 for the chunks chained so far, in order. */
  const checkPositions = async () => {
    for (const { first, positions } of run.positions.splice(0)) {
      for (let i = 0; i < positions.length && !misplaced; i++) {
        const pending = cursor.check(first + i, positions[i]);
        const bad = typeof pending === "object" ? await pending : pending;
        if (bad) misplaced = { version: first + i, reason: bad };
        else lastPosition = positions[i];
      }
    }
  };
  try {
    const prefixLength = eventRange(type, id).gte.length;
    const window = workers * IN_FLIGHT_PER_WORKER;
    let chunk = new ChunkBuilder(1);
    let expected = 1;
    let missing: number | undefined;
    for await (const [key, value] of storage.range(passRange(input))) {
      if (run.stopped || run.cutOff || misplaced) break;
      if (keyVersion(key, prefixLength) !== expected) {
        missing = expected;
        break;
      }
      chunk.add(value, key.length === prefixLength + 8 ? undefined : key);
      expected++;
      if (chunk.count === CHUNK_EVENTS) {
        run.submit(chunk);
        chunk = new ChunkBuilder(expected);
        await run.settle(window - 1);
        await checkPositions();
        await input.states.settle();
      }
    }
    if (chunk.count > 0 && !run.stopped && !run.cutOff && !misplaced) run.submit(chunk);
    await run.settle(0);
    if (run.unavailable) return undefined;
    if (run.crash) {
      throw new DbxError(
        "internal",
        `verification stopped: a worker thread failed (${run.crash.message})`,
      );
    }
    await checkPositions();
    await input.states.settle();
    const failure = earliest(
      run.failure,
      misplaced,
      missing === undefined ? undefined : { version: missing, reason: reasons.missing(missing) },
    );
    return {
      failure,
      count: expected - 1,
      root: run.chain.root(),
      frontier: frontierHex(run.chain),
      lastPosition,
    };
  } finally {
    run.close();
    await cursor.close();
  }
}

/** A chunk from submission until its outcome is decided. */
interface InFlight {
  first: number;
  count: number;
  checked?: Checked;
  badRootAt?: number;
}

/**
 * The workers of one verify and its sequential half: chunks go out round robin;
 * leaves are chained, folds composed and outcomes decided strictly in chunk order, so the
 * first failure found is the first in version order.
 */
class ParallelRun {
  /** Every leaf that passed, in order (appends only: workers compute the roots). */
  readonly chain = new RootChain();
  /** Positions of the chained events, for check 6 on the main loop (it awaits reads). */
  readonly positions: { first: number; positions: Float64Array }[] = [];
  failure: Failure | undefined;
  /** A worker failed after it started: the verify must fail. */
  crash: Error | undefined;
  /** A worker failed to start: nothing was concluded, verify on this thread. */
  unavailable = false;
  /** A chunk failed checks 2–4: later chunks cannot matter. */
  cutOff = false;

  readonly #states: StateChecks;
  /** The next mark a submitted chunk may hold. */
  #mark = 0;
  /** The state rebuilt over the chained chunks. */
  #state: Record<string, unknown> = {};
  readonly #workers: Worker[] = [];
  readonly #ready: boolean[] = [];
  /** Chunks read before every worker was ready, sent once they all are. */
  readonly #queue: WorkerChunk[] = [];
  readonly #inFlight = new Map<number, InFlight>();
  #submitted = 0;
  /** Next chunk whose leaves go onto the chain. */
  #chained = 0;
  /** Next chunk whose outcome is decided. */
  #decided = 0;
  #wake: (() => void) | undefined;

  constructor(url: string | URL, count: number, init: WorkerInit, states: StateChecks) {
    this.#states = states;
    for (let i = 0; i < count; i++) {
      let worker: Worker;
      try {
        worker = new Worker(url, { type: "module" });
      } catch {
        this.unavailable = true;
        return;
      }
      this.#workers.push(worker);
      this.#ready.push(false);
      worker.onmessage = (e: MessageEvent<WorkerReply>) => this.#guard(() => this.#onReply(i, e));
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault(); // handled here: it must not take the process down
        this.#onFailure(i, e.message);
      };
      worker.onmessageerror = () => this.#onFailure(i, "a reply could not be read");
      worker.postMessage(init);
    }
  }

  /** A verdict or an error is certain: stop reading and waiting. */
  get stopped(): boolean {
    return this.failure !== undefined || this.crash !== undefined || this.unavailable;
  }

  submit(chunk: ChunkBuilder): void {
    const marks = this.#states.marks;
    const last = chunk.first + chunk.count - 1;
    while (this.#mark < marks.length && marks[this.#mark] < chunk.first) this.#mark++;
    const from = this.#mark;
    while (this.#mark < marks.length && marks[this.#mark] <= last) this.#mark++;
    const message = chunk.finish(
      this.#submitted++,
      marks.slice(from, this.#mark),
      chunk.first <= this.#states.lastMark,
    );
    this.#inFlight.set(message.seq, { first: message.first, count: message.ends.length });
    if (this.#ready.every(Boolean)) this.#send(message);
    else this.#queue.push(message);
  }

  /** Wait until at most `most` chunks are undecided, or verification stopped. */
  async settle(most: number): Promise<void> {
    while (this.#submitted - this.#decided > most && !this.stopped) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  close(): void {
    for (const worker of this.#workers) worker.terminate();
    this.#notify();
  }

  #workerOf(seq: number): Worker {
    return this.#workers[seq % this.#workers.length];
  }

  #send(message: WorkerChunk): void {
    this.#workerOf(message.seq).postMessage(message, [
      message.ends.buffer as ArrayBuffer,
      message.data.buffer as ArrayBuffer,
    ]);
  }

  #onReply(worker: number, e: MessageEvent<WorkerReply>): void {
    const reply = e.data;
    if (reply.kind === "ready") {
      this.#ready[worker] = true;
      if (this.#ready.every(Boolean)) { for (const m of this.#queue.splice(0)) this.#send(m); }
      return;
    }
    if (reply.kind === "error") throw new Error(reply.message);
    // Replies are checked for shape: a confused worker must not produce a verdict.
    const chunk = this.#inFlight.get(reply.seq);
    if (reply.kind === "checked") {
      if (!chunk || chunk.checked || !fitsChunk(reply, chunk.first, chunk.count)) {
        throw new Error(`unexpected leaves for chunk ${reply.seq}`);
      }
      chunk.checked = reply;
      this.#chainInOrder();
    } else {
      const { badRootAt } = reply;
      if (
        !chunk?.checked || chunk.badRootAt !== undefined || !Number.isInteger(badRootAt) ||
        badRootAt < -1 || badRootAt >= passedOf(chunk.checked, chunk.count)
      ) throw new Error(`unexpected roots for chunk ${reply.seq}`);
      chunk.badRootAt = badRootAt;
      this.#decideInOrder();
    }
  }

  /**
   * Append the leaves of checked chunks in order, compose their folds and queue their
   * positions; send each its frontier (phase 2).
   */
  #chainInOrder(): void {
    for (
      let chunk = this.#inFlight.get(this.#chained);
      chunk?.checked && !this.cutOff;
      chunk = this.#inFlight.get(this.#chained)
    ) {
      const seq = this.#chained++;
      const { failedAt, leaves, positions, fold, marks } = chunk.checked;
      const message: WorkerFrontier = {
        kind: "frontier",
        seq,
        size: this.chain.size,
        nodes: this.chain.frontier(),
      };
      const passed = passedOf(chunk.checked, chunk.count);
      for (let at = 0; at < passed * HASH_BYTES; at += HASH_BYTES) {
        this.chain.append(leaves.subarray(at, at + HASH_BYTES));
      }
      for (const [version, upTo] of marks) {
        this.#states.offer(version, foldPayload(this.#state, upTo));
      }
      this.#state = foldPayload(this.#state, fold);
      this.positions.push({ first: chunk.first, positions });
      if (failedAt >= 0) this.cutOff = true;
      this.#workerOf(seq).postMessage(message, [message.nodes.buffer as ArrayBuffer]);
    }
  }

  #decideInOrder(): void {
    for (
      let chunk = this.#inFlight.get(this.#decided);
      chunk?.badRootAt !== undefined;
      chunk = this.#inFlight.get(this.#decided)
    ) {
      this.#inFlight.delete(this.#decided++);
      if (this.failure) continue;
      const { failedAt, reason } = chunk.checked!;
      if (chunk.badRootAt >= 0) {
        const version = chunk.first + chunk.badRootAt;
        this.failure = { version, reason: reasons.root(version) };
      } else if (failedAt >= 0) {
        this.failure = { version: chunk.first + failedAt, reason: reason! };
      }
    }
  }

  #onFailure(worker: number, message: string): void {
    if (this.#ready[worker]) this.crash ??= new Error(message);
    else this.unavailable = true;
    this.#notify();
  }

  /** Run a handler; an exception in it becomes a crash instead of escaping the verify. */
  #guard(handler: () => void): void {
    try {
      handler();
    } catch (err) {
      this.crash ??= err instanceof Error ? err : new Error(String(err));
    }
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** How many events of a chunk of `count` passed checks 2–4. */
function passedOf({ failedAt }: Checked, count: number): number {
  return failedAt < 0 ? count : failedAt;
}

/** Whether a phase-1 reply is well formed for a chunk of `count` events from `first`. */
function fitsChunk(reply: Checked, first: number, count: number): boolean {
  const { failedAt, reason, leaves, positions, fold, marks } = reply;
  if (!Number.isInteger(failedAt) || failedAt < -1 || failedAt >= count) return false;
  if (failedAt >= 0 && typeof reason !== "string") return false;
  const passed = passedOf(reply, count);
  return leaves instanceof Uint8Array && leaves.length === passed * HASH_BYTES &&
    positions instanceof Float64Array && positions.length === passed && isPlainObject(fold) &&
    Array.isArray(marks) &&
    marks.every((m) =>
      Array.isArray(m) && Number.isInteger(m[0]) && m[0] >= first && m[0] < first + passed &&
      isPlainObject(m[1])
    );
}

/** Event values packed back to back into one transferable buffer. */
class ChunkBuilder {
  count = 0;
  readonly first: number;
  readonly #ends = new Uint32Array(CHUNK_EVENTS);
  #data = new Uint8Array(CHUNK_EVENTS * 1024);
  #size = 0;
  readonly #oddKeys: [number, Uint8Array][] = [];

  constructor(first: number) {
    this.first = first;
  }

  add(value: Uint8Array, oddKey?: Uint8Array): void {
    if (oddKey) this.#oddKeys.push([this.count, Uint8Array.from(oddKey)]);
    const end = this.#size + value.length;
    if (end > this.#data.length) {
      const grown = new Uint8Array(Math.max(end, this.#data.length * 2));
      grown.set(this.#data.subarray(0, this.#size));
      this.#data = grown;
    }
    this.#data.set(value, this.#size);
    this.#size = end;
    this.#ends[this.count++] = end;
  }

  /** The message of this chunk, with the marks among its versions (ascending). */
  finish(seq: number, marks: number[], fold: boolean): WorkerChunk {
    return {
      kind: "chunk",
      seq,
      first: this.first,
      ends: this.#ends.subarray(0, this.count),
      data: this.#data.subarray(0, this.#size),
      oddKeys: this.#oddKeys,
      marks,
      fold,
    };
  }
}
