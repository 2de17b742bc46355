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
  integrityError,
  isPlainObject,
  openJson,
  readRecord,
  recordName,
  type StoredHead,
} from "./codec.ts";
import {
  aggregatePart,
  counterKey,
  eventKey,
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
import { checkImportBatch } from "./import.ts";
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
  WriteStats,
} from "./types.ts";
import { verifyAggregate } from "./verify.ts";
import { IndexTail, type PositionCheck, verifyPositionIndex } from "./verify_index.ts";
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

/** Entries one `verifyPositions` page checks unless told otherwise, and at most. */
export const POSITIONS_PAGE = { default: 50_000, max: 500_000 } as const;

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
  /** What verifies learnt of the position index, shared by the verifies of a short while. */
  #indexTail = new IndexTail(true);

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
  /** Counters of the synced writes since the store opened (zeros when read-only). */
  writeStats(): WriteStats {
    return this.#writer?.stats ?? { writes: 0, rounds: 0, events: 0, wal_bytes: 0, write_ms: 0 };
  }

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
   * Import events of one aggregate as another node committed them (replication), all or
   * nothing: the writer recomputes every version, hash and Merkle root on top of this
   * node's head and refuses the batch when one differs from the claimed one (`import.ts`).
   */
  importEvents(
    aggregateType: string,
    aggregateId: string,
    events: readonly unknown[],
  ): Promise<AppendOutcome> {
    try {
      const inputs = checkImportBatch(aggregateType, aggregateId, events, this.#limits);
      return this.#requireWriter().append(inputs, {});
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
    const version = options.version;
    if (version === undefined) return await this.#currentAggregate(type, id);
    // History needs only the head's summary: not its sealed state, which may be damaged.
    const head = this.#writer?.committedHead(type, id)?.head ?? await this.#storedHead(type, id);
    if (version > head.version) {
      throw new DbxError(
        "not_found",
        `aggregate ${type}/${id} has no version ${version} (current version is ${head.version})`,
      );
    }
    if (version === head.version) return await this.#currentAggregate(type, id);
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new DbxError("invalid_input", "version must be a positive integer");
    }
    return await this.#stateAt(this.#aggregateRecord(type, id, head, {}), version);
  }

  /** The aggregate as last committed: from the writer's cache when it holds it. */
  async #currentAggregate(type: string, id: string): Promise<AggregateRecord> {
    const cached = this.#writer?.committedHead(type, id);
    if (cached) return this.#aggregateRecord(type, id, cached.head, copyState(cached.state));
    const key = headKey(type, id);
    const value = await this.#storage.get(key);
    if (!value) throw notFound(type, id);
    const head = readHead(key, value);
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
      state = readSnapshot(key, value, this.#dek);
      from = at + 1;
    }
    let last: EventRecord | undefined;
    // Every event in (snapshot, version] is there: #events says which one is not.
    for await (const record of this.#events(type, id, from, version)) {
      state = foldPayload(state, record.payload);
      last = record;
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

  /** Event `version`, which the aggregate's head says exists. */
  async #eventAt(type: string, id: string, version: number): Promise<EventRecord> {
    const key = eventKey(type, id, version);
    const value = await this.#storage.get(key);
    if (!value) throw missingEvent(key);
    return this.#decodeEvent(type, id, value, key);
  }

  /**
   * Events of one aggregate with versions in [from, to], in order; `to` is at most the
   * head's version, so each of them must be there (one missing is an integrity error).
   */
  async *#events(type: string, id: string, from: number, to: number): AsyncIterable<EventRecord> {
    if (from > to) return;
    let expected = from;
    const keyLength = eventKey(type, id, from).length;
    for await (
      const [key, value] of this.#storage.range({
        gte: eventKey(type, id, from),
        lte: eventKey(type, id, to),
      })
    ) {
      if (key.length !== keyLength) continue; // not an event key: verify reports it
      if (readU64(key, key.length - 8) !== expected) {
        throw missingEvent(eventKey(type, id, expected));
      }
      yield this.#decodeEvent(type, id, value, key);
      expected++;
    }
    if (expected <= to) throw missingEvent(eventKey(type, id, expected));
  }

  /** A stored event as a record; one that cannot be read, or is not its key's, is an integrity error. */
  #decodeEvent(type: string, id: string, value: Uint8Array, key: Uint8Array): EventRecord {
    const record = readRecord(key, () => decodeEvent(type, id, value, key, this.#dek));
    if (record.version !== readU64(key, key.length - 8)) {
      throw integrityError(
        `the stored ${recordName(key)}`,
        `is stored as version ${record.version}`,
      );
    }
    return record;
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
      const head = readHead(key, value);
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
      const head = readHead(key, value);
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

  /** Events of one aggregate, oldest first (up to its head's version, read first). */
  async listEvents(type: string, id: string, options: Page = {}): Promise<EventRecord[]> {
    const { skip = 0, take = 1000 } = options;
    const head = await this.#storedHead(type, id);
    return await this.#eventList(type, id, skip + 1, Math.min(skip + take, head.version));
  }

  /** The `take` most recent events of one aggregate, oldest first. */
  async recentEvents(type: string, id: string, take = 10): Promise<EventRecord[]> {
    const head = await this.#storedHead(type, id);
    if (take <= 0) return [];
    return await this.#eventList(type, id, Math.max(1, head.version - take + 1), head.version);
  }

  async #eventList(type: string, id: string, from: number, to: number): Promise<EventRecord[]> {
    const out: EventRecord[] = [];
    for await (const record of this.#events(type, id, from, to)) out.push(record);
    return out;
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
    let firstPosition = -1;
    for await (const [key, value] of this.#storage.range({ gte: from, lt: end })) {
      const first = readU64(key, 1);
      if (next !== -1 && first !== next) throw indexError(`has a gap at position ${next}`);
      let run: Uint8Array[];
      try {
        run = decodePositionRun(value);
      } catch {
        throw indexError(`record at position ${first} is damaged`);
      }
      for (let i = 0; i < run.length && parts.length < limit; i++) {
        if (first + i < wanted) continue;
        if (firstPosition === -1) firstPosition = first + i;
        parts.push(run[i]);
      }
      next = first + run.length;
      if (parts.length >= limit) break;
    }
    if (firstPosition !== -1 && firstPosition !== wanted) {
      throw indexError(`has a gap at position ${wanted}`);
    }
    const keys = parts.map((p) => {
      const key = new Uint8Array(p.length + 1);
      key[0] = PREFIX.event;
      key.set(p, 1);
      return key;
    });
    const values = await this.#storage.getMany(keys);
    return values.map((value, i) => {
      const position = firstPosition + i;
      const { type, id, version } = parseAggregatePart(parts[i]);
      if (version === undefined) throw indexError(`entry at position ${position} names no event`);
      if (!value) {
        throw integrityError(
          `the global position index names ${recordName(keys[i])} at position ${position}, but`,
          "that event is missing",
          "dbx verify reports it",
        );
      }
      const record = this.#decodeEvent(type, id, value, keys[i]);
      if (record.position !== position) {
        throw integrityError(
          `the stored ${recordName(keys[i])}`,
          `is stored at position ${record.position}, but the global position index names it at ${position}`,
          "dbx verify reports it",
        );
      }
      return record;
    });
  }

  /**
   * Re-read every event of an aggregate, recompute every hash and the Merkle
   * root, and report the first version that does not match.
   */
  async verify(type: string, id: string): Promise<VerifyResult> {
    const headBytes = await this.#storage.get(headKey(type, id));
    if (!headBytes) throw notFound(type, id);
    let head: StoredHead | undefined;
    try {
      head = decodeHead(headBytes);
    } catch (err) {
      if (!isDbxError(err, "corrupt")) throw err;
      // An unreadable head is reported by the verify, which still checks the events.
    }
    return await verifyAggregate(this.#storage, this.#dek, type, id, head, {
      headValue: headBytes,
      indexTail: this.#indexTail,
    });
  }

  /**
   * Check the global position index from position `from` (default 1) for about `take`
   * entries: no gap or overlap, every entry names an event that exists, is stored at that
   * position and is within its aggregate's head; the last page also checks that the index
   * ends at the store's last position and names every event. Page on with `next`.
   */
  async verifyPositions(options: { from?: number; take?: number } = {}): Promise<PositionCheck> {
    const take = Math.min(options.take ?? POSITIONS_PAGE.default, POSITIONS_PAGE.max);
    return await verifyPositionIndex(
      this.#storage,
      options.from ?? 1,
      Math.max(1, take),
      this.#indexTail.runs,
    );
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
    const key = eventKey(type, id, version);
    const value = await this.#storage.get(key);
    if (!value) throw missingEvent(key);
    const event = readRecord(key, () => decodeEventHeader(value));
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
      const [key, value] of this.#storage.range({
        gte: eventKey(type, id, from),
        lte: eventKey(type, id, to),
      })
    ) {
      yield leafHash(readRecord(key, () => hexOf(decodeEventHeader(value).hash)));
    }
  }

  #leafSource(type: string, id: string): LeafSource {
    return {
      leafHashes: (start, end) => this.#leafStream(type, id, start + 1, end),
      // Every event stores the root after itself: a prefix root is one point read.
      prefixRoot: async (size) => {
        const key = eventKey(type, id, size);
        const value = await this.#storage.get(key);
        return value
          ? readRecord(key, () => hexOf(decodeEventHeader(value).merkle_root))
          : undefined;
      },
    };
  }

  async #storedHead(type: string, id: string): Promise<StoredHead> {
    const key = headKey(type, id);
    const bytes = await this.#storage.get(key);
    if (!bytes) throw notFound(type, id);
    return readHead(key, bytes);
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
      const snap = readRecord(key, () => {
        const snap = openJson<{ created_at?: unknown; comment?: unknown }>(
          value,
          key,
          this.#dek,
          "snapshot",
        );
        if (!isPlainObject(snap) || typeof snap.created_at !== "string") {
          throw new DbxError("corrupt", "stored snapshot is unreadable");
        }
        return snap as { created_at: string; comment?: string };
      });
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
    this.#indexTail.clear();
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

