/**
 * `dbx restore`: a backup archive back into a data directory, verified before it is used.
 *
 * 1. The target is checked first (not a file; empty or missing unless `force`).
 * 2. The archive is streamed (never held whole in memory) into a new directory beside the
 *    target: every member's name is checked (no absolute path, `..`, link or unknown member),
 *    the store's records are written into a fresh RocksDB store, the files are written out,
 *    and each member's SHA-256 is computed on the way.
 * 3. Against manifest.json (the last member): the exact list of members with sizes and
 *    digests, the counts, and the global position.
 * 4. The restored store is opened and every aggregate of the manifest is verified by the
 *    engine (events, hashes, Merkle roots, head, snapshots), its version and Merkle root
 *    compared with the manifest, then the global position index is checked whole.
 * 5. Only then is the new directory swapped into place in one step (see swap.ts), while the
 *    old store's lock is held so that no server starts on it meanwhile, and the old
 *    directory is removed.
 *
 * Any failure before step 5 removes the new directory and leaves the target exactly as it
 * was; so does kill -9 (a directory left beside the target by a killed restore is removed
 * by the next one).
 */
import { concatBytes } from "../util/concat_bytes.ts";
import { Buffer } from "node:buffer";
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { createGunzip } from "node:zlib";
import { dekBytes, loadConfig } from "../config/mod.ts";
import { Engine, storePath } from "../engine/engine.ts";
import { aggregatePart, PREFIX, readU64 } from "../engine/keys.ts";
import { DbxError, isDbxError } from "../errors.ts";
import { openRocksStorage } from "../store/rocksdb.ts";
import type { BatchOp, Storage } from "../store/storage.ts";
import {
  type AggregateLine,
  type BackupManifest,
  CONFIG_MEMBER,
  type ManifestMember,
  MAX_MEMBER_BYTES,
  memberKind,
  parseAggregateLine,
  parseManifest,
  readRecords,
} from "./archive.ts";
import { exchangeDirectories } from "./swap.ts";
import { type TarMemberHeader, TarReader } from "./tar.ts";

export interface RestoreOptions {
  /** The backup archive. */
  input: string;
  /** The data directory to restore into. */
  target: string;
  /** Replace a non-empty target. */
  force?: boolean;
  onProgress?: (progress: RestoreProgress) => void;
}

export type RestoreProgress =
  | { phase: "extract"; read: number; total: number; records: number }
  | { phase: "verify"; aggregates: number; total: number; events: number }
  | { phase: "index"; positions: number; total: number };

export interface RestoreSummary {
  target: string;
  created_at: string;
  program_version: string;
  global_position: number;
  aggregates: number;
  events: number;
  records: number;
  files: string[];
  /** True when an existing directory was replaced. */
  replaced: boolean;
  /** True when the swap was one atomic step (see swap.ts). */
  atomic: boolean;
  duration_ms: number;
}

/** Write batches of about this size into the new store. */
const WRITE_BATCH_BYTES = 4 << 20;
/** Aggregates verified at once. */
const VERIFY_CONCURRENCY = 4;

function refuse(why: string): DbxError {
  return new DbxError("invalid_input", `refusing to restore: ${why}`);
}

/**
 * Restore a backup archive into a data directory.
 *
 * @example
 * ```ts
 * const summary = await restoreArchive({ input: "/tmp/db-backup.tar.gz", target: "/tmp/db2" });
 * console.log(summary.global_position);
 * ```
 */
