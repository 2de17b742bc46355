/**
 * Verification of the global position index (keys.ts: `P<first position>` → the run of
 * `<type>\0<id>\0<version>` parts committed by one write, codec.ts `encodePositionRun`).
 *
 * - `PositionCursor`: one aggregate's events in version order — the index must name each
 *   event at the position stored with it.
 * - `IndexRuns`: the index records those cursors read, kept (by an engine's `IndexTail`) for
 *   the verifies of a short while, with the entries they confirmed: with many aggregates'
 *   events interleaved, every aggregate's events lie in nearly every record, and without it
 *   a whole-store verify read the index once per aggregate.
 * - `IndexTail`: the highest version the index names for each aggregate after a position,
 *   so that a verify sees an entry naming a version beyond the aggregate's head (the trace a
 *   removed last event leaves). Engines keep one and reuse it between verifies for a short
 *   while: a whole-store verify then reads the index once, not once per aggregate.
 * - `verifyPositionIndex`: the whole index, one page at a time: no gap, no overlap, every
 *   entry names an event that exists, is stored at that position and is within its
 *   aggregate's head, and (on the last page) the index ends at the store's last position and
 *   names as many positions as there are events.
 */
import { DbxError } from "../errors.ts";
import type { Storage } from "../store/storage.ts";
import { decodeEventHeader, decodeHead } from "./codec.ts";
import { metaKey, parseAggregatePart, positionKey, PREFIX, prefixEnd, readU64 } from "./keys.ts";

const INDEX_START = Uint8Array.of(PREFIX.position);
const INDEX_END = prefixEnd(INDEX_START);
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** "position 7" / "positions 7 to 9". */
function positions(from: number, to: number): string {
  return from === to ? `position ${from}` : `positions ${from} to ${to}`;
}

/** "position 7 is missing" / "positions 7 to 9 are missing". */
function missing(from: number, to: number): string {
  return `${positions(from, to)} ${from === to ? "is" : "are"} missing`;
}

/** One index record: the run of parts committed by one write, from position `first`. */
export interface IndexRun {
  first: number;
  /** The stored value; part `i` is `value[starts[i] .. starts[i] + lengths[i]]`. */
  value: Uint8Array;
  starts: Uint32Array;
  lengths: Uint16Array;
}

/** Parse a run value, or undefined when it is damaged (its parts do not fit). */
export function parseRun(first: number, value: Uint8Array): IndexRun | undefined {
  let count = 0;
  for (let at = 0; at < value.length; count++) {
    if (at + 2 > value.length) return undefined;
    at += 2 + ((value[at] << 8) | value[at + 1]);
    if (at > value.length) return undefined;
  }
  const starts = new Uint32Array(count);
  const lengths = new Uint16Array(count);
  for (let i = 0, at = 0; i < count; i++) {
    lengths[i] = (value[at] << 8) | value[at + 1];
    starts[i] = at + 2;
    at += 2 + lengths[i];
  }
  return { first, value, starts, lengths };
}

/** The first position of an index key, or undefined when the key is not `P<u64>`. */
function runFirst(key: Uint8Array): number | undefined {
  return key.length === 9 && key[0] === PREFIX.position ? readU64(key, 1) : undefined;
}

/** The key of the index run holding `position` (the last run starting at or before it). */
async function runKeyAtOrBefore(
  storage: Storage,
  position: number,
): Promise<Uint8Array | undefined> {
  for await (
    const [key] of storage.range({
      gte: INDEX_START,
      lte: positionKey(position),
      reverse: true,
      limit: 1,
      keysOnly: true,
    })
  ) return key;
  return undefined;
}

/** The last position the store recorded (meta "position"), read from storage itself. */
export async function recordedLastPosition(storage: Storage): Promise<number> {
  const value = await storage.get(metaKey("position"));
  return value && value.length === 8 ? readU64(value) : 0;
}

// --- one aggregate's events ----------------------------------------------------------

