/**
 * Opening the local store for a CLI command: config, DEK and engine.
 */
import { type Config, dekBytes, loadConfig, type LoadedConfig } from "../config/mod.ts";
import { Engine, type EventValidator } from "../engine/mod.ts";
import { isDbxError } from "../errors.ts";
import { SchemaStore } from "../schema/store.ts";
import { createValidator } from "../schema/validator.ts";
import type { CommonOptions } from "./common.ts";

export interface LocalStore {
  loaded: LoadedConfig;
  config: Config;
  dataDir: string;
  dek: Uint8Array;
  engine: Engine;
  schemas: SchemaStore;
  close(): Promise<void>;
}

/** Load the configuration; writers create it (with a new DEK) when missing. */
export async function loadLocalConfig(
  options: CommonOptions,
  create: boolean,
): Promise<LoadedConfig> {
  const loaded = await loadConfig({ configPath: options.config, dataDir: options.dataDir }, {
    create,
  });
  if (loaded.created) {
    console.error(
      `created configuration ${loaded.configPath} with a new data encryption key (mode 0600)`,
    );
  }
  return loaded;
}

/**
 * Open the store. Readers fall back to a read-only view when another process
 * (a running server) holds the lock.
 */
export async function openLocalStore(
  options: CommonOptions,
  mode: "read" | "write",
): Promise<LocalStore> {
  const loaded = await loadLocalConfig(options, mode === "write");
  const dek = dekBytes(loaded.config);
  const schemas = await SchemaStore.open(loaded.dataDir);
  const validator: EventValidator = createValidator(schemas, () => loaded.config.restrict);
  const defaultThreshold = loaded.config.snapshot_threshold;
  const base = {
    dataDir: loaded.dataDir,
    dek,
    cacheSize: loaded.config.cache_threshold,
    validator,
    snapshotThreshold: (type: string) => schemas.snapshotThreshold(type) ?? defaultThreshold,
  };
  let engine: Engine;
  try {
    engine = await Engine.open(base);
  } catch (err) {
    if (mode === "read" && isDbxError(err, "unavailable")) {
      engine = await Engine.open({ ...base, readOnly: true });
    } else throw err;
  }
  return {
    loaded,
    config: loaded.config,
    dataDir: loaded.dataDir,
    dek,
    engine,
    schemas,
    close: () => engine.close(),
  };
}

/** Run `fn` with the store open, closing it afterwards. */
export async function withLocalStore<T>(
  options: CommonOptions,
  mode: "read" | "write",
  fn: (store: LocalStore) => Promise<T>,
): Promise<T> {
  const store = await openLocalStore(options, mode);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