export async function restoreArchive(options: RestoreOptions): Promise<RestoreSummary> {
  const started = performance.now();
  const input = resolve(options.input);
  const target = await resolveTarget(resolve(options.target));
  const inputInfo = await Deno.stat(input).catch(() => undefined);
  if (!inputInfo?.isFile) throw new DbxError("not_found", `no backup archive at ${input}`);
  const state = await targetState(target);
  if (state === "non-empty" && !options.force) {
    throw refuse(`${target} is not empty; pass --force to replace it`);
  }
  const parent = dirname(target);
  await Deno.mkdir(parent, { recursive: true });
  await removeStaleWork(parent, basename(target));
  const temp = join(
    parent,
    `.${basename(target)}.restore-${Deno.pid}-${
      crypto.getRandomValues(new Uint32Array(1))[0].toString(36)
    }`,
  );
  await Deno.mkdir(temp, { mode: 0o700 });
  let committed = false;
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(temp, 0o700);
    const extracted = await extract(input, inputInfo.size, temp, options.onProgress);
    await verifyRestored(temp, extracted, options.onProgress);
    await Deno.remove(join(temp, WORK_DIR), { recursive: true });
    const swap = await swapIntoPlace(temp, target, state);
    committed = true;
    if (swap.old) await Deno.remove(swap.old, { recursive: true }).catch(() => {});
    const m = extracted.manifest;
    return {
      target,
      created_at: m.created_at,
      program_version: m.program_version,
      global_position: m.global_position,
      aggregates: m.aggregates,
      events: m.events,
      records: m.store.records,
      files: m.files,
      replaced: state === "non-empty",
      atomic: swap.atomic,
      duration_ms: performance.now() - started,
    };
  } finally {
    if (!committed) await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}

/** A symbolic link to a directory restores into the directory it names. */
async function resolveTarget(target: string): Promise<string> {
  try {
    const info = await Deno.lstat(target);
    if (info.isSymlink) return await Deno.realPath(target);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return target;
}

type TargetState = "missing" | "empty" | "non-empty";

async function targetState(target: string): Promise<TargetState> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(target);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
  if (!info.isDirectory) throw refuse(`${target} exists and is not a directory`);
  for await (const _ of Deno.readDir(target)) return "non-empty";
  return "empty";
}