/** A head value as stored: one that cannot be read is an integrity error naming the aggregate. */
function readHead(key: Uint8Array, value: Uint8Array): StoredHead {
  return readRecord(key, () => decodeHead(value));
}

/** A snapshot's state: one that cannot be decrypted or read is an integrity error. */
function readSnapshot(
  key: Uint8Array,
  value: Uint8Array,
  dek: Uint8Array,
): Record<string, unknown> {
  return readRecord(key, () => {
    const snap = openJson<{ state?: unknown }>(value, key, dek, "snapshot");
    if (!isPlainObject(snap) || !isPlainObject(snap.state)) {
      throw new DbxError("corrupt", "stored snapshot is unreadable");
    }
    return snap.state;
  });
}

/** An event the aggregate's head says exists is not stored. */
function missingEvent(key: Uint8Array): DbxError {
  return integrityError(`the stored ${recordName(key)}`, "is missing");
}

/** The global position index cannot be followed. */
function indexError(problem: string): DbxError {
  return integrityError("the global position index", problem, "dbx verify reports it");
}

/** A stored hash as bytes ("corrupt" when it is not hex, for `readRecord`). */
function hexOf(hash: string): Uint8Array {
  try {
    return fromHex(hash);
  } catch {
    throw new DbxError("corrupt", "stored hash is not hex");
  }
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
