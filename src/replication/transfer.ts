/**
 * Moving events from a source side to a sink side, fast-forward only, per aggregate:
 *
 * - the sink has nothing, or a prefix of the source's history (same version, same Merkle
 *   root at that version): the missing events move, in batches;
 * - the sink is at the same version with the same root: nothing moves;
 * - otherwise (a different root at the sink's version, or the sink ahead) the aggregate has
 *   diverged: it is reported, naming both roots, and nothing of it moves.
 *
 * Each batch is committed by the sink on its own (and checked there again, event by event),
 * so an interrupted transfer resumes from the sink's head: running it again moves only what
 * is missing, and nothing once both sides agree. Memory is bounded by one page of heads and
 * a few batches of events (`moveAll`), whatever the size of the source.
 */
import { Buffer } from "node:buffer";
import type { AggregateRef, AggregateSchema, EventRecord } from "../api/operations.ts";
import { isDbxError } from "../errors.ts";
import { canonicalJson } from "../integrity/canonical_json.ts";
import type { AggregateHead, ReplicationSide } from "./requests.ts";

/** Events per batch unless told otherwise. */
export const DEFAULT_BATCH_SIZE = 500;
/** Largest batch, in events (the sink's import limit is larger). */
export const MAX_BATCH_SIZE = 10_000;
/** Aggregates compared per round trip. */
const HEADS_PAGE = 500;
/** Events asked for per read (the sides cap pages at their page limit anyway). */
const EVENTS_PAGE = 1000;
/**
 * Events asked of the source before they are used, and events in imports queued at the sink
 * (each import is all or nothing on its own). Enough that one synced write at the sink
 * carries a few thousand events even when aggregates are small (the sink's writer commits
 * every import queued during a write in the next one), few enough that memory stays small.
 */
const EVENTS_AHEAD = 2000;
const EVENTS_IN_FLIGHT = 4000;
/** At most this many page reads, and imports, outstanding at once. */
const MAX_OUTSTANDING = 64;
/** A batch is cut before its JSON passes this many bytes (a frame is at most 16 MiB). */
const BATCH_BYTES = 4 << 20;
/** At most this many JSON bytes of events in imports queued at the sink. */
const BYTES_IN_FLIGHT = 16 << 20;

/** Which aggregates a transfer covers: all, or the union of the types and ids named. */
export interface TransferFilter {
  aggregateTypes?: string[];
  aggregateIds?: AggregateRef[];
}

/** One aggregate that did not fast-forward. */
export interface Divergence extends AggregateRef {
  message: string;
  source_version: number;
  source_root: string | null;
  sink_version: number;
  sink_root: string | null;
}

/** What a transfer did (or, in a dry run, would do). */
export interface TransferSummary {
  dry_run: boolean;
  /** Aggregates compared. */
  aggregates: number;
  /** Aggregates that received (or would receive) events. */
  moved_aggregates: number;
  events: number;
  /** JSON bytes of the events moved. */
  bytes: number;
  up_to_date: number;
  diverged: Divergence[];
  /** Schemas copied (or, in a dry run, that would be): those that differ on the sink. */
  schemas: number;
  /** Aggregates whose import the sink refused (e.g. a tampered event), with the reason. */
  failed: (AggregateRef & { message: string })[];
  elapsed_ms: number;
}

/** Progress after each step, for a progress line. */
export interface TransferProgress {
  aggregates: number;
  events: number;
  bytes: number;
}

export interface TransferOptions {
  source: ReplicationSide;
  sink: ReplicationSide;
  /** "local" / "remote standby": how the messages name each side. */
  sourceName: string;
  sinkName: string;
  filter?: TransferFilter;
  batchSize?: number;
  dryRun?: boolean;
  /** Copy schemas too ("with"), or only schemas ("only"); default: events only. */
  schemas?: "with" | "only";
  onProgress?: (progress: TransferProgress) => void;
}

