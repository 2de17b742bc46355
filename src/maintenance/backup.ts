/**
 * `dbx backup`: one tar.gz holding the store, the configuration and the data directory's
 * files, consistent while a server runs.
 *
 * The store is opened read-only (no lock: a running server keeps serving) with every table
 * file pinned open, and read with one iterator over the whole keyspace: one RocksDB snapshot.
 * Every write is one atomic batch that also moves the global position, so the dump is exactly
 * the store as of one global position. As a guard against a view opened while the owner
 * flushed and dropped a log file, the dump checks that the global position index is
 * gap-free up to that position, and starts over (a few times) when it is not.
 *
 * Members are gzip-compressed one by one (a multi-member gzip stream, which `tar xzf` and
 * every gzip reader accept), written to a temp file beside the output, synced, then renamed
 * into place: an interrupted backup never leaves a partial archive under the output's name.
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { decodeHead } from "../engine/codec.ts";
import { storePath } from "../engine/engine.ts";
import { parseAggregatePart, PREFIX, readU64 } from "../engine/keys.ts";
import { DbxError, isDbxError } from "../errors.ts";
import { openRocksStorage } from "../store/rocksdb.ts";
import type { Storage } from "../store/storage.ts";
import {
  aggregateListName,
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  type BackupManifest,
  CHUNK_BYTES,
  CONFIG_MEMBER,
  DATA_FILES,
  MANIFEST_NAME,
  type ManifestMember,
  RecordChunk,
  storeChunkName,
} from "./archive.ts";
import { tarEnd, tarHeader, tarPadding } from "./tar.ts";

/** What a backup is asked to do. */
export interface BackupOptions {
  dataDir: string;
  /** The configuration file to carry (config.toml of the data directory, or --config). */
  configPath: string;
  /** The archive to write. */
  output: string;
  /** Replace an existing file at `output`. */
  force?: boolean;
  /** Version of the program writing it (recorded in the manifest). */
  programVersion: string;
  /** gzip level (default 6). */
  level?: number;
  onProgress?: (progress: BackupProgress) => void;
  now?: () => Date;
}

/** Progress of a running backup. */
export interface BackupProgress {
  records: number;
  /** Bytes of keys and values read. */
  bytes: number;
  /** Compressed bytes written. */
  written: number;
}

/** What a finished backup reports. */
export interface BackupSummary {
  path: string;
  created_at: string;
  global_position: number;
  aggregates: number;
  events: number;
  records: number;
  files: string[];
  /** Size of the archive. */
  bytes: number;
  sha256: string;
  duration_ms: number;
}

/** How often a dump that saw an inconsistent view is started over. */
const ATTEMPTS = 3;

/**
 * Write a backup archive of a data directory.
 *
 * @example
 * ```ts
 * const summary = await backupDataDir({
 *   dataDir: "/tmp/db", configPath: "/tmp/db/config.toml",
 *   output: "/tmp/db-backup.tar.gz", programVersion: "0.1.0",
 * });
 * console.log(summary.global_position);
 * ```
 */
export async function backupDataDir(options: BackupOptions): Promise<BackupSummary> {
  const started = performance.now();
  const config = await readFileOrUndefined(options.configPath);
  if (config === undefined) {
    throw new DbxError(
      "not_found",
      `no configuration at ${options.configPath}: nothing to back up (is the data directory right?)`,
    );
  }
  await checkOutput(options.output, options.force ?? false);
  const temp = join(
    dirname(options.output),
    `.${basename(options.output)}.${Deno.pid}.${randomSuffix()}.partial`,
  );
  let lastError: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const result = await writeArchive(options, config, temp);
      await Deno.rename(temp, options.output);
      await syncDir(dirname(options.output));
      return { ...result, path: options.output, duration_ms: performance.now() - started };
    } catch (err) {
      await Deno.remove(temp).catch(() => {});
      lastError = err;
      if (!(err instanceof ChangedUnderneath)) throw err;
    }
  }
  throw new DbxError(
    "unavailable",
    `the store's view kept changing while it was read (${
      (lastError as Error).message
    }); if no server is writing, run dbx verify`,
  );
}

