/**
 * The single writer. It owns versions, the global position, Merkle frontiers and
 * write-limit counters, so they stay gap-free under any concurrency. Requests
 * queue up while a batch is being synced; the next round takes all of them and
 * commits them in one synced RocksDB batch (group commit). Each request succeeds
 * or fails on its own; a multi-event request is all-or-nothing.
 */
import { DbxError } from "../errors.ts";
import {
  appendLeaf,
  emptyFrontier,
  type Frontier,
  frontierRoot,
  leafHash,
} from "../integrity/merkle.ts";
import { fromHex, toHex } from "../integrity/sha256.ts";
import type { BatchOp, Storage } from "../store/storage.ts";
import { encodeEvent, encodeJson, openJson, sealJson, type StoredHead } from "./codec.ts";
import { eventHash } from "./event_hash.ts";
import {
  counterKey,
  encodeU64,
  eventKey,
  headKey,
  idempotencyKey,
  metaKey,
  positionKey,
  readU64,
  snapshotKey,
  stateKey,
} from "./keys.ts";
import { LruMap } from "../util/lru_map.ts";
import { payloadFromPatch } from "./patch.ts";
import { foldPayload } from "./state.ts";
import type { AppendInput, AppendOptions, EventRecord, EventValidator } from "./types.ts";
import { decodeEvent, decodeJson } from "./codec.ts";

/** In-memory head of one aggregate as the writer tracks it. */
export interface Head {
  type: string;
  id: string;
  exists: boolean;
  version: number;
  frontier: Frontier;
  root: string;
  state: Record<string, unknown>;
  archived: boolean;
  created_at: string;
  updated_at: string;
  comment?: string;
}

export type ControlOp = "archive" | "restore" | "snapshot";

type Job =
  | {
    kind: "append";
    inputs: AppendInput[];
    options: AppendOptions;
    resolve: (records: EventRecord[]) => void;
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
  now: () => Date;
  onCommit: (records: EventRecord[]) => void;
}

const POSITION_META = "position";

export function aggregateId(type: string, id: string): string {
  return `${type}\u0000${id}`;
}

/** Everything one round stages before its single synced write. */
class Round {
  /** Heads read from storage for this round (kept apart so cache eviction cannot lose them). */
  loaded = new Map<string, Head>();
  /** Heads changed by this round. */
  heads = new Map<string, Head>();
  counters = new Map<string, number>();
  /** Counters read from storage for this round. */
  loadedCounters = new Map<string, number>();
  /** event ids committed in this round, per aggregate, for idempotent retries. */
  eventIds = new Map<string, EventRecord>();
  ops: BatchOp[] = [];
  records: EventRecord[] = [];
  position: number;
  constructor(position: number) {
    this.position = position;
  }
}

export class Writer {
  #o: WriterOptions;
  #queue: Job[] = [];
  #running: Promise<void> | undefined;
  #draining = false;
  #heads: LruMap<string, Head>;
  #counters = new LruMap<string, number>(4096);
  #position: number;
  #failed: Error | undefined;
  #closed = false;

  constructor(options: WriterOptions) {
    this.#o = options;
    this.#position = options.position;
    this.#heads = new LruMap(options.cacheSize);
  }

  get position(): number {
    return this.#position;
  }

  append(inputs: AppendInput[], options: AppendOptions): Promise<EventRecord[]> {
    return new Promise((resolve, reject) => {
      this.#enqueue({ kind: "append", inputs, options, resolve, reject });
    });
  }

