/**
 * One node: a data directory's configuration, store, schemas and tokens, wired together in
 * this one place. Surfaces never open these parts themselves: they get an API over a node
 * (`createApi`), in this process or across a port or a wire.
 *
 * The configuration objects a later shared-storage backend will move (schemas, tokens and
 * their revocations) are reached only through the node's `schemas` and `tokens`.
 */
import { existsSync } from "node:fs";
import { TokenAuthority } from "../auth/authority.ts";
import { type Config, dekBytes } from "../config/mod.ts";
import { Engine, storePath } from "../engine/engine.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES, type InputLimits } from "../engine/input.ts";
import { DbxError, isDbxError } from "../errors.ts";
import { RemoteStore } from "../remotes/store.ts";
import { SchemaStore } from "../schema/store.ts";
import { createValidator } from "../schema/validator.ts";
import { StagingArea } from "../staging/staged_events.ts";
import { openRocksStorage } from "../store/rocksdb.ts";
import type { Storage } from "../store/storage.ts";
import { Access } from "./access.ts";

/** How a node opens its store. */
export interface OpenNodeOptions {
  dataDir: string;
  /** Effective settings (after command-line overrides); read live where it matters. */
  config: Config;
  /**
   * "write" takes the store's lock (a server, or the CLI with no server running); "read"
   * falls back to a read-only view when another process holds the lock.
   */
  mode?: "write" | "read";
  /** Open the store now (a server) instead of on first use (a CLI command). */
  openStore?: boolean;
  /** Run on this storage instead of `<dataDir>/store` (tests that inspect stored bytes). */
  storage?: Storage;
  /** Token clock in epoch milliseconds, for tests. */
  now?: () => number;
  /**
   * Why the configuration has no DEK, when it may lack one (a CLI reading a directory that
   * was never configured): thrown once a part that needs the key (store, tokens) is used.
   */
  keyMissing?: () => DbxError;
  /**
   * Store an Argon2id hash of the Admin master key in place of an earlier version's scrypt
   * hash that it just matched (a server, which knows where its config file is).
   */
  upgradeMasterKey?: (key: string, legacyHash: string) => Promise<void>;
}

/**
 * The parts of one data directory.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "../config/mod.ts";
 * import { generateDek } from "../crypto/aead.ts";
 * const config = { ...defaultConfig("/tmp/dbx-doc"), dek: generateDek() };
 * const node = await openNode({ dataDir: "/tmp/dbx-doc", config });
 * await node.close();
 * ```
 */
export class Node {
  readonly dataDir: string;
  readonly config: Config;
  readonly schemas: SchemaStore;
  readonly staging: StagingArea;
  readonly access: Access;
  /** The input rules of appends (the engine is opened with the same). */
  readonly limits: InputLimits = { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES };
  readonly #options: OpenNodeOptions;
  #engine: Engine | undefined;
  #opening: Promise<Engine> | undefined;
  #tokens: TokenAuthority | undefined;
  #openingTokens: Promise<TokenAuthority> | undefined;
  #closed = false;

  constructor(options: OpenNodeOptions, schemas: SchemaStore) {
    this.dataDir = options.dataDir;
    this.config = options.config;
    this.schemas = schemas;
    this.staging = new StagingArea(options.dataDir, () => this.dek);
    this.#options = options;
    this.access = new Access({
      tokens: () => this.#tokens ?? this.tokens(),
      masterKeyHash: () => this.config.admin.master_key_hash,
      upgradeMasterKey: options.upgradeMasterKey,
      // The keys of the configured remotes are the pinned replication peers.
      pinnedPeers: async () =>
        (await new RemoteStore(options.dataDir).list()).map((r) => r.public_key),
    });
  }

  /** The data encryption key (DbxError when the configuration has none). */
  get dek(): Uint8Array {
    if (this.config.dek === undefined && this.#options.keyMissing) {
      throw this.#options.keyMissing();
    }
    return dekBytes(this.config);
  }

