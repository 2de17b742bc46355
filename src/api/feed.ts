/**
 * The engine's feed: every committed event after a global position, in position order, each
 * exactly once, filtered by data (resource patterns and aggregate types, not a callback).
 * Event streams use it now; gRPC subscriptions, replication and plugins follow the same feed.
 *
 * How it stays gap-free and duplicate-free:
 * - It subscribes to the engine's commits *before* it reads anything, so an event is either
 *   already readable from storage (the engine notifies only after the synced write) or
 *   arrives through the subscription.
 * - One cursor (the last position handled, delivered or filtered out) decides everything: a
 *   record at or below it is skipped; the next records come from the live buffer when it
 *   continues exactly at cursor + 1, otherwise from storage (`eventsAfter(cursor)`), which
 *   also fills any hole.
 * - The live buffer is bounded: past `maxBuffered` records it is dropped and the feed
 *   catches up from storage instead, so memory stays bounded and nothing is lost. The
 *   highest position ever announced is kept apart from the buffer, so a dropped buffer can
 *   never leave the feed waiting while storage holds events it has not read.
 * - It is pull-based: nothing is read while the consumer is not asking.
 */
import { matchAny } from "../auth/scope.ts";
import { aggregateResource } from "../auth/authority.ts";
import type { Engine } from "../engine/engine.ts";
import type { EventRecord } from "../engine/types.ts";

/** Which events a feed delivers; every field given must match. */
export interface FeedFilter {
  /** Resource patterns (`aggregate:TYPE:ID`, `*`/`?` wildcards) of readable aggregates. */
  resources?: readonly string[];
  /** Aggregate types to deliver. */
  aggregate_types?: readonly string[];
}

export interface FeedOptions {
  /** Deliver events with a position above this; absent: only events committed from now on. */
  after?: number;
  filter?: FeedFilter;
  /** Live records held for a slow consumer before it catches up from storage (default 1000). */
  maxBuffered?: number;
  /** Records read from storage at a time (default 500). */
  pageSize?: number;
}

/** An open feed. */
export interface FeedSubscription {
  /**
   * The next events (at least one) that pass the filter; an empty list when `waitMs`
   * passed first; `null` once the feed is closed.
   */
  next(waitMs: number): Promise<EventRecord[] | null>;
  /** The last position handled (delivered or filtered out). */
  readonly position: number;
  close(): void;
}

const DEFAULTS = { maxBuffered: 1000, pageSize: 500 };

/**
 * Open a feed. It subscribes at once (before resolving), so events committed after this
 * call are never missed.
 *
 * @example
 * ```ts
 * import type { Engine } from "../engine/engine.ts";
 * import type { EventRecord } from "./operations.ts";
 * declare const engine: Engine;
 * const feed = await openFeed(engine, { after: 0, filter: { aggregate_types: ["patient"] } });
 * const events = await feed.next(1000); // EventRecord[] | null
 * feed.close();
 * ```
 */
export async function openFeed(
  engine: Engine,
  options: FeedOptions = {},
): Promise<FeedSubscription> {
  const maxBuffered = options.maxBuffered ?? DEFAULTS.maxBuffered;
  const pageSize = options.pageSize ?? DEFAULTS.pageSize;
  const accept = compileFilter(options.filter);
  let buffer: EventRecord[] = [];
  /** The highest position the engine has announced (buffered or not). */
  let announced = 0;
  let closed = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const unsubscribe = engine.onCommit((records) => {
    if (closed || records.length === 0) return;
    announced = records[records.length - 1].position;
    // Drop rather than grow: the cursor then finds a hole and reads storage.
    if (buffer.length + records.length > maxBuffered) buffer = [];
    else buffer.push(...records);
    notify();
  });
  let cursor: number;
  try {
    cursor = options.after ?? await engine.lastPosition();
  } catch (err) {
    unsubscribe();
    throw err;
  }
  announced = Math.max(announced, await engine.lastPosition());

  /** Records after the cursor, from the buffer when it continues the cursor, else storage. */
  const read = async (): Promise<EventRecord[]> => {
    const start = buffer.findIndex((r) => r.position > cursor);
    if (start >= 0 && buffer[start].position === cursor + 1) {
      const run = buffer.slice(start);
      buffer = [];
      return run;
    }
    if (start < 0) buffer = [];
    if (cursor >= announced) return [];
    return await engine.eventsAfter(cursor, pageSize);
  };

  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, Math.max(0, ms));
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  return {
    get position() {
      return cursor;
    },
    async next(waitMs: number): Promise<EventRecord[] | null> {
      const deadline = Date.now() + waitMs;
      while (!closed) {
        const records = await read();
        if (closed) break;
        const out: EventRecord[] = [];
        for (const record of records) {
          if (record.position <= cursor) continue;
          cursor = record.position;
          if (accept(record)) out.push(record);
        }
        if (out.length > 0) return out;
        // Everything read was filtered out: keep reading.
        if (records.length > 0) continue;
        const left = deadline - Date.now();
        if (left <= 0) return [];
        await idle(left);
      }
      return null;
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      buffer = [];
      notify();
    },
  };
}

function compileFilter(filter: FeedFilter | undefined): (record: EventRecord) => boolean {
  const resources = filter?.resources;
  const types = filter?.aggregate_types ? new Set(filter.aggregate_types) : undefined;
  const everyResource = resources === undefined || resources.includes("*");
  if (everyResource && !types) return () => true;
  return (r) =>
    (!types || types.has(r.aggregate_type)) &&
    (everyResource || matchAny(resources!, aggregateResource(r.aggregate_type, r.aggregate_id)));
}
