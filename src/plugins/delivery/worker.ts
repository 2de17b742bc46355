/**
 * One plugin's delivery: it follows the engine's feed from the plugin's cursor and hands
 * each event to the plugin's sink, one call at a time, off the writer's path (the feed's
 * buffer is bounded, so a slow or dead plugin never holds appends or memory).
 *
 * - Acknowledged events move the cursor (persisted after every sink call).
 * - An event that fails goes to the plugin's retry queue, and the cursor moves past it in
 *   the same batch, so the events after it keep flowing. Later events of the same
 *   aggregate wait in the queue behind it: events of one aggregate arrive in order.
 * - Queued events are tried again with exponential backoff and jitter; after
 *   `maxAttempts` attempts an event is dead (kept with its last error for `dbx queue`),
 *   and the next event of its aggregate goes on.
 * - While more than `pauseAt` events wait, the feed is not read: the events stay in the
 *   store, and neither memory nor the queue grows without bound.
 */
import { type FeedSubscription, openFeed } from "../../api/feed.ts";
import type { Engine } from "../../engine/engine.ts";
import type { EventRecord } from "../../engine/types.ts";
import { type BackoffPolicy, type Clock, retryDelay } from "./backoff.ts";
import { DeliveryError, errorText, type Sink } from "./sinks/sink.ts";
import { type DeliveryState, type QueueEntry, queueEntry } from "./state.ts";

/** What a worker runs with. */
export interface WorkerOptions {
  name: string;
  engine: Engine;
  state: DeliveryState;
  sink: Sink;
  clock: Clock;
  backoff: BackoffPolicy;
  /** Attempts before an event is dead (read at every failure: the setting may change). */
  maxAttempts: () => number;
  /** Waiting events beyond which the feed is not read (default 1000). */
  pauseAt?: number;
  /** Longest idle wait, in real milliseconds, between looks at the clock (default 200). */
  idleMs?: number;
  /** Records per sink call (default 100). */
  batchSize?: number;
  /** Random numbers for the jitter. */
  random?: () => number;
  /** Where problems of the loop itself are reported. */
  warn?: (message: string) => void;
}

const aggregateOf = (r: { aggregate_type: string; aggregate_id: string }) =>
  `${r.aggregate_type}\u0000${r.aggregate_id}`;

/**
 * A running delivery for one plugin.
 *
 * @example
 * ```ts
 * declare const options: WorkerOptions;
 * const worker = await PluginWorker.start(options);
 * await worker.stop();
 * ```
 */
export class PluginWorker {
  readonly name: string;
  readonly #o: WorkerOptions;
  readonly #pauseAt: number;
  readonly #idleMs: number;
  readonly #batchSize: number;
  /** Pending queue entries per aggregate, in position order (the head is tried first). */
  #pending = new Map<string, QueueEntry[]>();
  #pendingCount = 0;
  /** Events read from the feed but not looked at yet (the queue filled up meanwhile). */
  #held: EventRecord[] = [];
  #feed!: FeedSubscription;
  #cursor = 0;
  #stopped = false;
  #abort = new AbortController();
  #reload = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> = Promise.resolve();
  #unsubscribe: () => void = () => {};

  private constructor(options: WorkerOptions) {
    this.name = options.name;
    this.#o = options;
    this.#pauseAt = options.pauseAt ?? 1000;
    this.#idleMs = options.idleMs ?? 200;
    this.#batchSize = Math.max(1, Math.min(options.batchSize ?? 100, options.sink.maxBatch));
  }

