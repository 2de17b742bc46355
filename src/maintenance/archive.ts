/**
 * The backup archive format (format version 1): a gzip-compressed ustar archive.
 *
 *   store/000001.kv …          the store as a logical dump, in key order, read through one
 *                              RocksDB snapshot: records of u32 key length, u32 value
 *                              length (big-endian), key, value. Values are copied exactly as
 *                              stored, so everything sealed with the DEK stays sealed.
 *   aggregates/000001.jsonl …  one line per aggregate, in key order:
 *                              `[type, id, version, merkle_root]`
 *   files/<name>               the data directory's files (schemas, tokens, node key, staged
 *                              events, remotes, plugin configuration), when present
 *   config.toml                the configuration (holds the DEK: the archive is mode 0600)
 *   manifest.json              last: format, program version, creation time, global
 *                              position, counts, and the size and SHA-256 of every other member
 *
 * The format does not depend on RocksDB's files, so a backup restores into a fresh store of
 * any later RocksDB version.
 */
import { DbxError } from "../errors.ts";

/** The `format` field of every manifest. */
export const BACKUP_FORMAT = "eventdbx-backup";
/** The format version this program writes and reads. */
export const BACKUP_FORMAT_VERSION = 1;

export const MANIFEST_NAME = "manifest.json";
export const CONFIG_MEMBER = "config.toml";

/** Files of the data directory a backup carries (the store is dumped separately). */
export const DATA_FILES = [
  "schemas.json",
  "tokens.json",
  "node.key",
  "staged_events.json",
  "remotes.json",
  "plugins.json",
  "replication.key",
  "replication.pub",
] as const;

/** A store chunk is cut once it holds this many bytes (a single larger record gets its own). */
export const CHUNK_BYTES = 8 << 20;
/** The largest member a reader accepts (store chunks, lists, files, the manifest). */
export const MAX_MEMBER_BYTES = 256 << 20;

/** Name of store chunk `n` (1-based). */
export function storeChunkName(n: number): string {
  return `store/${String(n).padStart(6, "0")}.kv`;
}

/** Name of aggregate list `n` (1-based). */
export function aggregateListName(n: number): string {
  return `aggregates/${String(n).padStart(6, "0")}.jsonl`;
}

/** What kind of member a name is, or undefined when no backup has such a member. */
export function memberKind(
  name: string,
):
  | { kind: "store" | "aggregates"; index: number }
  | { kind: "file" | "config" | "manifest" }
  | undefined {
  if (name === MANIFEST_NAME) return { kind: "manifest" };
  if (name === CONFIG_MEMBER) return { kind: "config" };
  let m = /^store\/(\d{6})\.kv$/.exec(name);
  if (m) return { kind: "store", index: Number(m[1]) };
  m = /^aggregates\/(\d{6})\.jsonl$/.exec(name);
  if (m) return { kind: "aggregates", index: Number(m[1]) };
  if (name.startsWith("files/") && (DATA_FILES as readonly string[]).includes(name.slice(6))) {
    return { kind: "file" };
  }
  return undefined;
}

/** One member as the manifest lists it. */
export interface ManifestMember {
  name: string;
  size: number;
  sha256: string;
}

/** manifest.json. */
export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  format_version: number;
  program: "dbx";
  program_version: string;
  created_at: string;
  /** The data directory the backup was taken of (for information). */
  source_data_dir: string;
  /** The store's global position: the backup holds exactly the events 1…global_position. */
  global_position: number;
  store: {
    /** Key/value records in the dump. */
    records: number;
    /** Bytes of keys and values. */
    bytes: number;
    chunks: number;
  };
  /** Aggregates (one line each in the aggregate lists) and the events they hold. */
  aggregates: number;
  events: number;
  /** The data directory files carried (names under files/). */
  files: string[];
  /** Every other member, in archive order. */
  members: ManifestMember[];
}

