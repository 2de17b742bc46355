/**
 * What delivery remembers per plugin, in a RocksDB store of its own
 * (`<data-dir>/plugin_queue`, opened through the storage interface): the cursor (the last
 * global position the plugin acknowledged, or handed to its retry queue) and the retry
 * queue (events that failed, or wait behind a failed one of the same aggregate; dead ones
 * after `plugin_max_attempts`).
 *
 * Key layout (plugin names are labels, so they never hold a NUL):
 *
 *   c<plugin>                     cursor (u64)
 *   q<plugin>\0<position u64>     queue entry (JSON), in position order
 *
 * A cursor move and the queue entries it hands over are one atomic batch: after any crash
 * the store holds a consistent prefix of what was written, so an event is either behind
 * the cursor (delivered or queued) or after it (delivered again). Delivery writes without
 * waiting for the disk (the write is in the OS once it returns, which survives kill -9);
 * a power loss can only move a cursor back, which repeats deliveries and loses none.
 */
import { concatBytes } from "../../util/concat_bytes.ts";
import { join } from "node:path";
import { encodeU64, readU64 } from "../../engine/keys.ts";
import type { EventRecord } from "../../engine/types.ts";
import { DbxError } from "../../errors.ts";
import { openRocksStorage } from "../../store/rocksdb.ts";
import type { BatchOp, Storage } from "../../store/storage.ts";

/** Directory of the delivery store inside a data directory. */
export const DELIVERY_STORE_DIR = "plugin_queue";

/**
 * Where a data directory keeps its delivery state.
 *
 * @example
 * ```ts
 * deliveryStorePath("/tmp/db"); // "/tmp/db/plugin_queue"
 * ```
 */
export function deliveryStorePath(dataDir: string): string {
  return join(dataDir, DELIVERY_STORE_DIR);
}

/** An event in a plugin's retry queue. */
export interface QueueEntry {
  plugin: string;
  position: number;
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  version: number;
  /** pending: waits for its next attempt (or for an earlier event of its aggregate). */
  status: "pending" | "dead";
  /** Attempts made so far (0: never tried, it waits behind an earlier event). */
  attempts: number;
  /** Epoch milliseconds of the next attempt (pending entries that were tried). */
  next_attempt_at: number | null;
  last_error: string | null;
  /** When it entered the queue (RFC 3339). */
  queued_at: string;
}

/**
 * A committed event entering a plugin's queue, not tried yet.
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../../engine/types.ts";
 * declare const record: EventRecord;
 * queueEntry("audit", record, new Date().toISOString()).status; // "pending"
 * ```
 */