/** The view of the store was not one consistent position: start over. */
class ChangedUnderneath extends Error {}

async function checkOutput(output: string, force: boolean): Promise<void> {
  try {
    const info = await Deno.lstat(output);
    if (info.isDirectory) {
      throw new DbxError(
        "invalid_input",
        `--output ${output} is a directory; name the archive file`,
      );
    }
    if (!force) {
      throw new DbxError(
        "conflict",
        `${output} exists already; pass --force to replace it`,
      );
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  try {
    const parent = await Deno.stat(dirname(output));
    if (!parent.isDirectory) throw new Deno.errors.NotFound();
  } catch {
    throw new DbxError("not_found", `the directory of --output ${output} does not exist`);
  }
}

async function writeArchive(
  options: BackupOptions,
  config: Uint8Array,
  temp: string,
): Promise<Omit<BackupSummary, "path" | "duration_ms">> {
  const now = (options.now ?? (() => new Date()))();
  const out = new ArchiveWriter(
    await Deno.open(temp, { write: true, createNew: true, mode: 0o600 }),
    options.level ?? 6,
    now,
  );
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(temp, 0o600);
    const dump = await dumpStore(options, out);
    const files: string[] = [];
    for (const name of DATA_FILES) {
      const data = await readFileOrUndefined(join(options.dataDir, name));
      if (data === undefined) continue;
      files.push(name);
      await out.member(`files/${name}`, [data]);
    }
    await out.member(CONFIG_MEMBER, [config]);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      format_version: BACKUP_FORMAT_VERSION,
      program: "dbx",
      program_version: options.programVersion,
      created_at: now.toISOString(),
      source_data_dir: options.dataDir,
      global_position: dump.position,
      store: { records: dump.records, bytes: dump.bytes, chunks: dump.chunks },
      aggregates: dump.aggregates,
      events: dump.events,
      files,
      members: out.members.slice(),
    };
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n");
    await out.member(MANIFEST_NAME, [manifestBytes]);
    await out.finish();
    return {
      created_at: manifest.created_at,
      global_position: dump.position,
      aggregates: dump.aggregates,
      events: dump.events,
      records: dump.records,
      files,
      bytes: out.written,
      sha256: out.digest(),
    };
  } finally {
    out.close();
  }
}

interface DumpResult {
  position: number;
  records: number;
  bytes: number;
  chunks: number;
  aggregates: number;
  events: number;
}

/** Read the whole store through one iterator into store and aggregate-list members. */
async function dumpStore(options: BackupOptions, out: ArchiveWriter): Promise<DumpResult> {
  const storage = await openView(options.dataDir);
  const result: DumpResult = {
    position: 0,
    records: 0,
    bytes: 0,
    chunks: 0,
    aggregates: 0,
    events: 0,
  };
  if (!storage) return result;
  const chunk = new RecordChunk();
  const lines: string[] = [];
  let lineBytes = 0;
  let lists = 0;
  const flushLines = async () => {
    if (lines.length === 0) return;
    await out.member(aggregateListName(++lists), [new TextEncoder().encode(lines.join(""))]);
    lines.length = 0;
    lineBytes = 0;
  };
  const flushChunk = async () => {
    if (chunk.length === 0) return;
    await out.member(storeChunkName(++result.chunks), [chunk.bytes()]);
    chunk.clear();
  };
  // Position index runs must follow one another from 1 up to the recorded position.
  let nextRun = 1;
  let sawPosition = false;
  let lastProgress = 0;
  const positionKey = new TextEncoder().encode("position");
  try {
    for await (const [key, value] of storage.range({})) {
      chunk.add(key, value);
      result.records++;
      result.bytes += key.length + value.length;
      const prefix = key[0];
      if (prefix === PREFIX.head) {
        const { type, id } = parseAggregatePart(key.subarray(1));
        let head;
        try {
          head = decodeHead(value);
        } catch (err) {
          if (!isDbxError(err)) throw err;
          throw new DbxError(
            "integrity",
            `the stored head of aggregate ${type}/${id} is unreadable (${err.message}); ` +
              "run dbx verify",
          );
        }
        const line = JSON.stringify([type, id, head.version, head.merkle_root]) + "\n";
        lines.push(line);
        lineBytes += line.length;
        result.aggregates++;
        result.events += head.version;
        if (lineBytes >= CHUNK_BYTES) await flushLines();
      } else if (prefix === PREFIX.meta && equalBytes(key.subarray(1), positionKey)) {
        result.position = readU64(value);
        sawPosition = true;
      } else if (prefix === PREFIX.position) {
        const first = readU64(key, 1);
        if (first !== nextRun) {
          throw new ChangedUnderneath(`the position index jumps from ${nextRun} to ${first}`);
        }
        nextRun = first + runLength(value);
      }
      if (chunk.length >= CHUNK_BYTES) await flushChunk();
      if (options.onProgress && result.records - lastProgress >= 4096) {
        lastProgress = result.records;
        options.onProgress({ records: result.records, bytes: result.bytes, written: out.written });
      }
    }
  } finally {
    await storage.close();
  }
  if ((sawPosition ? result.position : 0) !== nextRun - 1) {
    throw new ChangedUnderneath(
      `the position index ends at ${nextRun - 1} but the store's position is ${result.position}`,
    );
  }
  await flushChunk();
  await flushLines();
  options.onProgress?.({ records: result.records, bytes: result.bytes, written: out.written });
  return result;
}

