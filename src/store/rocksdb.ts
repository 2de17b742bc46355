import { Buffer } from "node:buffer";
import rocksdb from "rocksdb";
import { DbxError } from "../errors.ts";
import type { BatchOp, RangeOptions, Storage, StorageOpenOptions } from "./storage.ts";

// The binding is callback based; its work runs on libuv threads, off the JS thread.
// deno-lint-ignore no-explicit-any
type Native = any;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function promisify<T>(fn: (cb: (err: Error | null | undefined, value?: T) => void) => void) {
  return new Promise<T>((resolve, reject) => {
    fn((err, value) => (err ? reject(err) : resolve(value as T)));
  });
}

/** RocksDB's block cache unless `cacheSize` says otherwise. */
export const DEFAULT_BLOCK_CACHE_BYTES = 4 << 20;

/**
 * Open a RocksDB directory behind the Storage interface.
 *
 * @example
 * ```ts
 * const storage = await openRocksStorage("/tmp/db");
 * const k = new TextEncoder().encode("key");
 * const v = new TextEncoder().encode("value");
 * await storage.write([{ type: "put", key: k, value: v }], { sync: true });
 * await storage.get(k); // the bytes of "value"
 * await storage.close();
 * ```
 */
export async function openRocksStorage(
  path: string,
  options: StorageOpenOptions = {},
): Promise<Storage> {
  const db: Native = rocksdb(path);
  try {
    await promisify<void>((cb) =>
      db.open({
        createIfMissing: options.createIfMissing ?? !options.readOnly,
        readOnly: options.readOnly ?? false,
        // Issue 11 (README "Memory"): a 4 MiB block cache (32 MiB before) and 16 KiB blocks
        // (4 KiB before). The cache fills as the store grows, and every open table keeps its
        // index (one entry per block) and bloom filter in memory: with the other memory
        // settings, RSS grew 1.42× from 100k to 1M events at 32 MiB and 4 KiB, 1.05–1.10× at
        // 4 MiB and 16 KiB (index and filters of the 1M-event store: 2.7 MiB instead of 6.7).
        // Random head reads measured the same (hot heads are cached by the writer; a block
        // that misses is read from the OS page cache).
        cacheSize: options.cacheSize ?? DEFAULT_BLOCK_CACHE_BYTES,
        blockSize: 16 << 10,
        // Up to two 16 MiB memtables (one being flushed); 8 MiB measured no lower.
        writeBufferSize: 16 << 20,
        // The binding passes this on as the size of RocksDB's info log, not of table files.
        maxFileSize: 32 << 20,
        // -1 (as the binding's uint32 reads it) opens every table file at open.
        maxOpenFiles: options.pinFiles ? -1 : 500,
        infoLogLevel: "error",
      }, cb)
    );
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/lock/i.test(message)) {
      throw new DbxError("unavailable", `the store at ${path} is in use by another process`);
    }
    if (/does not exist|No such file/i.test(message)) {
      throw new DbxError("not_found", `no store at ${path}`);
    }
    throw new DbxError("corrupt", `cannot open the store at ${path}: ${message}`);
  }
  return new RocksStorage(db);
}

/** Writes up to this size go through a reused chained batch (see `write`). */
const REUSED_BATCH_BYTES = 4 << 20;
/** Chained batches kept per store: more concurrent writes use the array form. */
const MAX_BATCHES = 4;

class RocksStorage implements Storage {
  #db: Native;
  #closed = false;
  #iterators = new Set<OpenIterator>();
  /**
   * Chained batches, cleared and reused: the binding frees one only when V8
   * collects its tiny handle, which a steady load may never trigger.
   */
  #idleBatches: Native[] = [];
  #batchCount = 0;

  constructor(db: Native) {
    this.#db = db;
  }