/** Directories left beside the target by restores that were killed. */
async function removeStaleWork(parent: string, name: string): Promise<void> {
  const pattern = new RegExp(`^\\.${escapeRegExp(name)}\\.restore-(\\d+)-[a-z0-9]+$`);
  for await (const entry of Deno.readDir(parent)) {
    const m = pattern.exec(entry.name);
    if (!m || !entry.isDirectory) continue;
    const pid = Number(m[1]);
    if (pid !== Deno.pid && isAlive(pid)) continue;
    await Deno.remove(join(parent, entry.name), { recursive: true }).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound) && !/ESRCH|No such process/i.test(String(err));
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Where aggregate lists wait for the verification, inside the new directory. */
const WORK_DIR = ".restore-work";

interface Extracted {
  manifest: BackupManifest;
  /** Aggregate list files in the work dir, in order. */
  lists: string[];
  heads: number;
  position: number;
}

/** Stream the archive into `temp`: the store, the files, the lists; check against the manifest. */
async function extract(
  input: string,
  size: number,
  temp: string,
  onProgress: RestoreOptions["onProgress"],
): Promise<Extracted> {
  await Deno.mkdir(join(temp, WORK_DIR), { mode: 0o700 });
  const storage = await openRocksStorage(storePath(temp), { createIfMissing: true });
  const sink = new RestoreSink(temp, storage);
  let read = 0;
  try {
    const reader = new TarReader(sink);
    const file = createReadStream(input, { highWaterMark: 1 << 20 });
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    file.on("data", (chunk) => {
      read += (chunk as Uint8Array).length;
    });
    file.on("error", (err) => gunzip.destroy(err));
    file.pipe(gunzip);
    let lastReport = 0;
    try {
      for await (const piece of gunzip) {
        await reader.push(piece as Uint8Array);
        if (onProgress && performance.now() - lastReport > 100) {
          lastReport = performance.now();
          onProgress({ phase: "extract", read, total: size, records: sink.records });
        }
      }
    } catch (err) {
      file.destroy();
      throw gzipError(err);
    }
    reader.finish();
    await sink.flush(true);
  } finally {
    await storage.close();
  }
  return sink.check();
}

function gzipError(err: unknown): unknown {
  if (isDbxError(err)) return err;
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  if (/unexpected end|Z_BUF_ERROR/i.test(message) || e?.code === "Z_BUF_ERROR") {
    return new DbxError("corrupt", "the archive is truncated (its gzip stream ends early)");
  }
  if (/incorrect header check|invalid|Z_DATA_ERROR|unknown compression/i.test(message)) {
    return new DbxError(
      "corrupt",
      `the archive is damaged or not a gzip file (${message.split("\n")[0]})`,
    );
  }
  return err;
}

/** Receives the members of the archive as the tar reader finds them. */
class RestoreSink {
  records = 0;
  readonly #temp: string;
  readonly #storage: Storage;
  readonly #seen: ManifestMember[] = [];
  readonly #names = new Set<string>();
  readonly #lists: string[] = [];
  readonly #files: string[] = [];
  #manifest: BackupManifest | undefined;
  #config = false;
  #storeChunks = 0;
  #bytes = 0;
  #heads = 0;
  #position: number | undefined;
  #lastKey: Buffer | undefined;
  #ops: BatchOp[] = [];
  #opBytes = 0;
  // The member being read.
  #member: TarMemberHeader | undefined;
  #kind: ReturnType<typeof memberKind>;
  #hash: Hash | undefined;
  #parts: Uint8Array[] = [];

  constructor(temp: string, storage: Storage) {
    this.#temp = temp;
    this.#storage = storage;
  }

  begin(header: TarMemberHeader): void {
    if (this.#manifest) {
      throw refuse(`the archive has a member after manifest.json (${header.name})`);
    }
    const kind = memberKind(header.name);
    if (!kind) {
      throw refuse(
        `not an EventDBX backup: unexpected member ${JSON.stringify(header.name)}`,
      );
    }
    if (this.#names.has(header.name)) throw refuse(`the archive holds ${header.name} twice`);
    this.#names.add(header.name);
    if (header.size > MAX_MEMBER_BYTES) {
      throw refuse(`member ${header.name} is too large (${header.size} bytes)`);
    }
    if (kind.kind === "store" && kind.index !== this.#storeChunks + 1) {
      throw refuse(`store chunk ${header.name} is out of order`);
    }
    if (kind.kind === "aggregates" && kind.index !== this.#lists.length + 1) {
      throw refuse(`aggregate list ${header.name} is out of order`);
    }
    this.#member = header;
    this.#kind = kind;
    this.#hash = createHash("sha256");
    this.#parts = [];
  }

  data(bytes: Uint8Array): void {
    this.#hash!.update(bytes);
    this.#parts.push(Uint8Array.from(bytes));
  }

  async end(header: TarMemberHeader): Promise<void> {
    const kind = this.#kind!;
    const data = concatBytes(...this.#parts);
    this.#parts = [];
    const sha256 = this.#hash!.digest("hex");
    this.#member = undefined;
    if (kind.kind === "manifest") {
      this.#manifest = parseManifest(data);
      return;
    }
    this.#seen.push({ name: header.name, size: header.size, sha256 });
    switch (kind.kind) {
      case "store":
        this.#storeChunks++;
        await this.#storeRecords(data, header.name);
        break;
      case "aggregates": {
        const path = join(this.#temp, WORK_DIR, `${this.#lists.length + 1}.jsonl`);
        await Deno.writeFile(path, data, { mode: 0o600, createNew: true });
        this.#lists.push(path);
        break;
      }
      case "file": {
        const name = header.name.slice("files/".length);
        await Deno.writeFile(join(this.#temp, name), data, { mode: 0o600, createNew: true });
        this.#files.push(name);
        break;
      }
      case "config":
        await Deno.writeFile(join(this.#temp, "config.toml"), data, {
          mode: 0o600,
          createNew: true,
        });
        this.#config = true;
        break;
    }
  }

  async #storeRecords(data: Uint8Array, member: string): Promise<void> {
    const positionName = Buffer.from("position");
    for (const [key, value] of readRecords(data, member)) {
      const k = Buffer.from(key.buffer, key.byteOffset, key.length);
      if (this.#lastKey && Buffer.compare(this.#lastKey, k) >= 0) {
        throw refuse(`${member} is not in key order (a record is repeated or out of place)`);
      }
      this.#lastKey = k;
      if (key[0] === PREFIX.head) this.#heads++;
      else if (key[0] === PREFIX.meta && k.subarray(1).equals(positionName)) {
        if (value.length !== 8) throw refuse("the stored global position is damaged");
        this.#position = readU64(value);
      }
      this.records++;
      this.#bytes += key.length + value.length;
      this.#ops.push({ type: "put", key, value });
      this.#opBytes += key.length + value.length;
      if (this.#opBytes >= WRITE_BATCH_BYTES) await this.flush(false);
    }
  }

  async flush(sync: boolean): Promise<void> {
    if (this.#ops.length > 0) {
      const ops = this.#ops;
      this.#ops = [];
      this.#opBytes = 0;
      await this.#storage.write(ops, { sync });
      return;
    }
    if (sync) {
      // Nothing left to write: one tiny synced write makes everything before it durable.
      const key = Uint8Array.of(PREFIX.meta);
      await this.#storage.write([{ type: "put", key, value: new Uint8Array(0) }], { sync: true });
      await this.#storage.write([{ type: "del", key }], { sync: true });
    }
  }

  /** Compare what was read with the manifest. */
  check(): Extracted {
    const m = this.#manifest;
    if (!m) {
      throw refuse(
        this.#names.size === 0
          ? "the archive is empty"
          : "the archive has no manifest.json (truncated, or not an EventDBX backup)",
      );
    }
    const listed = m.members;
    if (listed.length !== this.#seen.length) {
      throw refuse(
        `the manifest lists ${listed.length} members but the archive holds ${this.#seen.length}`,
      );
    }
    for (let i = 0; i < listed.length; i++) {
      const want = listed[i];
      const got = this.#seen[i];
      if (want.name !== got.name) {
        throw refuse(`member ${i + 1} is ${got.name}, the manifest says ${want.name}`);
      }
      if (want.size !== got.size || want.sha256 !== got.sha256) {
        throw refuse(
          `member ${got.name} does not match the manifest (SHA-256 ${got.sha256}, ` +
            `expected ${want.sha256}): the archive was altered or damaged`,
        );
      }
    }
    if (!this.#config) throw refuse("the archive has no config.toml");
    if (
      m.store.chunks !== this.#storeChunks || m.store.records !== this.records ||
      m.store.bytes !== this.#bytes
    ) {
      throw refuse("the store in the archive does not match the manifest's counts");
    }
    if (m.aggregates !== this.#heads) {
      throw refuse(
        `the manifest lists ${m.aggregates} aggregates but the store holds ${this.#heads}`,
      );
    }
    if (m.global_position !== (this.#position ?? 0)) {
      throw refuse(
        `the manifest says global position ${m.global_position} but the store holds ${
          this.#position ?? 0
        }`,
      );
    }
    const files = [...this.#files].sort();
    if (JSON.stringify(files) !== JSON.stringify([...m.files].sort())) {
      throw refuse("the files in the archive do not match the manifest");
    }
    return { manifest: m, lists: this.#lists, heads: this.#heads, position: this.#position ?? 0 };
  }
}

/** Verify every aggregate against the manifest, then the position index. */
async function verifyRestored(
  temp: string,
  extracted: Extracted,
  onProgress: RestoreOptions["onProgress"],
): Promise<void> {
  const { config } = await loadConfig(
    { configPath: join(temp, CONFIG_MEMBER), dataDir: temp },
    { create: false },
  ).catch((err) => {
    throw refuse(`its config.toml cannot be used: ${(err as Error).message}`);
  });
  if (config.dek === undefined) throw refuse("its config.toml has no data encryption key");
  const storage = await openRocksStorage(storePath(temp), { createIfMissing: false });
  const engine = await Engine.open({ storage, dek: dekBytes(config), readOnly: true }).catch(
    (err) => {
      if (isDbxError(err, "wrong_key")) {
        throw refuse("its config.toml holds a DEK that does not match its store");
      }
      throw err;
    },
  );
  try {
    const total = extracted.manifest.aggregates;
    let done = 0;
    let events = 0;
    let listed = 0;
    let previous: Buffer | undefined;
    let lastReport = 0;
    const pending = new Set<Promise<void>>();
    let failure: unknown;
    const verifyOne = async (line: AggregateLine) => {
      const [type, id, version, root] = line;
      let result;
      try {
        result = await engine.verify(type, id);
      } catch (err) {
        throw refuse(
          `aggregate ${type}/${id} of the manifest cannot be verified: ${(err as Error).message}`,
        );
      }
      if (!result.verified) {
        throw refuse(
          `aggregate ${type}/${id} does not verify at version ${result.first_bad_version}: ${
            result.reason ?? "verification failed"
          }`,
        );
      }
      if (result.version !== version || result.merkle_root !== root) {
        throw refuse(
          `aggregate ${type}/${id} is at version ${result.version} with Merkle root ` +
            `${result.merkle_root}, the manifest says version ${version} with root ${root}`,
        );
      }
      done++;
      events += version;
      if (onProgress && performance.now() - lastReport > 100) {
        lastReport = performance.now();
        onProgress({ phase: "verify", aggregates: done, total, events });
      }
    };
    for (const path of extracted.lists) {
      const text = await Deno.readTextFile(path);
      for (const raw of text.split("\n")) {
        if (raw === "") continue;
        const line = parseAggregateLine(raw, "an aggregate list");
        const part = Buffer.from(aggregatePart(line[0], line[1]));
        if (previous && Buffer.compare(previous, part) >= 0) {
          throw refuse("the manifest's aggregate list is not in key order");
        }
        previous = part;
        listed++;
        const task: Promise<void> = verifyOne(line).catch((err) => {
          failure ??= err;
        }).finally(() => pending.delete(task));
        pending.add(task);
        if (pending.size >= VERIFY_CONCURRENCY) await Promise.race(pending);
        if (failure) break;
      }
      if (failure) break;
    }
    await Promise.all(pending);
    if (failure) throw failure;
    if (listed !== total || events !== extracted.manifest.events) {
      throw refuse(
        `the manifest lists ${listed} aggregates with ${events} events, but says ${total} ` +
          `with ${extracted.manifest.events}`,
      );
    }
    onProgress?.({ phase: "verify", aggregates: done, total, events });
    let from: number | undefined = 1;
    while (from !== undefined) {
      const page = await engine.verifyPositions({ from });
      if (!page.verified || page.problems.length > 0 || page.more_problems) {
        const first = page.problems[0];
        throw refuse(
          `the global position index does not verify${
            first ? ` at position ${first.position}: ${first.reason}` : ""
          }`,
        );
      }
      onProgress?.({ phase: "index", positions: page.to, total: page.last_position });
      from = page.next;
    }
    if ((await engine.lastPosition()) !== extracted.manifest.global_position) {
      throw refuse("the restored store's position does not match the manifest");
    }
  } finally {
    await engine.close();
  }
}

/**
 * Put the verified directory in the target's place. The old store's lock is held across
 * the swap, so a server that starts meanwhile cannot be running on what is replaced.
 */
async function swapIntoPlace(
  temp: string,
  target: string,
  state: TargetState,
): Promise<{ atomic: boolean; old?: string }> {
  await syncTree(temp);
  if (state === "missing") {
    await Deno.rename(temp, target);
    await syncDir(dirname(target));
    return { atomic: true };
  }
  let lock: Storage | undefined;
  try {
    lock = await openRocksStorage(storePath(target), { createIfMissing: false });
  } catch (err) {
    if (isDbxError(err, "unavailable")) {
      throw refuse(`a server or another dbx command holds the store at ${target}; stop it first`);
    }
    // No store there, or one that cannot be opened: nothing holds it.
  }
  try {
    // Recheck under the lock: the target may have changed since the start.
    const now = await targetState(target);
    if (now === "empty") {
      try {
        await Deno.rename(temp, target); // replaces an empty directory in one step (POSIX)
        await syncDir(dirname(target));
        return { atomic: true };
      } catch {
        // Windows: fall through to the exchange.
      }
    }
    if (Deno.build.os === "windows" && lock) {
      await lock.close(); // Windows cannot rename a directory with open files
      lock = undefined;
    }
    const atomic = await exchangeDirectories(temp, target);
    await syncDir(dirname(target));
    return { atomic, old: temp };
  } finally {
    await lock?.close();
  }
}

/** fsync every file and directory of the restored tree (RocksDB synced its own files). */
async function syncTree(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) {
      const f = await Deno.open(join(dir, entry.name), { read: true });
      try {
        await f.sync();
      } finally {
        f.close();
      }
    }
  }
  await syncDir(dir);
  await syncDir(storePath(dir));
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