/** The source's heads the filter covers, a page at a time. */
async function* sourceHeads(
  source: ReplicationSide,
  filter: TransferFilter,
): AsyncIterable<AggregateHead[]> {
  const types = filter.aggregateTypes ?? [];
  const ids = filter.aggregateIds ?? [];
  const everything = types.length === 0 && ids.length === 0;
  const listed = async function* (type: string | undefined) {
    let skip: number | undefined = 0;
    while (skip !== undefined) {
      const page = await source.listHeads({ aggregate_type: type, skip, take: HEADS_PAGE });
      if (page.items.length > 0) yield page.items;
      skip = page.items.length === 0 ? undefined : page.next;
    }
  };
  if (everything) {
    yield* listed(undefined);
    return;
  }
  const typeSet = new Set(types);
  for (const type of typeSet) yield* listed(type);
  // Named aggregates not already covered by a named type.
  const rest = dedupe(ids.filter((r) => !typeSet.has(r.aggregate_type)));
  for (let i = 0; i < rest.length; i += HEADS_PAGE) {
    const heads = await source.heads(rest.slice(i, i + HEADS_PAGE));
    const present = heads.filter((h) => h.version > 0);
    if (present.length > 0) yield present;
  }
}

function dedupe(refs: AggregateRef[]): AggregateRef[] {
  const seen = new Set<string>();
  return refs.filter((r) => {
    const key = `${r.aggregate_type}\u0000${r.aggregate_id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The source's root at `version` (its event's stored root). */
async function rootAt(
  side: ReplicationSide,
  ref: AggregateRef,
  version: number,
): Promise<string | null> {
  const [event] = await side.events({ ...ref, skip: version - 1, take: 1 });
  return event?.version === version ? event.merkle_root : null;
}

/** An event as imported: everything but this node's position. */
function portable(e: EventRecord): Omit<EventRecord, "position"> {
  const { position: _position, ...rest } = e;
  return rest;
}

/**
 * Run a transfer from `source` to `sink`.
 *
 * @example
 * ```ts
 * import type { ReplicationSide } from "./requests.ts";
 * declare const local: ReplicationSide;
 * declare const remote: ReplicationSide;
 * const summary = await transfer({
 *   source: local, sink: remote, sourceName: "local", sinkName: "remote standby",
 * });
 * console.log(summary.events, summary.diverged.length);
 * ```
 */
export async function transfer(options: TransferOptions): Promise<TransferSummary> {
  const started = performance.now();
  const { source, sink, sourceName, sinkName } = options;
  const batchSize = Math.min(options.batchSize ?? DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE);
  const summary: TransferSummary = {
    dry_run: options.dryRun === true,
    aggregates: 0,
    moved_aggregates: 0,
    events: 0,
    bytes: 0,
    up_to_date: 0,
    schemas: 0,
    diverged: [],
    failed: [],
    elapsed_ms: 0,
  };
  const progress = () =>
    options.onProgress?.({
      aggregates: summary.aggregates,
      events: summary.events,
      bytes: summary.bytes,
    });
  const seen = new Set<string>();

  if (options.schemas) {
    summary.schemas = await copySchemas(source, sink, options.filter ?? {}, options.dryRun);
    if (options.schemas === "only") {
      summary.elapsed_ms = Math.round(performance.now() - started);
      return summary;
    }
  }

  for await (const page of sourceHeads(source, options.filter ?? {})) {
    const fresh = page.filter((h) => {
      const key = `${h.aggregate_type}\u0000${h.aggregate_id}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (fresh.length === 0) continue;
    const sinkHeads = await sink.heads(
      fresh.map((h) => ({ aggregate_type: h.aggregate_type, aggregate_id: h.aggregate_id })),
    );
    const moves: Move[] = [];
    for (const [i, from] of fresh.entries()) {
      const at = sinkHeads[i];
      summary.aggregates++;
      const ref = { aggregate_type: from.aggregate_type, aggregate_id: from.aggregate_id };
      const name = `${ref.aggregate_type}/${ref.aggregate_id}`;
      const diverge = (message: string) =>
        summary.diverged.push({
          ...ref,
          message,
          source_version: from.version,
          source_root: from.merkle_root,
          sink_version: at.version,
          sink_root: at.merkle_root,
        });
      if (at.version > from.version) {
        diverge(
          `aggregate ${name} is ahead on the ${sinkName} side (version ${at.version}, root ` +
            `${at.merkle_root}) of the ${sourceName} side (version ${from.version}, root ` +
            `${from.merkle_root}); fast-forward only, nothing moved`,
        );
        continue;
      }
      if (at.version === from.version) {
        if (at.merkle_root === from.merkle_root) summary.up_to_date++;
        else {
          diverge(
            `aggregate ${name} has diverged at version ${at.version}: ${sourceName} root ` +
              `${from.merkle_root}, ${sinkName} root ${at.merkle_root}; nothing moved`,
          );
        }
        continue;
      }
      if (at.version > 0) {
        const sourceRoot = await rootAt(source, ref, at.version);
        if (sourceRoot !== at.merkle_root) {
          diverge(
            `aggregate ${name} has diverged at version ${at.version}: ${sourceName} root ` +
              `${sourceRoot}, ${sinkName} root ${at.merkle_root}; nothing moved`,
          );
          continue;
        }
      }
      summary.moved_aggregates++;
      if (options.dryRun) {
        summary.events += from.version - at.version;
        progress();
        continue;
      }
      moves.push({ ref, have: at.version, want: from.version });
    }
    await moveAll(source, sink, moves, batchSize, summary, progress);
    progress();
  }
  summary.elapsed_ms = Math.round(performance.now() - started);
  return summary;
}

/**
 * Copy the source's schemas the filter covers (the types named, and those of the aggregates
 * named) that differ on the sink; returns how many. A schema is copied whole, with its
 * times, so a copied schema compares equal afterwards and is not copied again.
 */
async function copySchemas(
  source: ReplicationSide,
  sink: ReplicationSide,
  filter: TransferFilter,
  dryRun: boolean | undefined,
): Promise<number> {
  const types = new Set([
    ...(filter.aggregateTypes ?? []),
    ...(filter.aggregateIds ?? []).map((r) => r.aggregate_type),
  ]);
  const wanted = (await source.schemas()).filter((s) => types.size === 0 || types.has(s.aggregate));
  if (wanted.length === 0) return 0;
  const present = new Map<string, string>();
  for (const s of await sink.schemas()) present.set(s.aggregate, canonicalJson(s));
  const differing: AggregateSchema[] = wanted.filter((s) =>
    present.get(s.aggregate) !== canonicalJson(s)
  );
  if (differing.length > 0 && !dryRun) await sink.importSchemas(differing);
  return differing.length;
}

/** Versions (have, want] of one aggregate to move. */
interface Move {
  ref: AggregateRef;
  have: number;
  want: number;
}

/** One batch to import: events of one move, cut by count and size. */
interface Batch {
  move: Move;
  events: Omit<EventRecord, "position">[];
  bytes: number;
}

/** One page of a move to read: versions (skip, skip + take]. */
interface Page {
  move: Move;
  skip: number;
  take: number;
}

/**
 * Read the moves' events from the source, a page at a time, cut into batches. Page reads
 * for about EVENTS_AHEAD events are asked for before their pages are used, so the source
 * (and the link) work while the sink imports; pages are used in order.
 */
async function* batchesOf(
  source: ReplicationSide,
  moves: Move[],
  batchSize: number,
): AsyncGenerator<Batch> {
  const size = Math.min(batchSize, EVENTS_PAGE);
  const pages = (function* (): Generator<Page> {
    for (const move of moves) {
      for (let skip = move.have; skip < move.want; skip += size) {
        yield { move, skip, take: Math.min(size, move.want - skip) };
      }
    }
  })();
  const read = (page: Page, skip = page.skip, take = page.take) =>
    source.events({ ...page.move.ref, skip, take });
  const queue: { page: Page; events: Promise<EventRecord[]> }[] = [];
  const ahead = Math.min(MAX_OUTSTANDING, Math.max(2, Math.ceil(EVENTS_AHEAD / size)));
  const fill = () => {
    while (queue.length < ahead) {
      const next = pages.next();
      if (next.done) return;
      const events = read(next.value);
      // Awaited in turn below; one that fails after the transfer ended must not go unhandled.
      events.catch(() => {});
      queue.push({ page: next.value, events });
    }
  };
  /** Moves the source holds fewer events of than it listed (changed meanwhile): no more pages. */
  const short = new Set<Move>();
  for (fill(); queue.length > 0; fill()) {
    const { page, events: reading } = queue.shift()!;
    fill();
    let received = await reading;
    if (short.has(page.move)) continue;
    // A source may cap a page below what was asked: read the rest before the next page.
    while (received.length < page.take) {
      const more = await read(page, page.skip + received.length, page.take - received.length);
      if (more.length === 0) break;
      received = received.concat(more);
    }
    if (received.length < page.take) short.add(page.move);
    if (received.length === 0) continue;
    const events = received.map(portable);
    // The whole page's size first (one pass, no copy): most pages fit in one batch.
    const pageBytes = Buffer.byteLength(JSON.stringify(events)) - events.length - 1;
    if (pageBytes <= BATCH_BYTES) {
      yield { move: page.move, events, bytes: pageBytes };
      continue;
    }
    // Cut by size too: one huge payload must not make a frame too large.
    let batch: Batch = { move: page.move, events: [], bytes: 0 };
    for (const event of events) {
      const size = Buffer.byteLength(JSON.stringify(event));
      if (batch.events.length > 0 && batch.bytes + size > BATCH_BYTES) {
        yield batch;
        batch = { move: page.move, events: [], bytes: 0 };
      }
      batch.events.push(event);
      batch.bytes += size;
    }
    yield batch;
  }
}

/**
 * Import the moves' batches in order, reading the next batch from the source while the sink
 * imports, and keeping up to EVENTS_IN_FLIGHT events' imports queued at the sink: its writer then
 * prepares the next batch while the previous one syncs, and commits the batches that queued
 * meanwhile in one synced write. Batches of one aggregate queue in version order, so the
 * sink's head stays a prefix of the source's history whenever the transfer stops. Memory
 * stays bounded: one page read ahead plus the batches in flight.
 *
 * A batch the sink refuses (tampered, diverged meanwhile, archived) wrote nothing; that
 * aggregate is reported once (the batches of it still in flight fail too, as not following
 * its head, and are not reported again) and skipped, the others go on. A lost connection
 * or an internal error ends the transfer.
 */
async function moveAll(
  source: ReplicationSide,
  sink: ReplicationSide,
  moves: Move[],
  batchSize: number,
  summary: TransferSummary,
  progress: () => void,
): Promise<void> {
  const failed = new Set<Move>();
  const batches = batchesOf(source, moves, batchSize);
  const inFlight: { batch: Batch; done: Promise<{ imported: number }> }[] = [];
  let fatal: unknown;
  const send = (batch: Batch) => sink.importEvents({ ...batch.move.ref, events: batch.events });
  const settleOldest = async () => {
    const { batch, done } = inFlight.shift()!;
    let result: { imported: number } | undefined;
    let error: unknown;
    try {
      result = await done;
    } catch (err) {
      error = err;
      // Batches in flight may reach the sink's writer out of order (e.g. over several
      // connections to a running server): one that found the aggregate behind its first
      // version, after the batch before it went in, is sent again, now in order.
      if (!failed.has(batch.move) && behind(err, batch)) {
        result = await send(batch).catch((again) => (error = again, undefined));
      }
    }
    if (result === undefined) {
      if (!isDbxError(error) || error.code === "unavailable" || error.code === "internal") {
        fatal ??= error;
        return;
      }
      if (failed.has(batch.move)) return;
      failed.add(batch.move);
      summary.failed.push({ ...batch.move.ref, message: error.message });
      return;
    }
    summary.events += result.imported;
    summary.bytes += batch.bytes;
    progress();
  };
  let ahead = batches.next();
  let events = 0;
  let bytes = 0;
  try {
    while (fatal === undefined) {
      const step = await ahead;
      if (step.done) break;
      ahead = batches.next();
      // Settled later in this loop; a transfer ended by an error must not leave it unhandled.
      ahead.catch(() => {});
      const batch = step.value;
      if (failed.has(batch.move)) continue;
      const done = send(batch);
      done.catch(() => {});
      inFlight.push({ batch, done });
      events += batch.events.length;
      bytes += batch.bytes;
      while (
        inFlight.length >= MAX_OUTSTANDING || events >= EVENTS_IN_FLIGHT ||
        bytes >= BYTES_IN_FLIGHT
      ) {
        events -= inFlight[0].batch.events.length;
        bytes -= inFlight[0].batch.bytes;
        await settleOldest();
      }
    }
  } finally {
    // Settle whatever was sent, also when reading the source failed.
    while (inFlight.length > 0) await settleOldest();
  }
  if (fatal !== undefined) throw fatal;
}

/** Whether a refused import found the aggregate short of the version before its first. */
function behind(err: unknown, batch: Batch): boolean {
  const current = isDbxError(err, "conflict") ? err.details?.current_version : undefined;
  return typeof current === "number" && current < batch.events[0].version - 1;
}