  /** The engine, opened on first use. */
  engine(): Promise<Engine> {
    if (this.#engine) return Promise.resolve(this.#engine);
    if (this.#closed) return Promise.reject(new DbxError("unavailable", "the node is closed"));
    this.#opening ??= this.#openEngine().then((engine) => this.#engine = engine);
    return this.#opening;
  }

  /** The engine if it is open already (the hot path skips the promise). */
  get openEngine(): Engine | undefined {
    return this.#engine;
  }

  /** The token authority (tokens and revocations), opened on first use. */
  tokens(): Promise<TokenAuthority> {
    if (this.#tokens) return Promise.resolve(this.#tokens);
    if (this.#closed) return Promise.reject(new DbxError("unavailable", "the node is closed"));
    this.#openingTokens ??= (async () => {
      const tokens = await TokenAuthority.open({
        dataDir: this.dataDir,
        dek: this.dek,
        now: this.#options.now,
      });
      this.#tokens = tokens;
      return tokens;
    })();
    return this.#openingTokens;
  }

  async #openEngine(): Promise<Engine> {
    const { config, dataDir, storage } = this.#options;
    const schemas = this.schemas;
    const base = {
      dataDir,
      storage,
      dek: this.dek,
      cacheSize: config.cache_threshold,
      maxPayloadBytes: this.limits.maxPayloadBytes,
      queueLimit: config.server.write_queue_limit,
      validator: createValidator(schemas, () => config.restrict),
      snapshotThreshold: (type: string) =>
        schemas.snapshotThreshold(type) ?? config.snapshot_threshold,
    };
    if (this.#options.mode !== "read") await makePrivate(dataDir);
    try {
      return await Engine.open(base);
    } catch (err) {
      if (this.#options.mode === "read" && !storage && isDbxError(err, "unavailable")) {
        return await Engine.open({ ...base, readOnly: true });
      }
      throw err;
    }
  }

  /** Finish queued writes, close the store, save token state. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      const engine = this.#engine ?? await this.#opening?.catch(() => undefined);
      await engine?.close();
    } finally {
      const tokens = this.#tokens ?? await this.#openingTokens?.catch(() => undefined);
      await tokens?.close();
    }
  }
}

/**
 * Open the node of a data directory: its schemas now; tokens and the store now
 * (`openStore`, a server) or on first use (a CLI command).
 *
 * @example
 * ```ts
 * import { defaultConfig } from "../config/mod.ts";
 * import { generateDek } from "../crypto/aead.ts";
 * const config = { ...defaultConfig("/tmp/dbx-doc"), dek: generateDek() };
 * const node = await openNode({ dataDir: "/tmp/dbx-doc", config, openStore: true });
 * await node.close();
 * ```
 */
export async function openNode(options: OpenNodeOptions): Promise<Node> {
  const node = new Node(options, await SchemaStore.open(options.dataDir));
  if (options.openStore) {
    try {
      await node.tokens();
      await node.engine();
    } catch (err) {
      await node.close().catch(() => {});
      throw err;
    }
  }
  return node;
}

/**
 * Make the data directory and the store's files private to their owner (0700 and 0600),
 * also where an older version or a loose umask left them readable to others.
 */
async function makePrivate(dataDir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const tighten = async (path: string, mode: number) => {
    try {
      const info = await Deno.lstat(path);
      if (!info.isSymlink && ((info.mode ?? 0) & 0o777) !== mode) await Deno.chmod(path, mode);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  };
  await tighten(dataDir, 0o700);
  const store = storePath(dataDir);
  await tighten(store, 0o700);
  try {
    for await (const entry of Deno.readDir(store)) {
      if (entry.isFile) await tighten(`${store}/${entry.name}`, 0o600);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/**
 * True when another process holds the store of a data directory (a server without a PID
 * file, or a CLI command still running). A corrupt store counts as not held.
 *
 * @example
 * ```ts
 * if (await storeInUse("/tmp/dbx-doc")) console.log("stop the server first");
 * ```
 */
export async function storeInUse(dataDir: string): Promise<boolean> {
  const path = storePath(dataDir);
  if (!existsSync(path)) return false;
  try {
    const storage = await openRocksStorage(path, { createIfMissing: false });
    await storage.close();
    return false;
  } catch (err) {
    return isDbxError(err, "unavailable");
  }
}

/**
 * A 60-second full-scope token for the CLI to talk to the server of its own data directory
 * (it holds the node key and the DEK already). Opens only the token authority: the server
 * holds the store.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "../config/mod.ts";
 * import { generateDek } from "../crypto/aead.ts";
 * const config = { ...defaultConfig("/tmp/dbx-doc"), dek: generateDek() };
 * const token = await mintLocalToken("/tmp/dbx-doc", config);
 * ```
 */
export async function mintLocalToken(dataDir: string, config: Config): Promise<string> {
  const tokens = await TokenAuthority.open({ dataDir, dek: dekBytes(config) });
  try {
    return tokens.mintShortLived();
  } finally {
    await tokens.close();
  }
}