  control(op: ControlOp, type: string, id: string, comment?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#enqueue({ kind: "control", op, type, id, comment, resolve, reject });
    });
  }

  /** Stop taking requests and wait for the queued ones to commit. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
  }

  #enqueue(job: Job): void {
    if (this.#closed) {
      job.reject(new DbxError("unavailable", "the store is closed"));
      return;
    }
    if (this.#failed) {
      job.reject(
        new DbxError(
          "unavailable",
          "the store stopped accepting writes after a storage error; restart it",
        ),
      );
      return;
    }
    this.#queue.push(job);
    if (!this.#draining) {
      this.#draining = true;
      this.#running = this.#drain();
    }
  }

  async #drain(): Promise<void> {
    try {
      // Yield once so that requests made in the same tick join the first round.
      await Promise.resolve();
      while (this.#queue.length > 0) await this.#round(this.#queue.splice(0));
    } finally {
      // Same synchronous step as the empty-queue check: no request can slip between.
      this.#draining = false;
    }
  }

  async #round(jobs: Job[]): Promise<void> {
    const round = new Round(this.#position);
    let prefetched;
    try {
      prefetched = await this.#prefetch(jobs);
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    round.loaded = prefetched.heads;
    round.eventIds = prefetched.eventIds;
    round.loadedCounters = prefetched.counters;
    const results: { job: Job; ok: boolean; value: unknown }[] = [];
    for (const job of jobs) {
      try {
        const value = job.kind === "append"
          ? this.#applyAppend(round, job.inputs, job.options)
          : this.#applyControl(round, job);
        results.push({ job, ok: true, value });
      } catch (err) {
        results.push({ job, ok: false, value: err });
      }
    }
    if (round.ops.length > 0 || round.heads.size > 0) {
      for (const head of round.heads.values()) this.#stageHead(round, head);
      for (const [name, count] of round.counters) {
        round.ops.push({ type: "put", key: counterKey(name), value: encodeU64(count) });
      }
      if (round.position !== this.#position) {
        round.ops.push({
          type: "put",
          key: metaKey(POSITION_META),
          value: encodeU64(round.position),
        });
      }
      try {
        await this.#o.storage.write(round.ops, { sync: true });
      } catch (err) {
        // After a failed synced write we cannot know what reached disk: stop writing.
        this.#failed = err as Error;
        const failure = new DbxError(
          "unavailable",
          `the write did not complete: ${(err as Error).message}`,
        );
        for (const r of results) r.job.reject(r.ok ? failure : r.value);
        return;
      }
      for (const [key, head] of round.loaded) if (!round.heads.has(key)) this.#heads.set(key, head);
      for (const [key, head] of round.heads) this.#heads.set(key, head);
      for (const [name, count] of round.counters) this.#counters.set(name, count);
      this.#position = round.position;
    }
    for (const r of results) {
      if (r.ok) (r.job.resolve as (v: unknown) => void)(r.value);
      else r.job.reject(r.value);
    }
    if (round.records.length > 0) {
      try {
        this.#o.onCommit(round.records);
      } catch {
        // A listener's failure must never undo or fail a committed write.
      }
    }
  }

  /**
   * Load, in a few batched reads, every head, counter and earlier event id the
   * round will need, so that the round itself runs without awaiting.
   */
  async #prefetch(
    jobs: Job[],
  ): Promise<
    { heads: Map<string, Head>; counters: Map<string, number>; eventIds: Map<string, EventRecord> }
  > {
    const missing = new Map<string, { type: string; id: string }>();
    const counters = new Set<string>();
    const eventIds: { type: string; id: string; eventId: string }[] = [];
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
        if (!this.#heads.get(key)) missing.set(key, t);
        if (t.eventId) eventIds.push({ type: t.type, id: t.id, eventId: t.eventId });
      }
      const charge = job.kind === "append" ? job.options.charge : undefined;
      if (charge && this.#counters.get(charge.key) === undefined) counters.add(charge.key);
    }
    const storage = this.#o.storage;
    const heads = new Map<string, Head>();
    const known = new Map<string, EventRecord>();
    const loadedCounters = new Map<string, number>();
    await Promise.all([
      (async () => {
        if (missing.size === 0) return;
        const targets = [...missing.values()];
        const keys = targets.flatMap((t) => [headKey(t.type, t.id), stateKey(t.type, t.id)]);
        const values = await storage.getMany(keys);
        targets.forEach((t, i) => {
          heads.set(
            aggregateId(t.type, t.id),
            this.#loadHead(t.type, t.id, values[2 * i], values[2 * i + 1]),
          );
        });
      })(),
      (async () => {
        if (counters.size === 0) return;
        const names = [...counters];
        const values = await storage.getMany(names.map(counterKey));
        names.forEach((name, i) => loadedCounters.set(name, values[i] ? readU64(values[i]!) : 0));
      })(),
      ...eventIds.map(async (e) => {
        const record = await findByEventId(storage, this.#o.dek, e.type, e.id, e.eventId);
        if (record) known.set(`${aggregateId(e.type, e.id)}\u0000${e.eventId}`, record);
      }),
    ]);
    return { heads, counters: loadedCounters, eventIds: known };
  }

  #loadHead(type: string, id: string, head?: Uint8Array, state?: Uint8Array): Head {
    if (!head) {
      return {
        type,
        id,
        exists: false,
        version: 0,
        frontier: emptyFrontier(),
        root: toHex(frontierRoot(emptyFrontier())),
        state: {},
        archived: false,
        created_at: "",
        updated_at: "",
      };
    }
    const stored = decodeJson<StoredHead>(head, "aggregate head");
    return {
      type,
      id,
      exists: true,
      version: stored.version,
      frontier: { size: stored.version, nodes: stored.frontier.map(fromHex) },
      root: stored.merkle_root,
      state: state ? openJson(state, stateKey(type, id), this.#o.dek, "aggregate state") : {},
      archived: stored.archived,
      created_at: stored.created_at,
      updated_at: stored.updated_at,
      comment: stored.comment,
    };
  }

  #headSync(round: Round, type: string, id: string): Head {
    const key = aggregateId(type, id);
    const head = round.heads.get(key) ?? round.loaded.get(key) ?? this.#heads.get(key);
    // Prefetch loaded every head the round needs.
    if (!head) throw new DbxError("internal", "aggregate head missing from the writer cache");
    return head;
  }

  /** Stage one append request; on error nothing of it stays in the round. */
  #applyAppend(round: Round, inputs: AppendInput[], options: AppendOptions): EventRecord[] {
    const heads = new Map<string, Head>();
    const eventIds = new Map<string, EventRecord>();
    const ops: BatchOp[] = [];
    const records: EventRecord[] = [];
    const results: EventRecord[] = [];
    let position = round.position;
    const now = this.#o.now().toISOString();
    const threshold = this.#o.snapshotThreshold;

    for (const input of inputs) {
      const type = input.aggregate_type;
      const id = input.aggregate_id;
      const key = aggregateId(type, id);
      const head = heads.get(key) ?? this.#headSync(round, type, id);

      if (input.event_id) {
        const idKey = `${key}\u0000${input.event_id}`;
        const earlier = eventIds.get(idKey) ?? round.eventIds.get(idKey);
        if (earlier) {
          results.push(earlier);
          continue;
        }
      }
      if (head.archived) {
        throw new DbxError(
          "archived",
          `aggregate ${type}/${id} is archived; restore it before appending`,
        );
      }
      if (input.expected_version !== undefined && input.expected_version !== head.version) {
        throw new DbxError(
          "conflict",
          `version conflict on ${type}/${id}: expected version ${input.expected_version}, current version is ${head.version}`,
          { expected_version: input.expected_version, current_version: head.version },
        );
      }
      const payload = input.patch !== undefined
        ? payloadFromPatch(head.state, input.patch)
        : input.payload ?? {};
      this.#o.validator?.({
        aggregate_type: type,
        aggregate_id: id,
        event_type: input.event_type,
        payload,
        current_version: head.version,
        state: head.state,
      });

      const version = head.version + 1;
      position += 1;
      const metadata: EventRecord["metadata"] = {
        event_id: input.event_id ?? crypto.randomUUID(),
        created_at: now,
        issued_by: options.issued_by ?? null,
      };
      if (input.note !== undefined) metadata.note = input.note;
      const partial = {
        aggregate_type: type,
        aggregate_id: id,
        event_type: input.event_type,
        payload,
        metadata,
        version,
      };
      const hash = eventHash(partial);
      const frontier = appendLeaf(head.frontier, leafHash(fromHex(hash)));
      const root = toHex(frontierRoot(frontier));
      const record: EventRecord = { ...partial, hash, merkle_root: root, position };

      const eKey = eventKey(type, id, version);
      ops.push({ type: "put", key: eKey, value: encodeEvent(record, eKey, this.#o.dek) });
      ops.push({ type: "put", key: positionKey(position), value: eKey.subarray(1) });
      ops.push({
        type: "put",
        key: idempotencyKey(type, id, metadata.event_id),
        value: encodeU64(version),
      });
      const state = foldPayload(head.state, payload);
      const every = threshold?.(type);
      if (every && every > 0 && version % every === 0) {
        const sKey = snapshotKey(type, id, version);
        ops.push({
          type: "put",
          key: sKey,
          value: sealJson({ state, created_at: now, comment: "automatic" }, sKey, this.#o.dek),
        });
      }
      heads.set(key, {
        ...head,
        exists: true,
        version,
        frontier,
        root,
        state,
        created_at: head.created_at || now,
        updated_at: now,
      });
      eventIds.set(`${key}\u0000${metadata.event_id}`, record);
      records.push(record);
      results.push(record);
    }

    if (options.charge && records.length > 0) {
      const { key: name, limit } = options.charge;
      const used = round.counters.get(name) ?? round.loadedCounters.get(name) ??
        this.#counters.get(name);
      if (used === undefined) throw new DbxError("internal", "write counter was not loaded");
      if (used + records.length > limit) {
        throw new DbxError(
          "limit_reached",
          `the token's write limit of ${limit} is reached`,
          { limit, used },
        );
      }
      round.counters.set(name, used + records.length);
    }

    for (const [key, head] of heads) round.heads.set(key, head);
    for (const [key, record] of eventIds) round.eventIds.set(key, record);
    round.ops.push(...ops);
    round.records.push(...records);
    round.position = position;
    return results;
  }

  #applyControl(round: Round, job: Extract<Job, { kind: "control" }>): number {
    const head = this.#headSync(round, job.type, job.id);
    const name = `${job.type}/${job.id}`;
    if (!head.exists) throw new DbxError("not_found", `aggregate ${name} not found`);
    const now = this.#o.now().toISOString();
    switch (job.op) {
      case "archive":
      case "restore": {
        const archive = job.op === "archive";
        if (head.archived === archive) {
          throw new DbxError(
            "conflict",
            `aggregate ${name} is ${archive ? "already" : "not"} archived`,
          );
        }
        round.heads.set(aggregateId(job.type, job.id), {
          ...head,
          archived: archive,
          comment: job.comment,
          updated_at: now,
        });
        return head.version;
      }
      case "snapshot": {
        const sKey = snapshotKey(job.type, job.id, head.version);
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
    }
  }

  #stageHead(round: Round, head: Head): void {
    const stored: StoredHead = {
      version: head.version,
      merkle_root: head.root,
      frontier: head.frontier.nodes.map(toHex),
      archived: head.archived,
      created_at: head.created_at,
      updated_at: head.updated_at,
    };
    if (head.comment !== undefined) stored.comment = head.comment;
    round.ops.push({ type: "put", key: headKey(head.type, head.id), value: encodeJson(stored) });
    const sKey = stateKey(head.type, head.id);
    round.ops.push({ type: "put", key: sKey, value: sealJson(head.state, sKey, this.#o.dek) });
  }
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
