/**
 * The engine: every behaviour of the database behind one object. Surfaces (CLI,
 * REST, …) parse input, call these methods and format the results.
 *
 * Writes go through the single Writer (group commit); reads go straight to
 * storage and never wait for the writer.
 */
import { join } from "node:path";
import { open as openSealed, seal } from "../crypto/aead.ts";
import { DbxError, isDbxError } from "../errors.ts";
import { leafHash } from "../integrity/merkle.ts";
import { fromHex } from "../integrity/sha256.ts";
import {
  buildConsistencyProof,
  buildInclusionProof,
  type ConsistencyProofJson,
  type InclusionProofJson,
  type LeafSource,
} from "../integrity/proof.ts";
import { openRocksStorage } from "../store/rocksdb.ts";
import type { Storage } from "../store/storage.ts";
import {
  decodeEvent,
  decodeEventHeader,
  decodeHead,
  decodePositionRun,
  type HeadSummary,
  openJson,
  type StoredHead,
} from "./codec.ts";
import {
  aggregatePart,
  counterKey,
  eventKey,
  eventRange,
  headKey,
  headRange,
  metaKey,
  parseAggregatePart,
  positionKey,
  PREFIX,
  prefixEnd,
  readU64,
  snapshotKey,
  snapshotRange,
} from "./keys.ts";
import { decideAppend } from "./decide.ts";
import { validateName, validateNote } from "./names.ts";
import { headState } from "./head_state.ts";
import {
  checkAppendInput,
  type CheckedAppendInput,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type InputLimits,
} from "./input.ts";
import { copyState, foldPayload } from "./state.ts";
import type {
  AggregateRecord,
  AggregateSummary,
  AppendInput,
  AppendOptions,
  EventRecord,
  EventValidator,
  Page,
  VerifyResult,
} from "./types.ts";
import { verifyAggregate } from "./verify.ts";
import { type AppendOutcome, type ControlOp, findByEventId, Writer } from "./writer.ts";

export type { AppendOutcome } from "./writer.ts";

export interface EngineOptions {
  /** Data directory; the RocksDB store lives in `<dataDir>/store`. Ignored with `storage`. */
  dataDir?: string;
  /**
   * An open storage to run on instead of opening `<dataDir>/store`. The engine owns it
   * from then on and closes it on close.
   */
  storage?: Storage;
  /** 32-byte data encryption key. */
  dek: Uint8Array;
  /** Schema validation hook, run by the writer for every event. */
  validator?: EventValidator;
  /** Automatic snapshot interval per aggregate type. */
  snapshotThreshold?: (aggregateType: string) => number | undefined;
  /** How many aggregate heads the writer keeps in memory. */
  cacheSize?: number;
  /** Open without the lock, for reads while another process (the server) writes. */
  readOnly?: boolean;
  /** Clock, for tests. */
  now?: () => Date;
  /** Largest accepted payload, in bytes of JSON. */
  maxPayloadBytes?: number;
  /** Events waiting for the writer beyond which appends are refused ("overloaded"). */
  queueLimit?: number;
}

/** Default bound of the writer's queue, in events. */
export const DEFAULT_QUEUE_LIMIT = 8192;

/** A snapshot as listed. */
export interface SnapshotInfo {
  version: number;
  created_at: string;
  comment?: string;
}

const DEK_CHECK = "dek_check";
const DEK_CHECK_PLAINTEXT = new TextEncoder().encode("eventdbx-dek-check");

/** Path of the RocksDB directory inside a data dir. */
export function storePath(dataDir: string): string {
  return join(dataDir, "store");
}

export class Engine {
  readonly readOnly: boolean;
  readonly #storage: Storage;
  #dek: Uint8Array;
  #writer: Writer | undefined;
  #listeners = new Set<(records: EventRecord[]) => void>();
  #limits: InputLimits;
  #validator: EventValidator | undefined;
  #closed = false;