  // The binding dereferences a closed database natively (a segfault for `get`):
  // every call checks first and fails cleanly instead.
  #closedError(): DbxError | undefined {
    return this.#closed ? new DbxError("unavailable", "the store is closed") : undefined;
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const closed = this.#closedError();
    if (closed) return Promise.reject(closed);
    return new Promise((resolve, reject) => {
      this.#db.get(
        toBuffer(key),
        { asBuffer: true, fillCache: true },
        (err: Error | null, value?: Buffer) => {
          if (err) {
            if ((err as { notFound?: boolean }).notFound || /NotFound/.test(err.message)) {
              resolve(undefined);
            } else reject(err);
          } else resolve(value);
        },
      );
    });
  }

  getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const closed = this.#closedError();
    if (closed) return Promise.reject(closed);
    if (keys.length === 0) return Promise.resolve([]);
    return promisify<(Buffer | undefined)[]>((cb) =>
      this.#db.getMany(keys.map(toBuffer), { asBuffer: true }, cb)
    );
  }

  write(ops: BatchOp[], options: { sync: boolean }): Promise<void> {
    const closed = this.#closedError();
    if (closed) return Promise.reject(closed);
    if (ops.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const op of ops) bytes += op.key.length + (op.type === "put" ? op.value.length : 0);
    const batch = bytes <= REUSED_BATCH_BYTES ? this.#takeBatch() : undefined;
    if (!batch) {
      // The array form's native batch is freed as soon as its write is done.
      const native = ops.map((op) =>
        op.type === "put"
          ? { type: "put", key: toBuffer(op.key), value: toBuffer(op.value) }
          : { type: "del", key: toBuffer(op.key) }
      );
      return promisify<void>((cb) => this.#db.batch(native, { sync: options.sync }, cb));
    }
    // A chained batch takes each key and value in one native call (the binding
    // accepts any Uint8Array) instead of the array form's several property lookups
    // and Buffer wrappers per operation. Our ops are typed, so the abstract
    // layer's argument checks are skipped by calling its implementation methods.
    try {
      for (const op of ops) {
        if (op.type === "put") batch._put(op.key, op.value);
        else batch._del(op.key);
      }
    } catch (err) {
      this.#returnBatch(batch);
      return Promise.reject(err);
    }
    return promisify<void>((cb) => batch._write({ sync: options.sync }, cb)).finally(() =>
      this.#returnBatch(batch)
    );
  }

  /** An idle chained batch, a new one while fewer than MAX_BATCHES exist, else none. */
  #takeBatch(): Native | undefined {
    const idle = this.#idleBatches.pop();
    if (idle) return idle;
    if (this.#batchCount >= MAX_BATCHES) return undefined;
    this.#batchCount++;
    return this.#db._chainedBatch();
  }

  #returnBatch(batch: Native): void {
    if (this.#closed) return;
    // Clearing keeps the native buffer's capacity, bounded by REUSED_BATCH_BYTES.
    batch._clear();
    this.#idleBatches.push(batch);
  }

  async *range(options: RangeOptions): AsyncIterable<[Uint8Array, Uint8Array]> {
    const closed = this.#closedError();
    if (closed) throw closed;
    // The binding turns an undefined bound into the string "undefined": pass only real bounds.
    const bounds: Record<string, Buffer> = {};
    for (const name of ["gte", "gt", "lt", "lte"] as const) {
      const bound = options[name];
      if (bound) bounds[name] = toBuffer(bound);
    }
    const handle: OpenIterator = {
      it: this.#db.iterator({
        ...bounds,
        reverse: options.reverse ?? false,
        limit: options.limit ?? -1,
        keys: true,
        values: !options.keysOnly,
        keyAsBuffer: true,
        valueAsBuffer: true,
        highWaterMark: 64 * 1024,
      }),
      busy: undefined,
      ended: undefined,
    };
    this.#iterators.add(handle);
    try {
      while (true) {
        const closedMidway = this.#closedError();
        if (closedMidway) throw closedMidway;
        const step = new Promise<[Buffer, Buffer] | undefined>((resolve, reject) => {
          handle.it.next((err: Error | null, key?: Buffer, value?: Buffer) => {
            if (err) reject(err);
            else if (key === undefined) resolve(undefined);
            else resolve([key, value ?? EMPTY]);
          });
        });
        handle.busy = step.then(() => {}, () => {});
        const entry = await step;
        handle.busy = undefined;
        if (!entry) return;
        yield entry;
      }
    } finally {
      await endIterator(handle);
      this.#iterators.delete(handle);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The binding's close waits for open iterators: end them first (a scan
    // still in progress then fails with "the store is closed").
    await Promise.all([...this.#iterators].map(endIterator));
    await promisify<void>((cb) => this.#db.close(cb));
  }
}

/** A native iterator with its step in flight, if any, and its end, once begun. */
interface OpenIterator {
  it: Native;
  busy: Promise<void> | undefined;
  ended: Promise<void> | undefined;
}

/** End an iterator once, after any step in flight (the binding refuses end() during next()). */
function endIterator(handle: OpenIterator): Promise<void> {
  handle.ended ??= (async () => {
    await handle.busy;
    await promisify<void>((cb) => handle.it.end(cb));
  })();
  return handle.ended;
}

const EMPTY = Buffer.alloc(0);
