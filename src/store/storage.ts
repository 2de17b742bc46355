/**
 * The one storage interface the engine uses. Only `rocksdb.ts` implements it
 * against the native binding; nothing else imports the binding.
 */

export type BatchOp =
  | { type: "put"; key: Uint8Array; value: Uint8Array }
  | { type: "del"; key: Uint8Array };

export interface RangeOptions {
  gte?: Uint8Array;
  gt?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
  reverse?: boolean;
  limit?: number;
  /** Only keys are needed (saves copying values across the binding). */
  keysOnly?: boolean;
}

export interface Storage {
  /** The value at `key`, or undefined. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Values for many keys in one call, in the same order. */
  getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  /** Apply all operations atomically; `sync` waits for the WAL to reach disk. */
  write(ops: BatchOp[], options: { sync: boolean }): Promise<void>;
  /** Entries in key order (or reverse) within the range. */
  range(options: RangeOptions): AsyncIterable<[Uint8Array, Uint8Array]>;
  close(): Promise<void>;
}

export interface StorageOpenOptions {
  /** Open without taking the lock: another process may be writing. */
  readOnly?: boolean;
  /** Block cache size in bytes. */
  cacheSize?: number;
  createIfMissing?: boolean;
  /**
   * Open every table file when the store opens and keep it open: a long scan of a read-only
   * view then never misses a file that the process owning the store compacts away.
   */
  pinFiles?: boolean;
}
