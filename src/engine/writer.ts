/**
 * The single writer. It owns versions, the global position, Merkle frontiers and
 * write-limit counters, so they stay gap-free under any concurrency.
 *
 * Requests are taken in rounds. A round is prepared (validated, hashed, sealed)
 * in memory on top of the state left by earlier rounds, even while an earlier
 * round is still being synced; every round prepared by then goes into the next
 * synced RocksDB batch (group commit). Rounds are capped at a few dozen events,
 * so compute overlaps the fsync even when all clients wait on the same commit,
 * and one fsync acknowledges many requests. Each request succeeds or fails on its own; a
 * multi-event request is all-or-nothing.
 *
 * State that prepared rounds changed but no write has committed yet is pinned in
 * maps outside the bounded caches, so eviction can never expose an older version.
 * A failed synced write stops the writer: what reached disk is then unknown, and
 * rounds prepared on top of it are refused.
 */
import { setImmediate } from "node:timers";
import { DbxError } from "../errors.ts";
import {
  appendLeaf,
  emptyFrontier,
  type Frontier,
  frontierRoot,
  leafHash,
} from "../integrity/merkle.ts";
import { fromHex, hashBytes, toHex } from "../integrity/sha256.ts";
import type { BatchOp, Storage } from "../store/storage.ts";
import { ByteSlab } from "../util/byte_slab.ts";
import { deepFreeze } from "../util/deep_freeze.ts";
import { LruMap } from "../util/lru_map.ts";
import {
  decodeEvent,
  decodeHead,
  encodeEvent,
  encodeHeadValue,
  encodePositionRun,
  type HeadSummary,
  sealedHeadState,
  sealHeadState,
  sealJson,
  type StoredHead,
} from "./codec.ts";
import { hashWithPayload } from "./event_hash.ts";
import { headState, STATE_SEAL_INTERVAL, stateVersion } from "./head_state.ts";
import {
  aggregatePart,
  counterKey,
  encodeU64,
  eventKey,
  idempotencyKey,
  metaKey,
  partKeys,
  positionKey,
  readU64,
} from "./keys.ts";
import { type ControlOp, decideAppend, decideCharge, decideControl } from "./decide.ts";
import { type CheckedImport, checkImported, decideImport, importOrigin } from "./import.ts";
import type { CheckedAppendInput, InputLimits } from "./input.ts";
import { foldPayload } from "./state.ts";
import type { AppendOptions, EventRecord, EventValidator, WriteStats } from "./types.ts";

/** In-memory head of one aggregate as the writer tracks it. */
export interface Head {
  type: string;
  id: string;
  /** Encoded `<type>\0<id>`, reused for every key of this aggregate. */
  part: Uint8Array;
  exists: boolean;
  version: number;
  frontier: Frontier;
  root: string;
  state: Record<string, unknown>;
  /** The state as sealed in the stored head, taken at `stateVersion`. */
  sealed: Uint8Array;
  stateVersion: number;
  archived: boolean;
  created_at: string;
  updated_at: string;
  comment?: string;
}

export type { ControlOp } from "./decide.ts";

/** What an append request committed: its records, and how many of them are new. */
export interface AppendOutcome {
  /** One record per input, in order (an idempotent retry gives the original record). */
  events: EventRecord[];
  /** Records this request wrote (the others were retries of committed event ids). */
  written: number;
}

type Job =
  | {
    kind: "append";
    inputs: readonly CheckedAppendInput[];
    options: AppendOptions;
    resolve: (outcome: AppendOutcome) => void;
    reject: (err: unknown) => void;
  }
  | {
    kind: "control";
    op: ControlOp;
    type: string;
    id: string;
    comment?: string;
    resolve: (version: number) => void;
    reject: (err: unknown) => void;
  };

export interface WriterOptions {
  storage: Storage;
  dek: Uint8Array;
  position: number;
  validator?: EventValidator;
  snapshotThreshold?: (aggregateType: string) => number | undefined;
  cacheSize: number;
  /** Events queued or prepared but not yet committed, beyond which appends are refused. */
  queueLimit: number;
  /** Sizes every payload must keep to. */
  limits: InputLimits;
  now: () => Date;
  onCommit: (records: EventRecord[]) => void;
}

const POSITION_META = "position";
/** Events after which a round is closed (see #roundLength). */
const ROUND_EVENTS = 8;

export function aggregateId(type: string, id: string): string {
  return `${type}\u0000${id}`;
}

function eventIdKey(aggregate: string, eventId: string): string {
  return `${aggregate}\u0000${eventId}`;
}