export function queueEntry(plugin: string, record: EventRecord, queuedAt: string): QueueEntry {
  return {
    plugin,
    position: record.position,
    event_id: record.metadata.event_id,
    aggregate_type: record.aggregate_type,
    aggregate_id: record.aggregate_id,
    event_type: record.event_type,
    version: record.version,
    status: "pending",
    attempts: 0,
    next_attempt_at: null,
    last_error: null,
    queued_at: queuedAt,
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const CURSOR = 0x63; // c
const QUEUE = 0x71; // q

const cursorKey = (plugin: string) => concatBytes(Uint8Array.of(CURSOR), enc.encode(plugin));
const queuePrefix = (plugin?: string) =>
  plugin === undefined
    ? Uint8Array.of(QUEUE)
    : concatBytes(Uint8Array.of(QUEUE), enc.encode(plugin), Uint8Array.of(0));
const entryKey = (plugin: string, position: number) =>
  concatBytes(queuePrefix(plugin), encodeU64(position));

function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  end[end.length - 1]++; // the prefixes end in 0x00 or are one letter: no overflow
  return end;
}

function decodeEntry(value: Uint8Array): QueueEntry {
  try {
    return JSON.parse(dec.decode(value)) as QueueEntry;
  } catch {
    throw new DbxError("corrupt", "a plugin queue entry is not valid JSON");
  }
}

/** A cursor move with the queue changes that go with it, written as one batch. */
export interface StateChange {
  cursor?: number;
  put?: QueueEntry[];
  remove?: QueueEntry[];
}

/** Which entries a query covers. */
export interface EntryFilter {
  plugin?: string;
  status?: "pending" | "dead";
  event_id?: string;
}

/**
 * The delivery state of one data directory.
 *
 * @example
 * ```ts
 * const state = await DeliveryState.open("/tmp/db");
 * await state.initCursor("audit", 0);
 * await state.cursor("audit"); // 0
 * await state.close();
 * ```
 */
export class DeliveryState {
  readonly #storage: Storage;
  readonly #listeners = new Set<(plugin: string | undefined) => void>();

  private constructor(storage: Storage) {
    this.#storage = storage;
  }

  /** Open (creating) the delivery store of a data directory. */
  static async open(dataDir: string): Promise<DeliveryState> {
    const path = deliveryStorePath(dataDir);
    // Private like the event store: the queue names aggregates, events and errors.
    await Deno.mkdir(path, { recursive: true, mode: 0o700 });
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o700);
    return new DeliveryState(await openRocksStorage(path));
  }

  /** Be told when an operation changed a queue (retry, clear, replay): the plugin, or all. */
  onChange(listener: (plugin: string | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(plugin: string | undefined): void {
    for (const listener of this.#listeners) listener(plugin);
  }

  /** The plugin's cursor, or undefined before it has one. */
  async cursor(plugin: string): Promise<number | undefined> {
    const value = await this.#storage.get(cursorKey(plugin));
    return value ? readU64(value) : undefined;
  }

  /** Give a plugin its first cursor (kept when it has one already); returns the cursor. */
  async initCursor(plugin: string, position: number): Promise<number> {
    const current = await this.cursor(plugin);
    if (current !== undefined) return current;
    await this.#storage.write(
      [{ type: "put", key: cursorKey(plugin), value: encodeU64(position) }],
      {
        sync: true,
      },
    );
    return position;
  }

  /** Move the cursor and change queue entries, atomically. */
  async apply(plugin: string, change: StateChange, sync = false): Promise<void> {
    const ops: BatchOp[] = [];
    if (change.cursor !== undefined) {
      ops.push({ type: "put", key: cursorKey(plugin), value: encodeU64(change.cursor) });
    }
    for (const e of change.remove ?? []) {
      ops.push({ type: "del", key: entryKey(plugin, e.position) });
    }
    for (const e of change.put ?? []) {
      ops.push({
        type: "put",
        key: entryKey(plugin, e.position),
        value: enc.encode(JSON.stringify(e)),
      });
    }
    await this.#storage.write(ops, { sync });
  }

  /** Queue entries in plugin then position order, at most `limit`. */
  async entries(filter: EntryFilter = {}, limit = Infinity): Promise<QueueEntry[]> {
    const out: QueueEntry[] = [];
    if (limit <= 0) return out;
    for await (const [, value] of this.#range(filter.plugin)) {
      const entry = decodeEntry(value);
      if (filter.status && entry.status !== filter.status) continue;
      if (filter.event_id && entry.event_id !== filter.event_id) continue;
      out.push(entry);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Pending and dead entries per plugin. */
  async counts(plugin?: string): Promise<Map<string, { pending: number; dead: number }>> {
    const out = new Map<string, { pending: number; dead: number }>();
    for await (const [, value] of this.#range(plugin)) {
      const entry = decodeEntry(value);
      const count = out.get(entry.plugin) ?? { pending: 0, dead: 0 };
      count[entry.status]++;
      out.set(entry.plugin, count);
    }
    return out;
  }

  #range(plugin?: string): AsyncIterable<[Uint8Array, Uint8Array]> {
    const prefix = queuePrefix(plugin);
    return this.#storage.range({ gte: prefix, lt: prefixEnd(prefix) });
  }

  /**
   * Make entries due now with a fresh count of attempts (dead ones come back to life);
   * returns how many.
   */
  async retry(filter: Omit<EntryFilter, "status"> = {}): Promise<number> {
    const entries = await this.entries(filter);
    const byPlugin = groupByPlugin(entries.map((e) => ({
      ...e,
      status: "pending" as const,
      attempts: 0,
      next_attempt_at: null,
    })));
    for (const [plugin, put] of byPlugin) await this.apply(plugin, { put }, true);
    if (entries.length > 0) this.#changed(filter.plugin);
    return entries.length;
  }

  /** Remove entries (by default the dead ones); returns how many. */
  async clear(filter: EntryFilter = { status: "dead" }): Promise<number> {
    const entries = await this.entries(filter);
    for (const [plugin, remove] of groupByPlugin(entries)) {
      await this.apply(plugin, { remove }, true);
    }
    if (entries.length > 0) this.#changed(filter.plugin);
    return entries.length;
  }

  /** Queue events for a plugin again (a replay): due now, kept once per position. */
  async enqueue(plugin: string, entries: QueueEntry[]): Promise<void> {
    await this.apply(plugin, { put: entries }, true);
    this.#changed(plugin);
  }

  /** Forget a plugin: its cursor and its queue. */
  async drop(plugin: string): Promise<void> {
    const ops: BatchOp[] = [{ type: "del", key: cursorKey(plugin) }];
    for await (const [key] of this.#range(plugin)) ops.push({ type: "del", key });
    await this.#storage.write(ops, { sync: true });
    this.#changed(plugin);
  }

  close(): Promise<void> {
    this.#listeners.clear();
    return this.#storage.close();
  }
}

function groupByPlugin(entries: QueueEntry[]): Map<string, QueueEntry[]> {
  const out = new Map<string, QueueEntry[]>();
  for (const e of entries) {
    const list = out.get(e.plugin) ?? [];
    list.push(e);
    out.set(e.plugin, list);
  }
  return out;
}
