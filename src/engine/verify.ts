/**
 * Full verification of one aggregate: every event is re-read, decrypted and
 * re-hashed, every stored Merkle root is recomputed, and the first version that
 * does not match is reported.
 *
 * Per event, in this order (the first failing check names the version):
 * 1. its key holds the next version (nothing missing or reordered);
 * 2. its header parses and its payload decrypts (the key is the associated data);
 * 3. the header's version is the key's version;
 * 4. the canonical event hash matches the stored hash;
 * 5. the Merkle root over events 1..v matches the root stored with event v.
 * At the end, the event count and the root must match the aggregate's head.
 *
 * Large aggregates spread checks 2–5 (decryption, JSON parsing, canonical
 * hashing, Merkle roots: nearly all the CPU) over Web Workers, while this
 * thread reads the store in key order, runs check 1 and chains the Merkle leaves
 * (the only sequential parts). Results are decided strictly in version order,
 * so the outcome is exactly that of one pass.
 */
import { open } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import { EMPTY_ROOT, leafHash } from "../integrity/merkle.ts";
import { hashHexInto, toHex } from "../integrity/sha256.ts";
import { sha256Node } from "../integrity/sha256_small.ts";
import type { Storage } from "../store/storage.ts";
import type { StoredEventHeader, StoredHead } from "./codec.ts";
import { eventHash, type HashedRecord, hashWithPayload } from "./event_hash.ts";
import { eventRange, parseAggregatePart, readU64, writeU64 } from "./keys.ts";
import type { VerifyResult } from "./types.ts";

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
};

/**
 * Verify every event of one aggregate against its stored `head`.
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
  head: StoredHead,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  let outcome: Outcome | undefined;
  if (head.version > (options.parallelAbove ?? PARALLEL_ABOVE)) {
    outcome = await verifyParallel(storage, dek, type, id, options);
    if (!outcome && options.requireWorkers) {
      throw new DbxError("unavailable", "the verification worker threads could not start");
    }
  }
  outcome ??= await verifySequential(storage, dek, type, id);
  const result = (firstBad: number | undefined, reason?: string, root?: string) => ({
    aggregate_type: type,
    aggregate_id: id,
    version: head.version,
    merkle_root: root ?? head.merkle_root,
    verified: firstBad === undefined,
    ...(firstBad === undefined ? {} : { first_bad_version: firstBad, reason }),
  });
  if (outcome.failure) return result(outcome.failure.version, outcome.failure.reason);
  if (outcome.count !== head.version) {
    return result(
      outcome.count + 1,
      `the aggregate has version ${head.version} but ${outcome.count} events`,
    );
  }
  const root = toHex(outcome.root);
  if (root !== head.merkle_root) {
    return result(head.version, "the aggregate's Merkle root does not match its events", root);
  }
  return result(undefined);
}

/** What a pass over the events found: the first failure, or the count and final root. */
type Outcome = { failure: Failure } | { failure?: undefined; count: number; root: Uint8Array };

const failed = (version: number, reason: string): Outcome => ({ failure: { version, reason } });

// --- checks shared by both paths -------------------------------------------------