/** Runs read ahead before the cursor seeks instead (the aggregate's next event is far). */
const READ_AHEAD_RUNS = 32;
/** How long what a verify learnt of the index stays usable after its last use. */
const TAIL_TTL_MS = 30_000;
/** Bytes of index records an `IndexRuns` holds at most (the index of ~2M events). */
const RUNS_MAX_BYTES = 64 << 20;
/** Positions an `IndexRuns` remembers the record of at most (3 bytes each). */
const RUNS_MAX_POSITIONS = 1 << 24;
/** A record's bookkeeping beside its value and offsets, roughly. */
const RUN_OVERHEAD_BYTES = 96;

/**
 * Index records kept between the verifies of a short while (an engine's `IndexTail` holds
 * one), so that a whole-store verify reads each record about once rather than once per
 * aggregate whose events it names: with events of many aggregates interleaved, every
 * aggregate's events lie in nearly every record. It also remembers which record holds each
 * position it has seen, so a record that no longer fits is read back with one point read.
 * Index records are written once and never changed, so what was read stays true for the
 * life of the cache; a record read back that no longer holds the position is looked up
 * afresh. Bounded (RUNS_MAX_BYTES): once full it keeps what it has (a whole-store verify
 * sweeps the index in position order once per aggregate, where evicting the oldest would
 * keep nothing useful).
 *
 * @example
 * ```ts
 * const runs = new IndexRuns();
 * runs.runAt(7); // undefined: nothing read yet
 * ```
 */
export class IndexRuns {
  readonly #runs = new Map<number, IndexRun>();
  /** Per position - 1: 1 + its offset in the record holding it (0: unknown). */
  #offsets = new Uint16Array(0);
  /**
   * Per position - 1: 1 when a verify found there, in the record `#offsets` names, the
   * entry of an event stored under its own key, with a well-formed header holding that
   * position: what the whole-index check would read the event for (see `confirmed`).
   */
  #confirmed = new Uint8Array(0);
  #bytes = 0;
  #usedAt = 0;
  #expiry: ReturnType<typeof setTimeout> | undefined;

  /** The kept record holding `position`, if any. */
  runAt(position: number): IndexRun | undefined {
    this.#touch();
    const first = this.firstOf(position);
    const run = first === undefined ? undefined : this.#runs.get(first);
    return run && covers(run, position) ? run : undefined;
  }

  /** The first position of the record last seen holding `position` (undefined: unknown). */
  firstOf(position: number): number | undefined {
    const at = position - 1;
    const offset = at >= 0 && at < this.#offsets.length ? this.#offsets[at] : 0;
    return offset === 0 ? undefined : position - offset + 1;
  }