function bad(why: string): DbxError {
  return new DbxError("invalid_input", `not a valid EventDBX backup: ${why}`);
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Parse and check manifest.json: a wrong format or a newer format version is refused with a
 * message saying so.
 *
 * @example
 * ```ts
 * parseManifest(new TextEncoder().encode('{"format":"zip"}')); // throws: not an EventDBX backup
 * ```
 */
export function parseManifest(bytes: Uint8Array): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw bad("manifest.json is not JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw bad("manifest.json is not an object");
  }
  const m = raw as Record<string, unknown>;
  if (m.format !== BACKUP_FORMAT) {
    throw bad(`its manifest names format ${JSON.stringify(m.format)}`);
  }
  if (m.format_version !== BACKUP_FORMAT_VERSION) {
    throw new DbxError(
      "invalid_input",
      `this backup has format version ${JSON.stringify(m.format_version)}; this dbx reads ` +
        `format version ${BACKUP_FORMAT_VERSION} (a newer dbx made it?)`,
    );
  }
  const store = m.store as Record<string, unknown> | undefined;
  const ok = typeof m.program_version === "string" && typeof m.created_at === "string" &&
    typeof m.source_data_dir === "string" && isCount(m.global_position) &&
    typeof store === "object" && store !== null && isCount(store.records) &&
    isCount(store.bytes) && isCount(store.chunks) && isCount(m.aggregates) &&
    isCount(m.events) && Array.isArray(m.files) &&
    m.files.every((f) => typeof f === "string") && Array.isArray(m.members) &&
    m.members.every((x) =>
      typeof x === "object" && x !== null && typeof x.name === "string" && isCount(x.size) &&
      typeof x.sha256 === "string" && /^[0-9a-f]{64}$/.test(x.sha256)
    );
  if (!ok) throw bad("manifest.json lacks fields or has fields of the wrong type");
  return raw as BackupManifest;
}

/** Bytes of one dump record's framing. */
export const RECORD_HEADER = 8;

/**
 * Append-only buffer of dump records, cut into chunks by the caller.
 *
 * @example
 * ```ts
 * const chunk = new RecordChunk(1024);
 * chunk.add(new Uint8Array([1]), new Uint8Array([2, 3]));
 * chunk.bytes(); // 8 + 1 + 2 bytes
 * ```
 */
export class RecordChunk {
  #buf: Uint8Array;
  #view: DataView;
  #length = 0;
  records = 0;

  constructor(capacity = CHUNK_BYTES + (1 << 20)) {
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  get length(): number {
    return this.#length;
  }

  add(key: Uint8Array, value: Uint8Array): void {
    const need = this.#length + RECORD_HEADER + key.length + value.length;
    if (need > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(need, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(0, this.#length));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    this.#view.setUint32(this.#length, key.length);
    this.#view.setUint32(this.#length + 4, value.length);
    this.#buf.set(key, this.#length + RECORD_HEADER);
    this.#buf.set(value, this.#length + RECORD_HEADER + key.length);
    this.#length = need;
    this.records++;
  }

  /** The records so far (a view, valid until the next `add` or `clear`). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#length);
  }

  clear(): void {
    this.#length = 0;
    this.records = 0;
  }
}

/**
 * Split a store chunk into its records, checking the framing.
 *
 * @example
 * ```ts
 * const chunk = new RecordChunk(64);
 * chunk.add(new Uint8Array([1]), new Uint8Array([2]));
 * for (const [key, value] of readRecords(chunk.bytes(), "store/000001.kv")) console.log(key, value);
 * ```
 */
export function* readRecords(
  bytes: Uint8Array,
  member: string,
): Generator<[Uint8Array, Uint8Array]> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (at + RECORD_HEADER > bytes.length) throw bad(`${member} ends inside a record`);
    const keyLength = view.getUint32(at);
    const valueLength = view.getUint32(at + 4);
    const end = at + RECORD_HEADER + keyLength + valueLength;
    if (keyLength === 0 || end > bytes.length) throw bad(`${member} has a damaged record`);
    const key = bytes.subarray(at + RECORD_HEADER, at + RECORD_HEADER + keyLength);
    yield [key, bytes.subarray(at + RECORD_HEADER + keyLength, end)];
    at = end;
  }
}

/** One line of an aggregate list. */
export type AggregateLine = [type: string, id: string, version: number, merkleRoot: string];

/**
 * Parse one line of an aggregate list.
 *
 * @example
 * ```ts
 * parseAggregateLine('["patient","p-1",3,"ab…"]', "aggregates/000001.jsonl");
 * ```
 */
export function parseAggregateLine(line: string, member: string): AggregateLine {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw bad(`${member} has a line that is not JSON`);
  }
  if (
    !Array.isArray(raw) || raw.length !== 4 || typeof raw[0] !== "string" ||
    typeof raw[1] !== "string" || !isCount(raw[2]) || typeof raw[3] !== "string"
  ) {
    throw bad(`${member} has a line that is not [type, id, version, merkle_root]`);
  }
  return raw as AggregateLine;
}