/**
 * Checks 2–4 for single events of one aggregate. Writes the event's Merkle leaf
 * and the root stored with it (as bytes) for the caller's chain.
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
  readonly #dek: Uint8Array;
  readonly #type: string;
  readonly #id: string;
  /** The event key, rewritten in place for each version (the AAD of its payload). */
  readonly #key: Uint8Array;
  readonly #versionAt: number;
  readonly #digest = new Uint8Array(HASH_BYTES);

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
    const hash = this.#eventHash(envelope, plaintext, header.hash);
    if (hash === undefined) return reasons.unreadable(version);
    if (hash !== header.hash) return reasons.hash(version);
    hashHexInto(hash, this.#digest, 0);
    leaves.set(leafHash(this.#digest), at * HASH_BYTES);
    // The chain compares roots as bytes; only lowercase hex equals toHex() of a root.
    if (!hashHexInto(header.merkle_root, roots, at * HASH_BYTES)) return reasons.root(version);
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
      return eventHash({ ...envelope, payload: JSON.parse(utf8.decode(plaintext)) });
    } catch {
      return undefined;
    }
  }

  #keyFor(version: number): Uint8Array {
    writeU64(this.#key, this.#versionAt, version);
    return this.#key;
  }
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

/** Version in an event key of this aggregate (undefined if the key has no version). */
function keyVersion(key: Uint8Array, prefixLength: number): number | undefined {
  if (key.length === prefixLength + 8) return readU64(key, prefixLength);
  return parseAggregatePart(key.subarray(1)).version;
}

// --- one thread -------------------------------------------------------------------

async function verifySequential(
  storage: Storage,
  dek: Uint8Array,
  type: string,
  id: string,
): Promise<Outcome> {
  const range = eventRange(type, id);
  const checker = new EventChecker(dek, type, id);
  const chain = new RootChain();
  const leaf = new Uint8Array(HASH_BYTES);
  const root = new Uint8Array(HASH_BYTES);
  let expected = 1;
  for await (const [key, value] of storage.range(range)) {
    if (keyVersion(key, range.gte.length) !== expected) {
      return failed(expected, reasons.missing(expected));
    }
    // A plain view: Buffer subarrays are costly, and check() takes a few.
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    const bad = checker.check(bytes, expected, key, leaf, root, 0);
    if (bad) return failed(expected, bad);
    chain.append(leaf);
    if (!chain.rootIs(root, 0)) return failed(expected, reasons.root(expected));
    expected++;
  }
  return { count: expected - 1, root: chain.root() };
}

// --- worker threads ---------------------------------------------------------------
//
// Two phases per chunk of events, both on the worker that got the chunk:
// 1. checks 2–4, returning each event's Merkle leaf (or the first failure);
// 2. once this thread has appended the leaves of every earlier chunk, it sends
//    the frontier before the chunk, and the worker computes the root after each
//    of its events and compares it with the stored one (check 5).
// This thread only reads, appends leaves (about one node hash per event) and
// decides in chunk order; the root folds (about ten node hashes per event on large
// aggregates) run in parallel.

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
  storage: Storage,
  dek: Uint8Array,
  type: string,
  id: string,
  options: VerifyOptions,
): Promise<Outcome | undefined> {
  const workers = Math.max(1, Math.min(options.workers ?? navigator.hardwareConcurrency ?? 1, 4));
  const run = new ParallelRun(
    options.workerUrl ?? new URL("./verify_worker.ts", import.meta.url),
    workers,
    { kind: "init", dek, type, id },
  );
  try {
    const range = eventRange(type, id);
    const window = workers * IN_FLIGHT_PER_WORKER;
    let chunk = new ChunkBuilder(1);
    let expected = 1;
    let missing: number | undefined;
    for await (const [key, value] of storage.range(range)) {
      if (run.stopped || run.cutOff) break;
      if (keyVersion(key, range.gte.length) !== expected) {
        missing = expected;
        break;
      }
      chunk.add(value, key.length === range.gte.length + 8 ? undefined : key);
      expected++;
      if (chunk.count === CHUNK_EVENTS) {
        run.submit(chunk);
        chunk = new ChunkBuilder(expected);
        await run.settle(window - 1);
      }
    }
    if (chunk.count > 0 && !run.stopped && !run.cutOff) run.submit(chunk);
    await run.settle(0);
    if (run.unavailable) return undefined;
    if (run.crash) {
      throw new DbxError(
        "internal",
        `verification stopped: a worker thread failed (${run.crash.message})`,
      );
    }
    if (run.failure) return { failure: run.failure };
    if (missing !== undefined) return failed(missing, reasons.missing(missing));
    return { count: expected - 1, root: run.chain.root() };
  } finally {
    run.close();
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
 * leaves are chained and outcomes decided strictly in chunk order, so the first
 * failure found is the first in version order.
 */
class ParallelRun {
  /** Every leaf that passed, in order (appends only: workers compute the roots). */
  readonly chain = new RootChain();
  failure: Failure | undefined;
  /** A worker failed after it started: the verify must fail. */
  crash: Error | undefined;
  /** A worker failed to start: nothing was concluded, verify on this thread. */
  unavailable = false;
  /** A chunk failed checks 2–4: later chunks cannot matter. */
  cutOff = false;

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

  constructor(url: string | URL, count: number, init: WorkerInit) {
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
    const message = chunk.finish(this.#submitted++);
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
      if (!chunk || chunk.checked || !fitsChunk(reply, chunk.count)) {
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

  /** Append the leaves of checked chunks in order; send each its frontier (phase 2). */
  #chainInOrder(): void {
    for (
      let chunk = this.#inFlight.get(this.#chained);
      chunk?.checked && !this.cutOff;
      chunk = this.#inFlight.get(this.#chained)
    ) {
      const seq = this.#chained++;
      const { failedAt, leaves } = chunk.checked;
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

/** Whether a phase-1 reply is well formed for a chunk of `count` events. */
function fitsChunk(reply: Checked, count: number): boolean {
  const { failedAt, reason, leaves } = reply;
  if (!Number.isInteger(failedAt) || failedAt < -1 || failedAt >= count) return false;
  if (failedAt >= 0 && typeof reason !== "string") return false;
  return leaves instanceof Uint8Array && leaves.length === passedOf(reply, count) * HASH_BYTES;
}

/** Event values packed back to back into one transferable buffer. */
class ChunkBuilder {
  count = 0;
  readonly #first: number;
  readonly #ends = new Uint32Array(CHUNK_EVENTS);
  #data = new Uint8Array(CHUNK_EVENTS * 1024);
  #size = 0;
  readonly #oddKeys: [number, Uint8Array][] = [];

  constructor(first: number) {
    this.#first = first;
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

  finish(seq: number): WorkerChunk {
    return {
      kind: "chunk",
      seq,
      first: this.#first,
      ends: this.#ends.subarray(0, this.count),
      data: this.#data.subarray(0, this.#size),
      oddKeys: this.#oddKeys,
    };
  }
}