/** The store opened read-only with its files pinned; undefined when there is no store yet. */
async function openView(dataDir: string): Promise<Storage | undefined> {
  const path = storePath(dataDir);
  for (let attempt = 1;; attempt++) {
    try {
      return await openRocksStorage(path, {
        readOnly: true,
        createIfMissing: false,
        pinFiles: true,
      });
    } catch (err) {
      if (isDbxError(err, "not_found")) {
        try {
          await Deno.stat(path);
        } catch {
          return undefined; // never written: an empty store
        }
      }
      // A file the owner removed between listing and opening: try again.
      if (attempt >= ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

/** Entries in one position-index run (see codec's decodePositionRun). */
function runLength(value: Uint8Array): number {
  let n = 0;
  let at = 0;
  while (at + 2 <= value.length) {
    at += 2 + ((value[at] << 8) | value[at + 1]);
    n++;
  }
  if (at !== value.length) throw new ChangedUnderneath("a position index record is damaged");
  return n;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Writes tar members, each compressed as its own gzip member, and records their digests.
 */
class ArchiveWriter {
  readonly members: ManifestMember[] = [];
  written = 0;
  readonly #file: Deno.FsFile;
  readonly #level: number;
  readonly #mtime: Date;
  readonly #archiveHash = createHash("sha256");
  #closed = false;

  constructor(file: Deno.FsFile, level: number, mtime: Date) {
    this.#file = file;
    this.#level = level;
    this.#mtime = mtime;
  }

  async member(name: string, parts: Uint8Array[]): Promise<void> {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const hash = createHash("sha256");
    for (const p of parts) hash.update(p);
    if (name !== MANIFEST_NAME) {
      this.members.push({ name, size, sha256: hash.digest("hex") });
    }
    const header = tarHeader({ name, size, mode: 0o600, mtime: this.#mtime });
    const pad = tarPadding(size);
    const whole = new Uint8Array(header.length + size + pad.length);
    whole.set(header, 0);
    let at = header.length;
    for (const p of parts) {
      whole.set(p, at);
      at += p.length;
    }
    await this.#write(gzipSync(whole, { level: this.#level }));
  }

  async finish(): Promise<void> {
    await this.#write(gzipSync(tarEnd(), { level: this.#level }));
    await this.#file.sync();
  }

  digest(): string {
    return this.#archiveHash.digest("hex");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }

  async #write(bytes: Uint8Array): Promise<void> {
    this.#archiveHash.update(bytes);
    let at = 0;
    while (at < bytes.length) at += await this.#file.write(bytes.subarray(at));
    this.written += bytes.length;
  }
}

async function readFileOrUndefined(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

function randomSuffix(): string {
  return crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
}

async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}