/** One prepared round: its storage operations and each request's outcome. */
interface Round {
  ops: BatchOp[];
  records: EventRecord[];
  outcomes: { job: Job; ok: boolean; value: unknown }[];
  /** What this round changed, to move into the caches once it is committed. */
  heads: Map<string, Head>;
  counters: Map<string, number>;
  eventIds: Map<string, EventRecord>;
  /** `<type>\0<id>\0<version>` of each record, for the position run. */
  parts: Uint8Array[];
}

/**
 * Everything a round reads before it runs without awaiting: taken from the
 * pinned maps and caches when present (a commit during the prefetch may evict
 * them), else from storage.
 */
interface Prefetched {
  heads: Map<string, Head>;
  counters: Map<string, number>;
  eventIds: Map<string, EventRecord>;
}

export class Writer {
  #o: WriterOptions;
  #queue: Job[] = [];
  #draining = false;
  #drained: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;

  /** Prepared rounds waiting for the next write. */
  #prepared: Round[] = [];
  #writing: Promise<void> | undefined;

  // Committed state, bounded.
  #heads: LruMap<string, Head>;
  #counters = new LruMap<string, number>(4096);
  // Prepared but not yet committed state, pinned.
  #pendingHeads = new Map<string, Head>();
  #pendingCounters = new Map<string, number>();
  #pendingEventIds = new Map<string, EventRecord>();
  /** Position of the last prepared event. */
  #position: number;
  #committedPosition: number;
  #failed: Error | undefined;
  #closed = false;
  /** Events of the jobs taken and not yet answered (bounded by `queueLimit`). */
  #inFlight = 0;
  /** Event and head values live only until their write: they share slabs. */
  #slab = new ByteSlab();
  #stats: WriteStats = { writes: 0, rounds: 0, events: 0, wal_bytes: 0, write_ms: 0 };

  constructor(options: WriterOptions) {
    this.#o = options;
    this.#position = options.position;
    this.#committedPosition = options.position;
    this.#heads = new LruMap(options.cacheSize);
  }

  /**
   * The committed head of an aggregate if it is cached (never a prepared one:
   * what a reader sees must already be durable). Reads use it to skip storage;
   * they need neither the frontier nor the sealed state, so neither is encoded.
   */
  committedHead(
    type: string,
    id: string,
  ): { head: HeadSummary; state: Head["state"] } | undefined {
    const head = this.#heads.get(aggregateId(type, id));
    if (!head?.exists) return undefined;
    return {
      head: {
        version: head.version,
        merkle_root: head.root,
        archived: head.archived,
        created_at: head.created_at,
        updated_at: head.updated_at,
      },
      state: head.state,
    };
  }

  /** Counters of the synced writes so far (a copy). */
  get stats(): WriteStats {
    return { ...this.#stats };
  }

  /** Position of the last committed event. */
  get position(): number {
    return this.#committedPosition;
  }

  append(inputs: readonly CheckedAppendInput[], options: AppendOptions): Promise<AppendOutcome> {
    return this.#submit<AppendOutcome>(
      inputs.length,
      (resolve, reject) => ({ kind: "append", inputs, options, resolve, reject }),
    );
  }