  private constructor(storage: Storage, options: EngineOptions, position: number) {
    this.#storage = storage;
    this.readOnly = options.readOnly ?? false;
    this.#dek = options.dek;
    this.#limits = { maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES };
    this.#validator = options.validator;
    if (!this.readOnly) {
      this.#writer = new Writer({
        storage,
        dek: options.dek,
        position,
        validator: options.validator,
        snapshotThreshold: options.snapshotThreshold,
        cacheSize: options.cacheSize ?? 10_000,
        queueLimit: options.queueLimit ?? DEFAULT_QUEUE_LIMIT,
        limits: this.#limits,
        now: options.now ?? (() => new Date()),
        onCommit: (records) => {
          for (const listener of this.#listeners) listener(records);
        },
      });
    }
  }

  /**
   * Open (creating if needed) the store in a data directory.
   *
   * @example
   * ```ts
   * const dek = crypto.getRandomValues(new Uint8Array(32));
   * const engine = await Engine.open({ dataDir: await Deno.makeTempDir(), dek });
   * await engine.append({ aggregate_type: "patient", aggregate_id: "p-001",
   *   event_type: "patient-added", payload: { name: "Jane" } });
   * await engine.close();
   * ```
   */
  static async open(options: EngineOptions): Promise<Engine> {
    if (!(options.dek instanceof Uint8Array) || options.dek.length !== 32) {
      throw new DbxError("invalid_input", "the data encryption key must be 32 bytes");
    }
    let storage = options.storage;
    if (!storage) {
      if (options.dataDir === undefined) {
        throw new DbxError("invalid_input", "the engine needs a data directory or a storage");
      }
      storage = await openRocksStorage(storePath(options.dataDir), {
        readOnly: options.readOnly,
      });
    }
    try {
      await checkDek(storage, options.dek, options.readOnly ?? false);
      const position = await storage.get(metaKey("position"));
      return new Engine(storage, options, position ? readU64(position) : 0);
    } catch (err) {
      await storage.close();
      throw err;
    }
  }

  /** Position of the last committed event (0 when empty). */
  async lastPosition(): Promise<number> {
    if (this.#writer) return this.#writer.position;
    const value = await this.#storage.get(metaKey("position"));
    return value ? readU64(value) : 0;
  }

  /** The input rules every append is checked against (sizes from the options). */
  get inputLimits(): InputLimits {
    return this.#limits;
  }

  /** Append one event. */
  async append(input: AppendInput, options: AppendOptions = {}): Promise<EventRecord> {
    const [record] = await this.appendBatch([input], options);
    return record;
  }

  /** Append events to any aggregates, all or nothing. */
  async appendBatch(inputs: AppendInput[], options: AppendOptions = {}): Promise<EventRecord[]> {
    if (!Array.isArray(inputs) || inputs.length === 0) {
      throw new DbxError("invalid_input", "a batch needs at least one event");
    }
    const checked = inputs.map((i) => checkAppendInput(i, this.#limits));
    return (await this.appendChecked(checked, options)).events;
  }

  /**
   * Append inputs that already passed `checkAppendInput`, all or nothing; also says how
   * many records are new (the rest are idempotent retries).
   */
  appendChecked(
    inputs: readonly CheckedAppendInput[],
    options: AppendOptions = {},
  ): Promise<AppendOutcome> {
    try {
      if (inputs.length === 0) {
        throw new DbxError("invalid_input", "a batch needs at least one event");
      }
      return this.#requireWriter().append(inputs, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Check an event as an append would (input rules, then the same decision as the writer
   * against the current head: archived, expected version, patch, schema) without writing
   * it: for staging. Works on a read-only store too.
   */
  async check(raw: AppendInput): Promise<void> {
    const input = checkAppendInput(raw, this.#limits);
    const type = input.aggregate_type;
    const id = input.aggregate_id;
    const current = await this.#currentAggregate(type, id).catch((err) => {
      if (isDbxError(err, "not_found")) return undefined;
      throw err;
    });
    const earlier = input.event_id
      ? await findByEventId(this.#storage, this.#dek, type, id, input.event_id)
      : undefined;
    const head = current
      ? { exists: true, version: current.version, archived: current.archived, state: current.state }
      : { exists: false, version: 0, archived: false, state: {} };
    decideAppend(head, input, earlier, this.#validator, this.#limits);
  }

  /** Subscribe to committed events, in commit order. Returns an unsubscribe function. */
  onCommit(listener: (records: EventRecord[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Current state, or the state at `version` rebuilt from the nearest snapshot. */
  async getAggregate(
    type: string,
    id: string,
    options: { version?: number } = {},
  ): Promise<AggregateRecord> {
    const current = await this.#currentAggregate(type, id);
    const version = options.version;
    if (version === undefined || version >= current.version) {
      if (version !== undefined && version > current.version) {
        throw new DbxError(
          "not_found",
          `aggregate ${type}/${id} has no version ${version} (current version is ${current.version})`,
        );
      }
      return current;
    }
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new DbxError("invalid_input", "version must be a positive integer");
    }
    return await this.#stateAt(current, version);
  }

  /** The aggregate as last committed: from the writer's cache when it holds it. */
  async #currentAggregate(type: string, id: string): Promise<AggregateRecord> {
    const cached = this.#writer?.committedHead(type, id);
    if (cached) return this.#aggregateRecord(type, id, cached.head, copyState(cached.state));
    const value = await this.#storage.get(headKey(type, id));
    if (!value) throw notFound(type, id);
    const head = decodeHead(value);
    const state = await headState(this.#storage, this.#dek, aggregatePart(type, id), value, head);
    return this.#aggregateRecord(type, id, head, state);
  }

  async #stateAt(current: AggregateRecord, version: number): Promise<AggregateRecord> {
    const type = current.aggregate_type;
    const id = current.aggregate_id;
    let state: Record<string, unknown> = {};
    let from = 1;
    const range = snapshotRange(type, id);
    for await (
      const [key, value] of this.#storage.range({
        gte: range.gte,
        lte: snapshotKey(type, id, version),
        reverse: true,
        limit: 1,
      })
    ) {
      const at = parseAggregatePart(key.subarray(1)).version!;
      state = openJson<{ state: Record<string, unknown> }>(value, key, this.#dek, "snapshot").state;
      from = at + 1;
    }
    let last: EventRecord | undefined;
    for await (const record of this.#events(type, id, from, version)) {
      state = foldPayload(state, record.payload);
      last = record;
    }
    if (!last && from <= version) {
      throw new DbxError("corrupt", `events of ${type}/${id} are missing`);
    }
    // A snapshot exactly at `version` leaves no event to fold: root and time come from event N.
    const at = last ?? (await this.#eventAt(type, id, version));
    return {
      ...current,
      version,
      state,
      merkle_root: at.merkle_root,
      updated_at: at.metadata.created_at,
    };
  }

  async #eventAt(type: string, id: string, version: number): Promise<EventRecord> {
    const key = eventKey(type, id, version);
    const value = await this.#storage.get(key);
    if (!value) throw new DbxError("not_found", `event ${version} of ${type}/${id} not found`);
    return decodeEvent(type, id, value, key, this.#dek);
  }

  /** Events of one aggregate with versions in [from, to], in order. */
  async *#events(type: string, id: string, from: number, to: number): AsyncIterable<EventRecord> {
    if (from > to) return;
    for await (
      const [key, value] of this.#storage.range({
        gte: eventKey(type, id, from),
        lte: eventKey(type, id, to),
      })
    ) {
      yield decodeEvent(type, id, value, key, this.#dek);
    }
  }

  /**
   * Aggregates in key order (type, then id), without state unless `withState`. `filter`
   * (e.g. a caller's read scope) drops aggregates before `skip`/`take` count them.
   */
  async listAggregates(
    options: Page & {
      aggregate_type?: string;
      filter?: (aggregateType: string, aggregateId: string) => boolean;
      withState?: boolean;
    } = {},
  ): Promise<(AggregateSummary & { state?: Record<string, unknown> })[]> {
    const { skip = 0, take = 10, filter } = options;
    const out: (AggregateSummary & { state?: Record<string, unknown> })[] = [];
    if (take <= 0) return out;
    let seen = 0;
    for await (const [key, value] of this.#storage.range(headRange(options.aggregate_type))) {
      const part = key.subarray(1);
      const { type, id } = parseAggregatePart(part);
      if (filter && !filter(type, id)) continue;
      if (seen++ < skip) continue;
      if (out.length >= take) break;
      const head = decodeHead(value);
      if (options.withState) {
        const state = await headState(this.#storage, this.#dek, part, value, head);
        out.push(this.#aggregateRecord(type, id, head, state));
        continue;
      }
      out.push({
        aggregate_type: type,
        aggregate_id: id,
        version: head.version,
        merkle_root: head.merkle_root,
        archived: head.archived,
        created_at: head.created_at,
        updated_at: head.updated_at,
      });
    }
    return out;
  }

  /** Every aggregate with its state, for exports. */
  async *allAggregates(aggregateType?: string): AsyncIterable<AggregateRecord> {
    for await (const [key, value] of this.#storage.range(headRange(aggregateType))) {
      const part = key.subarray(1);
      const { type, id } = parseAggregatePart(part);
      const head = decodeHead(value);
      const state = await headState(this.#storage, this.#dek, part, value, head);
      yield this.#aggregateRecord(type, id, head, state);
    }
  }

  #aggregateRecord(
    type: string,
    id: string,
    head: HeadSummary,
    state: Record<string, unknown>,
  ): AggregateRecord {
    return {
      aggregate_type: type,
      aggregate_id: id,
      version: head.version,
      state,
      merkle_root: head.merkle_root,
      archived: head.archived,
      created_at: head.created_at,
      updated_at: head.updated_at,
    };
  }

  /** Whether an aggregate has any committed event. */
  async exists(type: string, id: string): Promise<boolean> {
    return (await this.#storage.get(headKey(type, id))) !== undefined;
  }

  /** Events of one aggregate, oldest first. */
  async listEvents(type: string, id: string, options: Page = {}): Promise<EventRecord[]> {
    const { skip = 0, take = 1000 } = options;
    if (!(await this.exists(type, id))) throw notFound(type, id);
    const out: EventRecord[] = [];
    if (take <= 0) return out;
    for await (const record of this.#events(type, id, skip + 1, skip + take)) out.push(record);
    return out;
  }

  /** The `take` most recent events of one aggregate, oldest first. */
  async recentEvents(type: string, id: string, take = 10): Promise<EventRecord[]> {
    if (!(await this.exists(type, id))) throw notFound(type, id);
    const out: EventRecord[] = [];
    if (take <= 0) return out;
    const range = eventRange(type, id);
    for await (
      const [key, value] of this.#storage.range({ ...range, reverse: true, limit: take })
    ) {
      out.push(decodeEvent(type, id, value, key, this.#dek));
    }
    return out.reverse();
  }

  /** Committed events with position > `after`, in global order. */
  async eventsAfter(after: number, limit = 1000): Promise<EventRecord[]> {
    if (limit <= 0) return [];
    const wanted = after + 1;
    const end = prefixEnd(Uint8Array.of(PREFIX.position));
    // Each write stores one run keyed by its first position: start at the run holding `wanted`.
    let from: Uint8Array = Uint8Array.of(PREFIX.position);
    for await (
      const [key] of this.#storage.range({
        gte: from,
        lte: positionKey(wanted),
        reverse: true,
        limit: 1,
        keysOnly: true,
      })
    ) from = key;
    const parts: Uint8Array[] = [];
    let next = -1;
    for await (const [key, value] of this.#storage.range({ gte: from, lt: end })) {
      const first = readU64(key, 1);
      if (next !== -1 && first !== next) {
        throw new DbxError("corrupt", `the global event index has a gap at position ${next}`);
      }
      const run = decodePositionRun(value);
      for (let i = 0; i < run.length && parts.length < limit; i++) {
        if (first + i >= wanted) parts.push(run[i]);
      }
      next = first + run.length;
      if (parts.length >= limit) break;
    }
    const keys = parts.map((p) => {
      const key = new Uint8Array(p.length + 1);
      key[0] = PREFIX.event;
      key.set(p, 1);
      return key;
    });
    const values = await this.#storage.getMany(keys);
    return values.map((value, i) => {
      if (!value) throw new DbxError("corrupt", "the global event index points at a missing event");
      const { type, id } = parseAggregatePart(parts[i]);
      return decodeEvent(type, id, value, keys[i], this.#dek);
    });
  }

  /**
   * Re-read every event of an aggregate, recompute every hash and the Merkle
   * root, and report the first version that does not match.
   */
  async verify(type: string, id: string): Promise<VerifyResult> {
    const headBytes = await this.#storage.get(headKey(type, id));
    if (!headBytes) throw notFound(type, id);
    return await verifyAggregate(this.#storage, this.#dek, type, id, decodeHead(headBytes));
  }

  /**
   * Inclusion proof of event `version` in the aggregate's tree of `treeSize`
   * events (default: all of them), checkable without the server.
   */
  async inclusionProof(
    type: string,
    id: string,
    version: number,
    treeSize?: number,
  ): Promise<InclusionProofJson & { version: number; event_hash: string }> {
    const head = await this.#storedHead(type, id);
    const size = treeSize ?? head.version;
    checkProofSize(size, head.version);
    if (!Number.isSafeInteger(version) || version < 1 || version > size) {
      throw new DbxError("invalid_input", `version must be between 1 and ${size}`);
    }
    const proof = await buildInclusionProof(version - 1, size, this.#leafSource(type, id));
    const event = decodeEventHeader((await this.#storage.get(eventKey(type, id, version)))!);
    return { ...proof, version, event_hash: event.hash };
  }

  /** Consistency proof that the tree at version `from` is a prefix of the tree at `to`. */
  async consistencyProof(
    type: string,
    id: string,
    from: number,
    to?: number,
  ): Promise<ConsistencyProofJson> {
    const head = await this.#storedHead(type, id);
    const newSize = to ?? head.version;
    checkProofSize(newSize, head.version);
    if (!Number.isSafeInteger(from) || from < 1 || from > newSize) {
      throw new DbxError("invalid_input", `from must be between 1 and ${newSize}`);
    }
    return await buildConsistencyProof(from, newSize, this.#leafSource(type, id));
  }

  async *#leafStream(type: string, id: string, from: number, to: number) {
    if (from > to) return;
    for await (
      const [, value] of this.#storage.range({
        gte: eventKey(type, id, from),
        lte: eventKey(type, id, to),
      })
    ) {
      yield leafHash(fromHex(decodeEventHeader(value).hash));
    }
  }

  #leafSource(type: string, id: string): LeafSource {
    return {
      leafHashes: (start, end) => this.#leafStream(type, id, start + 1, end),
      // Every event stores the root after itself: a prefix root is one point read.
      prefixRoot: async (size) => {
        const value = await this.#storage.get(eventKey(type, id, size));
        return value ? fromHex(decodeEventHeader(value).merkle_root) : undefined;
      },
    };
  }

  async #storedHead(type: string, id: string): Promise<StoredHead> {
    const bytes = await this.#storage.get(headKey(type, id));
    if (!bytes) throw notFound(type, id);
    return decodeHead(bytes);
  }

  /** Take a snapshot of the current state. Returns the snapshot's version. */
  snapshot(type: string, id: string, options: { comment?: string } = {}): Promise<number> {
    return this.#control("snapshot", type, id, options.comment);
  }

  /** Archive an aggregate: it then refuses appends until restored. */
  archive(type: string, id: string, options: { comment?: string } = {}): Promise<number> {
    return this.#control("archive", type, id, options.comment);
  }

  restore(type: string, id: string, options: { comment?: string } = {}): Promise<number> {
    return this.#control("restore", type, id, options.comment);
  }

  /** Snapshots of one aggregate, oldest first. */
  async listSnapshots(type: string, id: string): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for await (const [key, value] of this.#storage.range(snapshotRange(type, id))) {
      const version = parseAggregatePart(key.subarray(1)).version!;
      const snap = openJson<{ created_at: string; comment?: string }>(
        value,
        key,
        this.#dek,
        "snapshot",
      );
      out.push({ version, created_at: snap.created_at, comment: snap.comment ?? undefined });
    }
    return out;
  }

  /** Writes used so far against a write-limit counter. */
  async usedWrites(counter: string): Promise<number> {
    const value = await this.#storage.get(counterKey(counter));
    return value ? readU64(value) : 0;
  }

  /** Finish queued writes and close the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer?.close();
    await this.#storage.close();
  }

  #control(op: ControlOp, type: string, id: string, comment?: string): Promise<number> {
    try {
      validateName("aggregate type", type);
      validateName("aggregate id", id);
      validateNote(comment);
      return this.#requireWriter().control(op, type, id, comment);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #requireWriter(): Writer {
    if (this.#closed) throw new DbxError("unavailable", "the store is closed");
    if (!this.#writer) throw new DbxError("unavailable", "the store is open read-only");
    return this.#writer;
  }
}

function checkProofSize(size: number, current: number): void {
  if (!Number.isSafeInteger(size) || size < 1 || size > current) {
    throw new DbxError("invalid_input", `tree size must be between 1 and ${current}`);
  }
}

function notFound(type: string, id: string): DbxError {
  return new DbxError("not_found", `aggregate ${type}/${id} not found`);
}

/** A new store records a sealed constant; a wrong DEK then fails to open it. */
async function checkDek(storage: Storage, dek: Uint8Array, readOnly: boolean): Promise<void> {
  const key = metaKey(DEK_CHECK);
  const stored = await storage.get(key);
  if (!stored) {
    if (readOnly) return;
    await storage.write([{ type: "put", key, value: seal(dek, DEK_CHECK_PLAINTEXT, key) }], {
      sync: true,
    });
    return;
  }
  try {
    openSealed(dek, stored, key);
  } catch {
    throw new DbxError(
      "wrong_key",
      "the data encryption key (DEK) in the configuration does not match this store",
    );
  }
}
