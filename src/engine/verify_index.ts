/**
 * Verification of the global position index (keys.ts: `P<first position>` → the run of
 * `<type>\0<id>\0<version>` parts committed by one write, codec.ts `encodePositionRun`).
 *
 * - `PositionCursor`: one aggregate's events in version order — the index must name each
 *   event at the position stored with it.
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

/**
 * Checks, event by event in version order, that the index names each event of one aggregate
 * at the position stored with it.
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
  #run: IndexRun | undefined;
  #ahead: AsyncIterator<[Uint8Array, Uint8Array]> | undefined;

  constructor(storage: Storage, part: Uint8Array) {
    this.#storage = storage;
    this.#prefix = new Uint8Array(part.length + 1);
    this.#prefix.set(part);
  }

  /** Why event `version`, stored at `position`, is not where the index says (else undefined). */
  check(version: number, position: number): Promise<string | undefined> | string | undefined {
    if (!Number.isSafeInteger(position) || position < 1) {
      return `event ${version} has no valid position`;
    }
    const run = this.#run;
    if (run && position >= run.first && position < run.first + run.starts.length) {
      return this.#compare(run, version, position);
    }
    return this.#load(position).then((found) =>
      found
        ? this.#compare(found, version, position)
        : `event ${version} is stored at position ${position}, which the global position index does not hold`
    );
  }

  /** End the read-ahead iterator. */
  async close(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    await ahead?.return?.();
  }

  #compare(run: IndexRun, version: number, position: number): string | undefined {
    const i = position - run.first;
    const start = run.starts[i];
    const length = run.lengths[i];
    const prefix = this.#prefix;
    const value = run.value;
    let same = length === prefix.length + 8;
    for (let j = 0; same && j < prefix.length; j++) same = value[start + j] === prefix[j];
    if (same && readU64(value, start + prefix.length) === version) return undefined;
    return `the global position index does not name event ${version} at its position ${position}`;
  }

  /** The run holding `position`: read ahead when it is near, else seek. */
  async #load(position: number): Promise<IndexRun | undefined> {
    const run = this.#run;
    if (this.#ahead && run && position >= run.first) {
      for (let i = 0; i < READ_AHEAD_RUNS; i++) {
        const next = await this.#next();
        if (!next) break;
        if (next.first > position) break;
        if (position < next.first + next.starts.length) return next;
      }
    }
    await this.close();
    this.#run = undefined;
    const key = await runKeyAtOrBefore(this.#storage, position);
    if (!key) return undefined;
    this.#ahead = this.#storage.range({ gte: key, lt: INDEX_END })[Symbol.asyncIterator]();
    const found = await this.#next();
    return found && position < found.first + found.starts.length ? found : undefined;
  }

  /** The next readable run of the read-ahead iterator (it becomes the current run). */
  async #next(): Promise<IndexRun | undefined> {
    for (;;) {
      const step = await this.#ahead!.next();
      if (step.done) return undefined;
      const [key, value] = step.value;
      const first = runFirst(key);
      const run = first === undefined ? undefined : parseRun(first, Uint8Array.from(value));
      if (run) return (this.#run = run);
    }
  }
}

// --- entries beyond a head -------------------------------------------------------------

/** How long a summary stays usable after its last use. */
const TAIL_TTL_MS = 30_000;
/** Beyond this many aggregates a summary is not kept between verifies (bounds memory). */
const TAIL_MAX_AGGREGATES = 200_000;

/**
 * The highest version the index names for each aggregate over a range of positions that
 * always reaches the end of the index: each query extends it (back to the position asked
 * for, forward to the new end), so consecutive verifies read every index record once.
 * Index records are written once and never changed, so what was read stays true for the
 * life of the summary (a short while, see TAIL_TTL_MS).
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
  #highest = new Map<string, number>();
  #usedAt = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** Drops a kept summary once it is no longer used (its memory with it). */
  #expiry: ReturnType<typeof setTimeout> | undefined;
  readonly #keep: boolean;

  /** `keep`: reuse the summary between queries (an engine's); else each query starts anew. */
  constructor(keep = false) {
    this.#keep = keep;
  }

  /** The highest version the index names for aggregate `part` after position `after` (0: none). */
  highestAfter(storage: Storage, part: Uint8Array, after: number): Promise<number> {
    const run = this.#queue.then(() => this.#highestAfter(storage, part, after));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #highestAfter(storage: Storage, part: Uint8Array, after: number): Promise<number> {
    const start = Math.max(1, after + 1);
    if (!this.#keep || Date.now() - this.#usedAt > TAIL_TTL_MS || this.#from > this.#to) {
      this.#reset();
      this.#to = await this.#scan(storage, start, Infinity, start - 1);
      this.#from = start;
    } else {
      if (start < this.#from) {
        await this.#scan(storage, start, this.#from - 1, 0);
        this.#from = start;
      }
      this.#to = await this.#scan(storage, this.#to + 1, Infinity, this.#to);
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
  }

  /** Fold the entries at positions [from, to] into the summary; returns the last position seen. */
  async #scan(storage: Storage, from: number, to: number, seen: number): Promise<number> {
    const key = (await runKeyAtOrBefore(storage, from)) ?? positionKey(from);
    for await (const [k, value] of storage.range({ gte: key, lt: INDEX_END })) {
      const first = runFirst(k);
      if (first === undefined) continue;
      if (first > to) break;
      const run = parseRun(first, value);
      if (!run) continue; // damaged: verifyPositionIndex reports it
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

/**
 * Check the index from position `from` for about `take` entries (whole runs), or to its end.
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
): Promise<PositionCheck> {
  if (!Number.isSafeInteger(from) || from < 1) {
    throw new DbxError("invalid_input", "from must be a position of at least 1");
  }
  const check = new IndexCheck(storage, from);
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
  #batch: { position: number; part: Uint8Array }[] = [];

  constructor(storage: Storage, from: number) {
    this.#storage = storage;
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
    const eventKeys = batch.map((e) => {
      const key = new Uint8Array(e.part.length + 1);
      key[0] = PREFIX.event;
      key.set(e.part, 1);
      return key;
    });
    const names = [...new Set(named.map((e) => `${e.type}\u0000${e.id}`))];
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
      const value = events[i];
      if (!value) {
        this.problem({
          ...at,
          reason: `${what}, but that event does not exist (a dangling entry)`,
        });
        return;
      }
      let stored: number;
      try {
        stored = decodeEventHeader(value).position;
      } catch {
        this.problem({ ...at, reason: `${what}, but that event cannot be read` });
        return;
      }
      if (stored !== e.position) {
        this.problem({ ...at, reason: `${what}, but that event is stored at position ${stored}` });
        return;
      }
      const head = headVersions.get(`${e.type}\u0000${e.id}`);
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