  control(op: ControlOp, type: string, id: string, comment?: string): Promise<number> {
    return this.#submit<number>(
      1,
      (resolve, reject) => ({ kind: "control", op, type, id, comment, resolve, reject }),
    );
  }

  /**
   * Queue a job, unless the writer is closed or failed, or the queue is full: a full queue
   * answers at once instead of growing memory and latency. A request larger than the whole
   * limit is still taken when nothing else waits, else it could never commit.
   */
  #submit<T>(
    events: number,
    make: (resolve: (value: T) => void, reject: (err: unknown) => void) => Job,
  ): Promise<T> {
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    if (this.#inFlight > 0 && this.#inFlight + events > this.#o.queueLimit) {
      return Promise.reject(
        new DbxError(
          "overloaded",
          `the write queue is full (${this.#o.queueLimit} events waiting); retry shortly`,
          { retry_after_seconds: 1 },
        ),
      );
    }
    this.#inFlight += events;
    const done = () => {
      this.#inFlight -= events;
    };
    return new Promise<T>((resolve, reject) => {
      this.#enqueue(make(
        (value) => {
          done();
          resolve(value);
        },
        (err) => {
          done();
          reject(err);
        },
      ));
    });
  }

  /** Stop taking requests and wait for the queued ones to commit. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#drained;
  }

  #refusal(): DbxError | undefined {
    if (this.#closed) return new DbxError("unavailable", "the store is closed");
    if (this.#failed) {
      return new DbxError(
        "unavailable",
        "the store stopped accepting writes after a storage error; restart it",
      );
    }
    return undefined;
  }

  #enqueue(job: Job): void {
    this.#queue.push(job);
    if (this.#draining) {
      this.#wake?.();
      return;
    }
    this.#draining = true;
    this.#drained = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      // Yield once so that requests made in the same tick join the first round.
      await Promise.resolve();
      while (this.#queue.length > 0 || this.#writing) {
        if (this.#queue.length > 0) {
          // Nothing prepared now can commit before the write in flight ends. A macrotask turn
          // lets the event loop deliver that write's completion (so the next write starts at
          // once) and lets requests arriving in the same turn join one round.
          if (this.#writing) await nextTurn();
          if (this.#queue.length === 0) continue;
          const jobs = this.#queue.splice(0, this.#roundLength());
          if (this.#failed) {
            for (const job of jobs) job.reject(this.#refusal());
            continue;
          }
          this.#prepared.push(await this.#prepare(jobs));
          if (!this.#writing) this.#startWrite();
          continue;
        }
        // Wait for the write in flight, or for new requests to prepare meanwhile.
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#writing!.then(resolve, resolve);
        });
        this.#wake = undefined;
      }
    } finally {
      // Same synchronous step as the empty-queue check: no request can slip between.
      this.#draining = false;
    }
  }

  /**
   * How many queued jobs the next round takes: up to ROUND_EVENTS events, so the
   * first round's sync starts while the rest is prepared instead of every waiting
   * request paying for all of the preparation first. Rounds prepared during a
   * write still share the next synced batch. A job is never split (a multi-event
   * request is atomic).
   */
  #roundLength(): number {
    let events = 0;
    for (let i = 0; i < this.#queue.length; i++) {
      events += jobEvents(this.#queue[i]);
      if (events >= ROUND_EVENTS) return i + 1;
    }
    return this.#queue.length;
  }

  /** Write every prepared round in one synced batch; chain the next write after it. */
  #startWrite(): void {
    const rounds = this.#prepared.splice(0);
    this.#writing = this.#write(rounds).finally(() => {
      this.#writing = undefined;
      if (this.#prepared.length > 0) this.#startWrite();
    });
  }

  async #write(rounds: Round[]): Promise<void> {
    const ops = rounds.flatMap((r) => r.ops);
    const records = rounds.flatMap((r) => r.records);
    if (ops.length > 0) {
      if (records.length > 0) {
        const last = records[records.length - 1].position;
        ops.push({ type: "put", key: metaKey(POSITION_META), value: encodeU64(last) });
      }
      const started = performance.now();
      try {
        if (this.#failed) throw this.#failed;
        await this.#o.storage.write(ops, { sync: true });
      } catch (err) {
        this.#fail(err as Error, rounds);
        return;
      }
      const stats = this.#stats;
      stats.writes += 1;
      stats.rounds += rounds.length;
      stats.events += records.length;
      stats.wal_bytes += walBytes(ops);
      stats.write_ms += performance.now() - started;
    }
    for (const round of rounds) this.#settle(round);
    if (records.length > 0) {
      this.#committedPosition = records[records.length - 1].position;
      try {
        this.#o.onCommit(records);
      } catch {
        // A listener's failure must never undo or fail a committed write.
      }
    }
  }

  /** Move a committed round's state from the pinned maps into the caches; answer its jobs. */
  #settle(round: Round): void {
    for (const [key, head] of round.heads) {
      this.#heads.set(key, head);
      if (this.#pendingHeads.get(key) === head) this.#pendingHeads.delete(key);
    }
    for (const [name, count] of round.counters) {
      this.#counters.set(name, count);
      if (this.#pendingCounters.get(name) === count) this.#pendingCounters.delete(name);
    }
    for (const [key, record] of round.eventIds) {
      if (this.#pendingEventIds.get(key) === record) this.#pendingEventIds.delete(key);
    }
    for (const o of round.outcomes) {
      if (o.ok) (o.job.resolve as (v: unknown) => void)(o.value);
      else o.job.reject(o.value);
    }
  }

  #fail(err: Error, rounds: Round[]): void {
    this.#failed ??= err;
    const failure = new DbxError("unavailable", `the write did not complete: ${err.message}`);
    // Rounds prepared on top of this write cannot commit either.
    for (const round of [...rounds, ...this.#prepared.splice(0)]) {
      for (const o of round.outcomes) o.job.reject(o.ok ? failure : o.value);
    }
  }

  /** Validate, hash and seal a round of jobs on top of all state prepared so far. */
  async #prepare(jobs: Job[]): Promise<Round> {
    const round: Round = {
      ops: [],
      records: [],
      outcomes: [],
      heads: new Map(),
      counters: new Map(),
      eventIds: new Map(),
      parts: [],
    };
    let fetched: Prefetched;
    try {
      fetched = await this.#prefetch(jobs);
    } catch (err) {
      for (const job of jobs) round.outcomes.push({ job, ok: false, value: err });
      return round;
    }
    for (const job of jobs) {
      try {
        const value = job.kind === "append"
          ? this.#applyAppend(round, fetched, job.inputs, job.options)
          : this.#applyControl(round, fetched, job);
        round.outcomes.push({ job, ok: true, value });
      } catch (err) {
        round.outcomes.push({ job, ok: false, value: err });
      }
    }
    if (round.records.length > 0) {
      round.ops.push({
        type: "put",
        key: positionKey(round.records[0].position),
        value: encodePositionRun(round.parts),
      });
    }
    for (const head of round.heads.values()) {
      const key = partKeys.head(head.part);
      // Every head in a round is the round's own object: it may take the new seal.
      if (head.version - head.stateVersion >= STATE_SEAL_INTERVAL) {
        head.sealed = sealHeadState(head.state, key, this.#o.dek);
        head.stateVersion = head.version;
      }
      round.ops.push({
        type: "put",
        key,
        value: encodeHeadValue(storedHead(head), head.sealed, this.#slab),
      });
      this.#pendingHeads.set(aggregateId(head.type, head.id), head);
    }
    for (const [name, count] of round.counters) {
      round.ops.push({ type: "put", key: counterKey(name), value: encodeU64(count) });
      this.#pendingCounters.set(name, count);
    }
    for (const [key, record] of round.eventIds) this.#pendingEventIds.set(key, record);
    return round;
  }

  #cachedHead(key: string): Head | undefined {
    return this.#pendingHeads.get(key) ?? this.#heads.get(key);
  }

  #cachedCounter(name: string): number | undefined {
    return this.#pendingCounters.get(name) ?? this.#counters.get(name);
  }

  /** Read, in a few batched reads, the heads, counters and event ids the round needs. */
  async #prefetch(jobs: Job[]): Promise<Prefetched> {
    const fetched: Prefetched = { heads: new Map(), counters: new Map(), eventIds: new Map() };
    const missing = new Map<string, { type: string; id: string }>();
    const counters = new Set<string>();
    const eventIds = new Map<string, { type: string; id: string; eventId: string }>();
    for (const job of jobs) {
      const targets = job.kind === "append"
        ? job.inputs.map((i) => ({
          type: i.aggregate_type,
          id: i.aggregate_id,
          eventId: i.event_id,
        }))
        : [{ type: job.type, id: job.id, eventId: undefined }];
      for (const t of targets) {
        const key = aggregateId(t.type, t.id);
        const cached = this.#cachedHead(key);
        if (cached) fetched.heads.set(key, cached);
        else missing.set(key, t);
        if (t.eventId) {
          const idKey = eventIdKey(key, t.eventId);
          const pending = this.#pendingEventIds.get(idKey);
          if (pending) fetched.eventIds.set(idKey, pending);
          else eventIds.set(idKey, { ...t, eventId: t.eventId });
        }
      }
      const charge = job.kind === "append" ? job.options.charge : undefined;
      if (charge) {
        const cached = this.#cachedCounter(charge.key);
        if (cached !== undefined) fetched.counters.set(charge.key, cached);
        else counters.add(charge.key);
      }
    }
    const storage = this.#o.storage;
    await Promise.all([
      (async () => {
        if (missing.size === 0) return;
        const targets = [...missing.values()];
        const values = await storage.getMany(
          targets.map((t) => partKeys.head(aggregatePart(t.type, t.id))),
        );
        await Promise.all(targets.map(async (t, i) => {
          const head = await this.#loadHead(t.type, t.id, values[i]);
          fetched.heads.set(aggregateId(t.type, t.id), head);
        }));
      })(),
      (async () => {
        if (counters.size === 0) return;
        const names = [...counters];
        const values = await storage.getMany(names.map(counterKey));
        names.forEach((name, i) => fetched.counters.set(name, values[i] ? readU64(values[i]!) : 0));
      })(),
      ...[...eventIds].map(async ([idKey, e]) => {
        const record = await findByEventId(storage, this.#o.dek, e.type, e.id, e.eventId);
        if (record) fetched.eventIds.set(idKey, record);
      }),
    ]);
    return fetched;
  }

  async #loadHead(type: string, id: string, value?: Uint8Array): Promise<Head> {
    const part = aggregatePart(type, id);
    if (!value) {
      return {
        type,
        id,
        part,
        exists: false,
        version: 0,
        frontier: emptyFrontier(),
        root: toHex(frontierRoot(emptyFrontier())),
        state: {},
        sealed: new Uint8Array(0),
        stateVersion: 0,
        archived: false,
        created_at: "",
        updated_at: "",
      };
    }
    const stored = decodeHead(value);
    const state = await headState(this.#o.storage, this.#o.dek, part, value, stored);
    return {
      type,
      id,
      part,
      exists: true,
      version: stored.version,
      frontier: { size: stored.version, nodes: stored.frontier.map(fromHex) },
      root: stored.merkle_root,
      state,
      sealed: sealedHeadState(value),
      stateVersion: stateVersion(stored),
      archived: stored.archived,
      created_at: stored.created_at,
      updated_at: stored.updated_at,
      comment: stored.comment,
    };
  }

  /** The newest head: this round's, else the one prefetched. */
  #head(round: Round, fetched: Prefetched, type: string, id: string): Head {
    const key = aggregateId(type, id);
    const head = round.heads.get(key) ?? fetched.heads.get(key);
    if (!head) throw new DbxError("internal", "aggregate head was not loaded");
    return head;
  }

  /**
   * Stage one append request; on error nothing of it stays in the round. What to write is
   * decided by `decideAppend` / `decideCharge`; this applies it (hash, Merkle, encoding).
   */
  #applyAppend(
    round: Round,
    fetched: Prefetched,
    inputs: readonly CheckedAppendInput[],
    options: AppendOptions,
  ): AppendOutcome {
    const heads = new Map<string, Head>();
    const eventIds = new Map<string, EventRecord>();
    const ops: BatchOp[] = [];
    const records: EventRecord[] = [];
    const parts: Uint8Array[] = [];
    const results: EventRecord[] = [];
    let position = this.#position;
    const now = this.#o.now().toISOString();
    const threshold = this.#o.snapshotThreshold;

    for (const input of inputs) {
      const type = input.aggregate_type;
      const id = input.aggregate_id;
      const key = aggregateId(type, id);
      const head = heads.get(key) ?? this.#head(round, fetched, type, id);
      const idKey = input.event_id ? eventIdKey(key, input.event_id) : undefined;
      const earlier = idKey === undefined
        ? undefined
        : eventIds.get(idKey) ?? round.eventIds.get(idKey) ?? fetched.eventIds.get(idKey);
      // An imported event (import.ts) is decided on its own rules and keeps its metadata.
      const origin = importOrigin(input);
      const decision = origin
        ? decideImport(head, input as CheckedImport, this.#o.limits)
        : decideAppend(head, input, earlier, this.#o.validator, this.#o.limits);
      if (decision.kind === "replay") {
        results.push(decision.record);
        continue;
      }
      const { version, payloadJson } = decision;
      // The record owns its payload, parsed from the very text that is hashed and stored: it
      // shares nothing with the caller's input, and it is frozen below because the caches,
      // the feed's subscribers and the caller all hold the same record.
      const payload = JSON.parse(payloadJson) as Record<string, unknown>;
      position += 1;
      const issuedBy = options.issued_by;
      const metadata: EventRecord["metadata"] = origin ? { ...origin.metadata } : {
        event_id: input.event_id ?? crypto.randomUUID(),
        created_at: now,
        issued_by: issuedBy ? { group: issuedBy.group, user: issuedBy.user } : null,
      };
      if (!origin && input.note !== undefined) metadata.note = input.note;
      const partial = {
        aggregate_type: type,
        aggregate_id: id,
        event_type: input.event_type,
        payload,
        metadata,
        version,
      };
      // The canonical payload text is hashed and also what is stored (see verify.ts).
      const hash = hashWithPayload(partial, payloadJson);
      const frontier = appendLeaf(head.frontier, leafHash(hashBytes(hash)));
      const root = toHex(frontierRoot(frontier));
      if (origin) checkImported(`${type}/${id}`, origin, hash, root);
      const record: EventRecord = deepFreeze({ ...partial, hash, merkle_root: root, position });

      const eKey = partKeys.event(head.part, version);
      ops.push({
        type: "put",
        key: eKey,
        value: encodeEvent(record, eKey, this.#o.dek, payloadJson, this.#slab),
      });
      parts.push(eKey.subarray(1));
      // Only ids the caller chose can be retried, so only those are indexed; an imported
      // event's id is indexed too (its origin may have been chosen), without a lookup first.
      const indexed = idKey ?? (origin ? eventIdKey(key, metadata.event_id) : undefined);
      if (indexed !== undefined) {
        ops.push({
          type: "put",
          key: partKeys.idempotency(head.part, metadata.event_id),
          value: encodeU64(version),
        });
        eventIds.set(indexed, record);
      }
      const state = foldPayload(head.state, payload);
      const every = threshold?.(type);
      if (every && every > 0 && version % every === 0) {
        const sKey = partKeys.snapshot(head.part, version);
        ops.push({
          type: "put",
          key: sKey,
          value: sealJson({ state, created_at: now, comment: "automatic" }, sKey, this.#o.dek),
        });
      }
      const at = origin ? metadata.created_at : now;
      heads.set(key, {
        ...head,
        exists: true,
        version,
        frontier,
        root,
        state,
        created_at: head.created_at || at,
        updated_at: at,
      });
      records.push(record);
      results.push(record);
    }

    if (options.charge && records.length > 0) {
      const name = options.charge.key;
      const used = round.counters.get(name) ?? fetched.counters.get(name);
      if (used === undefined) throw new DbxError("internal", "write counter was not loaded");
      round.counters.set(name, decideCharge(used, records.length, options.charge));
    }

    for (const [key, head] of heads) round.heads.set(key, head);
    for (const [key, record] of eventIds) round.eventIds.set(key, record);
    round.ops.push(...ops);
    round.records.push(...records);
    round.parts.push(...parts);
    this.#position = position;
    return { events: results, written: records.length };
  }

  #applyControl(round: Round, fetched: Prefetched, job: Extract<Job, { kind: "control" }>): number {
    const head = this.#head(round, fetched, job.type, job.id);
    decideControl(head, job.op, `${job.type}/${job.id}`);
    const now = this.#o.now().toISOString();
    if (job.op === "snapshot") {
      const sKey = partKeys.snapshot(head.part, head.version);
      round.ops.push({
        type: "put",
        key: sKey,
        value: sealJson(
          { state: head.state, created_at: now, comment: job.comment },
          sKey,
          this.#o.dek,
        ),
      });
      return head.version;
    }
    round.heads.set(aggregateId(job.type, job.id), {
      ...head,
      archived: job.op === "archive",
      comment: job.comment,
      updated_at: now,
    });
    return head.version;
  }
}

/**
 * Resolve after one turn of the event loop: I/O completions (a write's callback) run first,
 * which microtasks never let happen.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Size of a RocksDB write batch holding `ops`, as its write-ahead log stores it: a 12-byte
 * header, then per operation a tag byte and varint-prefixed key (and value).
 */
function walBytes(ops: readonly BatchOp[]): number {
  let bytes = 12;
  for (const op of ops) {
    bytes += 1 + varintLength(op.key.length) + op.key.length;
    if (op.type === "put") bytes += varintLength(op.value.length) + op.value.length;
  }
  return bytes;
}

function varintLength(n: number): number {
  let length = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    length++;
  }
  return length;
}

/** Events a job counts for in the queue bound and the round size. */
function jobEvents(job: Job): number {
  return job.kind === "append" ? job.inputs.length : 1;
}

function storedHead(head: Head): StoredHead {
  const stored: StoredHead = {
    version: head.version,
    merkle_root: head.root,
    frontier: head.frontier.nodes.map(toHex),
    archived: head.archived,
    created_at: head.created_at,
    updated_at: head.updated_at,
  };
  if (head.comment !== undefined) stored.comment = head.comment;
  if (head.stateVersion !== head.version) stored.state_version = head.stateVersion;
  return stored;
}

/** Read the original record of an event id, for idempotent retries across rounds. */
export async function findByEventId(
  storage: Storage,
  dek: Uint8Array,
  type: string,
  id: string,
  eventId: string,
): Promise<EventRecord | undefined> {
  const version = await storage.get(idempotencyKey(type, id, eventId));
  if (!version) return undefined;
  const key = eventKey(type, id, readU64(version));
  const value = await storage.get(key);
  return value ? decodeEvent(type, id, value, key, dek) : undefined;
}