  /** Remember a record read from the index (its value must not be reused by the caller). */
  add(run: IndexRun): void {
    this.#touch();
    const count = run.starts.length;
    const end = Math.min(run.first - 1 + count, RUNS_MAX_POSITIONS);
    if (end > this.#offsets.length) {
      const size = Math.min(RUNS_MAX_POSITIONS, Math.max(end, this.#offsets.length * 2, 1024));
      const offsets = new Uint16Array(size);
      offsets.set(this.#offsets);
      this.#offsets = offsets;
      const confirmed = new Uint8Array(size);
      confirmed.set(this.#confirmed);
      this.#confirmed = confirmed;
    }
    for (let i = 0, at = run.first - 1; i < count && at < end; i++, at++) {
      const offset = i < 0xffff ? i + 1 : 0;
      // Another record holding the position (a damaged index): what was confirmed was not
      // this one's entry.
      if (this.#offsets[at] !== offset) this.#confirmed[at] = 0;
      this.#offsets[at] = offset;
    }
    if (this.#runs.has(run.first)) return;
    const bytes = run.value.length + count * 6 + RUN_OVERHEAD_BYTES;
    if (this.#bytes + bytes > RUNS_MAX_BYTES) return;
    this.#runs.set(run.first, run);
    this.#bytes += bytes;
  }

  /** Record that the entry at `position` of the record from `first` names its event (above). */
  confirm(position: number, first: number): void {
    if (this.firstOf(position) === first) this.#confirmed[position - 1] = 1;
  }

  /**
   * Whether the entry at `position` of the record from `first` was confirmed: the event it
   * names is stored under its own key, is readable and is stored at that position (events
   * and index records are never changed, see above).
   */
  confirmed(position: number, first: number): boolean {
    return this.firstOf(position) === first && this.#confirmed[position - 1] === 1;
  }

  /** Forget everything now (and stop the timer). */
  clear(): void {
    this.#drop();
    if (this.#expiry !== undefined) clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }

  #drop(): void {
    this.#runs.clear();
    this.#offsets = new Uint16Array(0);
    this.#confirmed = new Uint8Array(0);
    this.#bytes = 0;
  }

  /** A use: start afresh after a while unused, and drop everything once unused a while. */
  #touch(): void {
    const now = Date.now();
    if (now - this.#usedAt > TAIL_TTL_MS) this.#drop();
    this.#usedAt = now;
    this.#arm(TAIL_TTL_MS);
  }

  #arm(ms: number): void {
    if (this.#expiry !== undefined) return;
    const timer = setTimeout(() => {
      this.#expiry = undefined;
      const idle = Date.now() - this.#usedAt;
      if (idle >= TAIL_TTL_MS) this.#drop();
      else this.#arm(TAIL_TTL_MS - idle);
    }, ms);
    this.#expiry = timer;
    // The timer must not keep a process alive.
    Deno.unrefTimer(timer);
  }
}

/** Whether `run` holds `position`. */
function covers(run: IndexRun, position: number): boolean {
  return position >= run.first && position < run.first + run.starts.length;
}

/**
 * Checks, event by event in version order, that the index names each event of one aggregate
 * at the position stored with it. With `runs` (kept between verifies) it reads the index
 * records it needs from there when it can, and adds those it reads.
 *
 * @example
 * ```ts
 * import type { Storage } from "../store/storage.ts";
 * import { aggregatePart } from "./keys.ts";
 * declare const storage: Storage;
 * const cursor = new PositionCursor(storage, aggregatePart("patient", "p-1"));
 * try {
 *   const bad = await cursor.check(1, 17); // undefined: the index names version 1 at 17
 * } finally {
 *   await cursor.close();
 * }
 * ```
 */
export class PositionCursor {
  readonly #storage: Storage;
  /** `<type>\0<id>\0`: every part naming this aggregate starts with it. */
  readonly #prefix: Uint8Array;
  readonly #runs: IndexRuns | undefined;
  #run: IndexRun | undefined;
  #ahead: AsyncIterator<[Uint8Array, Uint8Array]> | undefined;
  /** The record the read-ahead iterator returned last (it continues after it). */
  #aheadAt: IndexRun | undefined;

  constructor(storage: Storage, part: Uint8Array, runs?: IndexRuns) {
    this.#storage = storage;
    this.#prefix = new Uint8Array(part.length + 1);
    this.#prefix.set(part);
    this.#runs = runs;
  }

  /**
   * Why event `version`, stored at `position`, is not where the index says (else undefined).
   * `sound`: the event is stored under its own key and its header is well formed, so a
   * match also settles what the whole-index check would read the event for.
   */
  check(
    version: number,
    position: number,
    sound = false,
  ): Promise<string | undefined> | string | undefined {
    if (!Number.isSafeInteger(position) || position < 1) {
      return `event ${version} has no valid position`;
    }
    let run = this.#run;
    if (!run || !covers(run, position)) {
      run = this.#runs?.runAt(position);
      if (run) this.#run = run;
    }
    if (run && covers(run, position)) return this.#compare(run, version, position, sound);
    return this.#load(position).then((found) =>
      found
        ? this.#compare(found, version, position, sound)
        : `event ${version} is stored at position ${position}, which the global position index does not hold`
    );
  }

  /** End the read-ahead iterator. */
  async close(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    this.#aheadAt = undefined;
    await ahead?.return?.();
  }

  #compare(
    run: IndexRun,
    version: number,
    position: number,
    sound: boolean,
  ): string | undefined {
    const i = position - run.first;
    const start = run.starts[i];
    const length = run.lengths[i];
    const prefix = this.#prefix;
    const value = run.value;
    let same = length === prefix.length + 8;
    for (let j = 0; same && j < prefix.length; j++) same = value[start + j] === prefix[j];
    if (same && readU64(value, start + prefix.length) === version) {
      if (sound) this.#runs?.confirm(position, run.first);
      return undefined;
    }
    return `the global position index does not name event ${version} at its position ${position}`;
  }

  /**
   * The record holding `position`: read back the one known to hold it, else read ahead
   * when it is near, else seek.
   */
  async #load(position: number): Promise<IndexRun | undefined> {
    const known = this.#runs?.firstOf(position);
    if (known !== undefined) {
      const value = await this.#storage.get(positionKey(known));
      const run = value ? parseRun(known, Uint8Array.from(value)) : undefined;
      if (run && covers(run, position)) {
        this.#runs!.add(run);
        return (this.#run = run);
      }
    }
    const at = this.#aheadAt;
    if (this.#ahead && at && position >= at.first) {
      if (covers(at, position)) return (this.#run = at);
      for (let i = 0; i < READ_AHEAD_RUNS; i++) {
        const next = await this.#next();
        if (!next) break;
        if (next.first > position) break;
        if (covers(next, position)) return (this.#run = next);
      }
    }
    await this.close();
    this.#run = undefined;
    const key = await runKeyAtOrBefore(this.#storage, position);
    if (!key) return undefined;
    this.#ahead = this.#storage.range({ gte: key, lt: INDEX_END })[Symbol.asyncIterator]();
    const found = await this.#next();
    return found && covers(found, position) ? (this.#run = found) : undefined;
  }

  /** The next readable record of the read-ahead iterator. */
  async #next(): Promise<IndexRun | undefined> {
    for (;;) {
      const step = await this.#ahead!.next();
      if (step.done) return undefined;
      const [key, value] = step.value;
      const first = runFirst(key);
      const run = first === undefined ? undefined : parseRun(first, Uint8Array.from(value));
      if (run) {
        this.#runs?.add(run);
        return (this.#aheadAt = run);
      }
    }
  }
}

// --- entries beyond a head -------------------------------------------------------------

/** Beyond this many aggregates a summary is not kept between verifies (bounds memory). */
const TAIL_MAX_AGGREGATES = 200_000;

/**
 * The highest version the index names for each aggregate over a range of positions that
 * always reaches the end of the index: each query extends it (back to the position asked
 * for, forward to the new end), so consecutive verifies read every index record once.
 * Index records are written once and never changed, so what was read stays true for the
 * life of the summary (a short while, see TAIL_TTL_MS). A kept summary also keeps the
 * records its verifies read (`runs`, see `IndexRuns`).
 *
 * @example
 * ```ts
 * import type { Storage } from "../store/storage.ts";
 * import { aggregatePart } from "./keys.ts";
 * declare const storage: Storage;
 * const tail = new IndexTail();
 * // The highest version of patient/p-1 named at positions after 40 (0: none).
 * const highest = await tail.highestAfter(storage, aggregatePart("patient", "p-1"), 40);
 * ```
 */
export class IndexTail {
  /** Positions [from, to] are summarized (none while from > to). */
  #from = 1;
  #to = 0;
  /** The store's recorded last position read before the last scan to the end. */
  #recorded = -1;
  #highest = new Map<string, number>();
  #usedAt = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** Drops a kept summary once it is no longer used (its memory with it). */
  #expiry: ReturnType<typeof setTimeout> | undefined;
  readonly #keep: boolean;
  /** The index records read by the verifies that share this summary (kept ones only). */
  readonly runs: IndexRuns | undefined;

  /** `keep`: reuse the summary between queries (an engine's); else each query starts anew. */
  constructor(keep = false) {
    this.#keep = keep;
    this.runs = keep ? new IndexRuns() : undefined;
  }

  /** The highest version the index names for aggregate `part` after position `after` (0: none). */
  highestAfter(storage: Storage, part: Uint8Array, after: number): Promise<number> {
    const run = this.#queue.then(() => this.#highestAfter(storage, part, after));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #highestAfter(storage: Storage, part: Uint8Array, after: number): Promise<number> {
    const start = Math.max(1, after + 1);
    // Read before a scan: every record the writer stored with it is in the index the scan
    // reads (it stores a write's index record and the last position together).
    const recorded = this.#keep ? await recordedLastPosition(storage) : 0;
    if (!this.#keep || Date.now() - this.#usedAt > TAIL_TTL_MS || this.#from > this.#to) {
      this.#reset();
      this.#to = await this.#scan(storage, start, Infinity, start - 1);
      this.#from = start;
      this.#recorded = recorded;
    } else {
      if (start < this.#from) {
        await this.#scan(storage, start, this.#from - 1, 0);
        this.#from = start;
      }
      // Nothing was written since the last scan to the end: nothing to add (one point
      // read instead of a scan per verify of a whole-store run).
      if (recorded !== this.#recorded) {
        // Records are written in position order and never changed: those holding
        // positions after `to` start after it (no seek back to the one holding `to + 1`).
        this.#to = await this.#scan(storage, this.#to + 1, Infinity, this.#to, false);
        this.#recorded = recorded;
      }
    }
    this.#usedAt = Date.now();
    // Entries before `start` that the summary also covers belong to earlier events
    // (positions grow with versions), so they never exceed the head.
    const highest = this.#highest.get(utf8.decode(part)) ?? 0;
    if (this.#highest.size > TAIL_MAX_AGGREGATES || !this.#keep) this.#reset();
    else this.#expireLater();
    return highest;
  }

  /** Forget the summary now (and stop its timer): an engine does on close. */
  clear(): void {
    this.#reset();
    this.runs?.clear();
    if (this.#expiry !== undefined) clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }

  #expireLater(): void {
    if (this.#expiry !== undefined) clearTimeout(this.#expiry);
    const timer = setTimeout(() => {
      this.#expiry = undefined;
      this.#reset();
    }, TAIL_TTL_MS);
    this.#expiry = timer;
    // The timer must not keep a process alive.
    Deno.unrefTimer(timer);
  }

  #reset(): void {
    this.#highest = new Map();
    this.#from = 1;
    this.#to = 0;
    this.#recorded = -1;
  }

  /**
   * Fold the entries at positions [from, to] into the summary; returns the last position
   * seen. `seek`: start at the record holding `from`, which may start before it.
   */
  async #scan(
    storage: Storage,
    from: number,
    to: number,
    seen: number,
    seek = true,
  ): Promise<number> {
    const key = (seek ? await runKeyAtOrBefore(storage, from) : undefined) ?? positionKey(from);
    for await (const [k, value] of storage.range({ gte: key, lt: INDEX_END })) {
      const first = runFirst(k);
      if (first === undefined) continue;
      if (first > to) break;
      const run = parseRun(first, this.runs ? Uint8Array.from(value) : value);
      if (!run) continue; // damaged: verifyPositionIndex reports it
      this.runs?.add(run);
      for (let i = 0; i < run.starts.length; i++) {
        const position = first + i;
        if (position < from) continue;
        if (position > to) break;
        const length = run.lengths[i];
        if (length < 9) continue;
        const start = run.starts[i];
        const name = utf8.decode(value.subarray(start, start + length - 9));
        const version = readU64(value, start + length - 8);
        if (version > (this.#highest.get(name) ?? 0)) this.#highest.set(name, version);
      }
      seen = Math.max(seen, Math.min(to, first + run.starts.length - 1));
    }
    return seen;
  }
}

/**
 * Every entry naming aggregate `part` with a version above `above`, at positions after
 * `after`, in position order (a verify's close look once `IndexTail` found one).
 */
export async function entriesAbove(
  storage: Storage,
  part: Uint8Array,
  above: number,
  after: number,
): Promise<{ version: number; position: number }[]> {
  const out: { version: number; position: number }[] = [];
  const from = Math.max(1, after + 1);
  const key = (await runKeyAtOrBefore(storage, from)) ?? positionKey(from);
  for await (const [k, value] of storage.range({ gte: key, lt: INDEX_END })) {
    const first = runFirst(k);
    const run = first === undefined ? undefined : parseRun(first, value);
    if (!run) continue;
    for (let i = 0; i < run.starts.length; i++) {
      const start = run.starts[i];
      const length = run.lengths[i];
      if (run.first + i < from || length !== part.length + 9) continue;
      let same = value[start + part.length] === 0;
      for (let j = 0; same && j < part.length; j++) same = value[start + j] === part[j];
      const version = readU64(value, start + part.length + 1);
      if (same && version > above) out.push({ version, position: run.first + i });
    }
  }
  return out;
}

// --- the whole index -------------------------------------------------------------------

/** One problem the index check found. */
export interface PositionProblem {
  /** The position concerned (the first of a range). */
  position: number;
  aggregate_type?: string;
  aggregate_id?: string;
  version?: number;
  reason: string;
}

/** What one page of the index check covered and found. */
export interface PositionCheck {
  /** First position this page checked. */
  from: number;
  /** Last position this page checked (`from - 1` when none). */
  to: number;
  /** Where the next page starts; absent on the last page (the index ends here). */
  next?: number;
  /** Index records read. */
  runs: number;
  /** Index entries (positions) checked. */
  entries: number;
  /** The store's recorded last position. */
  last_position: number;
  /** Events stored in the whole store (last page only). */
  events?: number;
  /** Aggregate heads stored (last page only). */
  aggregates?: number;
  /** Snapshots stored (last page only). */
  snapshots?: number;
  verified: boolean;
  /** The problems found, in position order (at most MAX_PROBLEMS). */
  problems: PositionProblem[];
  /** How many more problems were found than are listed. */
  more_problems?: number;
}

/** Problems listed per page at most; the rest are counted. */
export const MAX_PROBLEMS = 100;
/** Events read per batch while checking entries. */
const BATCH = 1024;
/** Head versions one page keeps at most (bounds memory). */
const HEADS_KEPT = 100_000;

/**
 * Check the index from position `from` for about `take` entries (whole runs), or to its end.
 * With `runs` (an engine's, see `IndexRuns`) the entries its verifies confirmed a moment ago
 * are not read again.
 *
 * @example
 * ```ts
 * import type { Storage } from "../store/storage.ts";
 * declare const storage: Storage;
 * let from: number | undefined = 1;
 * while (from !== undefined) {
 *   const page = await verifyPositionIndex(storage, from, 10_000);
 *   for (const p of page.problems) console.log(p.position, p.reason);
 *   from = page.next;
 * }
 * ```
 */
export async function verifyPositionIndex(
  storage: Storage,
  from: number,
  take: number,
  runs?: IndexRuns,
): Promise<PositionCheck> {
  if (!Number.isSafeInteger(from) || from < 1) {
    throw new DbxError("invalid_input", "from must be a position of at least 1");
  }
  const check = new IndexCheck(storage, from, runs);
  // The run holding `from` may start before it (one that ends before it leaves a gap).
  const key = (await runKeyAtOrBefore(storage, from)) ?? positionKey(from);
  if (!(await check.scan(key, take))) {
    await check.flush();
    return { ...check.result(await recordedLastPosition(storage)), next: check.expect };
  }
  // The end of the index, without a race against writes committed meanwhile (a write stores
  // its index record with the last position): every position up to the last one recorded
  // before a scan is in the index that scan reads, and the index a scan read holds nothing
  // beyond the last position recorded after it.
  const before = await recordedLastPosition(storage);
  await check.scan(positionKey(check.expect), Infinity);
  const lastPosition = await recordedLastPosition(storage);
  await check.flush();
  const end = check.expect - 1;
  if (end < before) {
    check.contiguous = false;
    check.problem({
      position: end + 1,
      reason: `${missing(end + 1, before)} from the global position index ` +
        `(the store's last position is ${before})`,
    });
  } else if (end > lastPosition) {
    check.problem({
      position: lastPosition + 1,
      reason: `the global position index holds ${positions(lastPosition + 1, end)}, ` +
        `beyond the store's last position ${lastPosition}`,
    });
  }
  const counted = await countEvents(storage);
  if (counted.events > counted.indexed && check.contiguous) {
    check.problem({
      position: counted.indexed + 1,
      reason: `${counted.events} events are stored but the global position index names only ` +
        `${counted.indexed}: ${counted.events - counted.indexed} are missing from it`,
    });
  }
  return {
    ...check.result(lastPosition),
    events: counted.events,
    aggregates: counted.heads,
    snapshots: counted.snapshots,
  };
}

/** One page of the whole-index check. */
class IndexCheck {
  readonly #storage: Storage;
  readonly from: number;
  /** The next position the index should hold. */
  expect: number;
  runs = 0;
  entries = 0;
  /** No gap, overlap or damaged record so far. */
  contiguous = true;
  readonly #problems: PositionProblem[] = [];
  #more = 0;
  #batch: { position: number; first: number; part: Uint8Array }[] = [];
  /**
   * Versions of readable heads read so far, by `type\0id`. A head's version only grows, so
   * one at least the version an entry names settles that entry without reading it again
   * (with many events per aggregate, most entries of a page name an aggregate seen before).
   */
  #heads = new Map<string, number>();

  readonly #runs: IndexRuns | undefined;

  constructor(storage: Storage, from: number, runs?: IndexRuns) {
    this.#storage = storage;
    this.#runs = runs;
    this.from = from;
    this.expect = from;
  }

  problem(p: PositionProblem): void {
    if (this.#problems.length < MAX_PROBLEMS) this.#problems.push(p);
    else this.#more++;
  }

  result(lastPosition: number): PositionCheck {
    const problems = [...this.#problems].sort((a, b) => a.position - b.position);
    return {
      from: this.from,
      to: this.expect - 1,
      runs: this.runs,
      entries: this.entries,
      last_position: lastPosition,
      verified: problems.length === 0,
      problems,
      ...(this.#more > 0 ? { more_problems: this.#more } : {}),
    };
  }

  /** Read runs from `key` until about `take` entries; true when the index ended. */
  async scan(key: Uint8Array, take: number): Promise<boolean> {
    const start = this.entries;
    for await (const [k, value] of this.#storage.range({ gte: key, lt: INDEX_END })) {
      const first = runFirst(k);
      if (first === undefined) {
        this.contiguous = false;
        this.problem({
          position: this.expect,
          reason: "the global position index holds a malformed key",
        });
        continue;
      }
      const run = parseRun(first, value);
      this.runs++;
      if (!run) {
        this.contiguous = false;
        this.problem({
          position: first,
          reason: `the global position index record at position ${first} is damaged`,
        });
        this.expect = Math.max(this.expect, first + 1);
        continue;
      }
      const end = first + run.starts.length; // one past the run's last position
      if (end <= this.from) continue; // the run before the page
      if (first > this.expect) {
        this.contiguous = false;
        this.problem({
          position: this.expect,
          reason: `${missing(this.expect, first - 1)} from the global position ` +
            "index (a gap)",
        });
      } else if (first < this.expect && first >= this.from) {
        this.contiguous = false;
        this.problem({
          position: first,
          reason:
            `the global position index record at position ${first} overlaps the one before it`,
        });
      }
      if (run.starts.length === 0) {
        this.contiguous = false;
        this.problem({
          position: first,
          reason: `the global position index record at position ${first} is empty`,
        });
      }
      for (let i = 0; i < run.starts.length; i++) {
        const position = first + i;
        if (position < this.from) continue;
        this.entries++;
        this.#batch.push({
          position,
          first,
          part: value.subarray(run.starts[i], run.starts[i] + run.lengths[i]),
        });
        if (this.#batch.length >= BATCH) await this.flush();
      }
      this.expect = Math.max(this.expect, end);
      if (this.entries - start >= take) return false;
    }
    return true;
  }

  /** Check the batched entries against their events and heads. */
  async flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    const named = batch.map((e) => ({ ...e, ...parseAggregatePart(e.part) }));
    // Entries a verify just confirmed need not have their event read (see IndexRuns).
    const runs = this.#runs;
    const eventKeys: Uint8Array[] = [];
    const eventAt = new Int32Array(batch.length).fill(-1);
    batch.forEach((e, i) => {
      if (runs?.confirmed(e.position, e.first)) return;
      const key = new Uint8Array(e.part.length + 1);
      key[0] = PREFIX.event;
      key.set(e.part, 1);
      eventAt[i] = eventKeys.push(key) - 1;
    });
    // The heads to read: those not seen yet, or seen below a version an entry names.
    const wanted = new Map<string, number>();
    for (const e of named) {
      const name = `${e.type}\u0000${e.id}`;
      const version = e.version ?? 0;
      if ((this.#heads.get(name) ?? -1) < version && (wanted.get(name) ?? -1) < version) {
        wanted.set(name, version);
      }
    }
    const names = [...wanted.keys()];
    const headKeys = names.map((n) => {
      const part = encoder.encode(n);
      const key = new Uint8Array(part.length + 1);
      key[0] = PREFIX.head;
      key.set(part, 1);
      return key;
    });
    const [events, heads] = await Promise.all([
      this.#storage.getMany(eventKeys),
      this.#storage.getMany(headKeys),
    ]);
    if (this.#heads.size + names.length > HEADS_KEPT) this.#heads.clear();
    const headVersions = new Map<string, number | undefined>();
    names.forEach((n, i) => {
      const value = heads[i];
      let version: number | undefined;
      try {
        version = value ? decodeHead(value).version : undefined;
      } catch {
        version = -1; // unreadable: the aggregate's own verify reports it
      }
      headVersions.set(n, version);
      if (version !== undefined && version >= 0) this.#heads.set(n, version);
    });
    named.forEach((e, i) => {
      const where = { position: e.position, aggregate_type: e.type, aggregate_id: e.id };
      if (e.version === undefined || e.version < 1) {
        this.problem({
          position: e.position,
          reason: `the global position index entry at position ${e.position} names no event`,
        });
        return;
      }
      const at = { ...where, version: e.version };
      const what = `the global position index names ${e.type}/${e.id} version ${e.version} ` +
        `at position ${e.position}`;
      const value = eventAt[i] < 0 ? undefined : events[eventAt[i]];
      if (eventAt[i] >= 0 && !value) {
        this.problem({
          ...at,
          reason: `${what}, but that event does not exist (a dangling entry)`,
        });
        return;
      }
      let stored = e.position;
      try {
        if (value) stored = decodeEventHeader(value).position;
      } catch {
        this.problem({ ...at, reason: `${what}, but that event cannot be read` });
        return;
      }
      if (stored !== e.position) {
        this.problem({ ...at, reason: `${what}, but that event is stored at position ${stored}` });
        return;
      }
      const name = `${e.type}\u0000${e.id}`;
      const head = headVersions.has(name) ? headVersions.get(name) : this.#heads.get(name);
      if (head === undefined) {
        this.problem({ ...at, reason: `${what}, but that aggregate has no head` });
      } else if (head >= 0 && e.version > head) {
        this.problem({ ...at, reason: `${what}, beyond the aggregate's head (version ${head})` });
      }
    });
  }
}

/**
 * Events stored, and positions the index names, in one consistent view of the store (one
 * iterator: RocksDB reads it from a single snapshot) so that concurrent writes cannot make
 * them differ.
 */
async function countEvents(
  storage: Storage,
): Promise<{ events: number; heads: number; snapshots: number; indexed: number }> {
  let events = 0;
  let heads = 0;
  let snapshots = 0;
  let lastRun: Uint8Array | undefined;
  for await (
    const [key] of storage.range({
      gte: Uint8Array.of(PREFIX.event),
      lt: INDEX_END,
      keysOnly: true,
    })
  ) {
    if (key[0] === PREFIX.event) events++;
    else if (key[0] === PREFIX.head) heads++;
    else if (key[0] === PREFIX.snapshot) snapshots++;
    else if (key[0] === PREFIX.position && key.length === 9) lastRun = Uint8Array.from(key);
  }
  if (!lastRun) return { events, heads, snapshots, indexed: 0 };
  // Index records are written once: reading the last one afterwards gives its length then.
  const value = await storage.get(lastRun);
  const run = value ? parseRun(readU64(lastRun, 1), value) : undefined;
  const indexed = run ? run.first + run.starts.length - 1 : readU64(lastRun, 1);
  return { events, heads, snapshots, indexed };
}