  /** Start delivering from the plugin's cursor (now, for a plugin that has none yet). */
  static async start(options: WorkerOptions): Promise<PluginWorker> {
    const worker = new PluginWorker(options);
    const { state, engine, name } = options;
    worker.#cursor = await state.initCursor(name, await engine.lastPosition());
    await worker.#loadQueue();
    worker.#feed = await openFeed(engine, { after: worker.#cursor, pageSize: 500 });
    worker.#unsubscribe = state.onChange((plugin) => {
      if (plugin === undefined || plugin === name) {
        worker.#reload = true;
        worker.#wakeUp();
      }
    });
    worker.#loop = worker.#run();
    return worker;
  }

  /** The last position handed over (acknowledged or queued). */
  get cursor(): number {
    return this.#cursor;
  }

  /** Stop: the attempt in flight is abandoned (it will be made again), nothing is lost. */
  async stop(): Promise<void> {
    if (this.#stopped) return this.#loop;
    this.#stopped = true;
    this.#unsubscribe();
    this.#abort.abort(new Error("delivery stopped"));
    this.#feed.close();
    this.#wakeUp();
    await this.#loop;
    await this.#o.sink.close().catch(() => {});
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, Math.max(0, ms));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #loadQueue(): Promise<void> {
    this.#pending.clear();
    this.#pendingCount = 0;
    for (const entry of await this.#o.state.entries({ plugin: this.name, status: "pending" })) {
      this.#remember(entry);
    }
  }

  #remember(entry: QueueEntry): void {
    const key = aggregateOf(entry);
    const list = this.#pending.get(key) ?? [];
    list.push(entry);
    list.sort((a, b) => a.position - b.position);
    this.#pending.set(key, list);
    this.#pendingCount++;
  }

  #forget(entry: QueueEntry): void {
    const key = aggregateOf(entry);
    const list = this.#pending.get(key);
    if (!list) return;
    const at = list.findIndex((e) => e.position === entry.position);
    if (at < 0) return;
    list.splice(at, 1);
    this.#pendingCount--;
    if (list.length === 0) this.#pending.delete(key);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        if (this.#reload) {
          this.#reload = false;
          await this.#loadQueue();
        }
        if (await this.#retryDue()) continue;
        if (this.#pendingCount >= this.#pauseAt) {
          await this.#sleep(this.#untilDue());
          continue;
        }
        const records = this.#held.length > 0
          ? this.#held.splice(0)
          : await this.#feed.next(this.#untilDue());
        if (records === null) break;
        if (records.length > 0) await this.#handle(records);
      } catch (err) {
        if (this.#stopped) break;
        // A store error (e.g. closing underneath): report, wait, go on from the store.
        this.#o.warn?.(`plugin ${this.name}: ${errorText(err)}`);
        await this.#sleep(this.#idleMs);
        this.#reload = true;
      }
    }
  }

  /** Real milliseconds to wait before looking again: to the next due retry, at most idle. */
  #untilDue(): number {
    let next = Infinity;
    for (const list of this.#pending.values()) {
      next = Math.min(next, list[0].next_attempt_at ?? 0);
    }
    const wait = next - this.#o.clock.now();
    return Math.max(0, Math.min(this.#idleMs, wait));
  }

  /** Fresh events from the feed, in position order. */
  async #handle(records: EventRecord[]): Promise<void> {
    let i = 0;
    while (i < records.length && !this.#stopped) {
      // A full queue stops reading here, not at the end of the page: the bound holds.
      if (this.#pendingCount >= this.#pauseAt) {
        this.#held = records.slice(i);
        return;
      }
      // Events of an aggregate that has events waiting go behind them.
      const waiting: QueueEntry[] = [];
      const from = i;
      while (i < records.length && this.#pending.has(aggregateOf(records[i]))) {
        const record = records[i++];
        const queued = this.#pending.get(aggregateOf(record))!;
        // Queued already (a replay reached past the cursor): it goes once.
        if (queued.some((e) => e.position === record.position)) continue;
        const entry = this.#entry(record);
        waiting.push(entry);
        this.#remember(entry);
      }
      if (i > from) {
        await this.#commit({ cursor: records[i - 1].position, put: waiting });
        continue;
      }
      const run: EventRecord[] = [];
      while (
        i < records.length && run.length < this.#batchSize &&
        !this.#pending.has(aggregateOf(records[i]))
      ) {
        run.push(records[i++]);
      }
      const { delivered, error } = await this.#deliver(run);
      if (this.#stopped && error !== undefined) return;
      if (error === undefined) {
        await this.#commit({ cursor: run[run.length - 1].position });
        continue;
      }
      // The failed one enters the queue; the rest of the run is looked at again.
      const failed = this.#failedEntry(this.#entry(run[delivered]), error);
      this.#remember(failed);
      await this.#commit({ cursor: failed.position, put: [failed] });
      i -= run.length - delivered - 1;
    }
  }

  /** Try the due heads of the queue; true when any was tried. */
  async #retryDue(): Promise<boolean> {
    const now = this.#o.clock.now();
    const due = [...this.#pending.values()]
      .map((list) => list[0])
      .filter((e) => (e.next_attempt_at ?? 0) <= now)
      .sort((a, b) => a.position - b.position);
    for (const entry of due) {
      if (this.#stopped) return true;
      const [record] = await this.#o.engine.eventsAfter(entry.position - 1, 1);
      if (!record || record.position !== entry.position) {
        // The event is gone (its aggregate was removed): nothing left to deliver.
        this.#forget(entry);
        await this.#o.state.apply(this.name, { remove: [entry] });
        continue;
      }
      const { error } = await this.#deliver([record]);
      if (this.#stopped && error !== undefined) return true;
      this.#forget(entry);
      if (error === undefined) {
        await this.#o.state.apply(this.name, { remove: [entry] });
      } else {
        const next = this.#failedEntry(entry, error);
        if (next.status === "pending") this.#remember(next);
        await this.#o.state.apply(this.name, { put: [next] });
      }
    }
    return due.length > 0;
  }

  /** The entry after one more failed attempt: pending with its next time, or dead. */
  #failedEntry(entry: QueueEntry, error: string): QueueEntry {
    const attempts = entry.attempts + 1;
    if (attempts >= this.#o.maxAttempts()) {
      return { ...entry, attempts, status: "dead", next_attempt_at: null, last_error: error };
    }
    const delay = retryDelay(attempts, this.#o.backoff, this.#o.random);
    return { ...entry, attempts, next_attempt_at: this.#o.clock.now() + delay, last_error: error };
  }

  #entry(record: EventRecord): QueueEntry {
    return queueEntry(this.name, record, new Date(this.#o.clock.now()).toISOString());
  }

  async #deliver(records: EventRecord[]): Promise<{ delivered: number; error?: string }> {
    try {
      await this.#o.sink.deliver(records, this.#abort.signal);
      return { delivered: records.length };
    } catch (err) {
      const delivered = err instanceof DeliveryError
        ? Math.min(Math.max(0, err.delivered), records.length - 1)
        : 0;
      if (delivered > 0) await this.#commit({ cursor: records[delivered - 1].position });
      return { delivered, error: errorText(err) };
    }
  }

  async #commit(change: { cursor: number; put?: QueueEntry[] }): Promise<void> {
    await this.#o.state.apply(this.name, change);
    this.#cursor = change.cursor;
  }
}
