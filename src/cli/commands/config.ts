/**
 * `dbx config`: show or change the settings in `config.toml`.
 *
 * `--data-dir` (a common option) chooses the data directory, and with it the default
 * `<data-dir>/config.toml`. It is persisted as `data_dir` only in a file given with
 * `--config` that lives outside the data directory: such a file must say where its data
 * is, while a config inside its data dir stays valid when the directory is moved.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { dirname, join, resolve } from "node:path";
import { stringify } from "smol-toml";
import { DbxError, isDbxError } from "../../errors.ts";
import {
  checkDek,
  checkMasterKeyText,
  type Config,
  configDocument,
  dataDirSetIn,
  defaultConfig,
  ensurePrivateDir,
  hashMasterKey,
  loadConfig,
  type LoadedConfig,
  MASK,
  maskConfig,
  MAX_HTTP_WORKERS,
  parseRestrict,
  resolveLocation,
  saveConfig,
  STORE_DIR_NAME,
} from "../../config/mod.ts";
import type { RestrictMode } from "../../config/types.ts";
import {
  type CommonOptions,
  parseNonNegativeInt,
  parsePositiveInt,
  printJson,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";

interface ConfigOptions extends CommonOptions {
  json?: boolean;
  port?: number;
  cacheThreshold?: number;
  memoryThreshold?: number;
  dek?: string;
  listPageSize?: number;
  pageLimit?: number;
  pluginMaxAttempts?: number;
  snapshotThreshold?: number;
  clearSnapshotThreshold?: boolean;
  adminEnabled?: boolean;
  adminBind?: string;
  adminPort?: number;
  adminMasterKey?: string;
  masterKey?: string;
  clearAdminMasterKey?: boolean;
  restrict?: RestrictMode;
  httpWorkers?: number | "auto";
  writeQueueLimit?: number;
  maxConnections?: number;
  headerReadTimeout?: number;
  idleTimeout?: number;
  maxJsonDepth?: number;
}

/** Options that change settings (everything but --config, --data-dir and --json). */
const CHANGE_OPTIONS: (keyof ConfigOptions)[] = [
  "port",
  "cacheThreshold",
  "memoryThreshold",
  "dek",
  "listPageSize",
  "pageLimit",
  "pluginMaxAttempts",
  "snapshotThreshold",
  "clearSnapshotThreshold",
  "adminEnabled",
  "adminBind",
  "adminPort",
  "adminMasterKey",
  "masterKey",
  "clearAdminMasterKey",
  "restrict",
  "httpWorkers",
  "writeQueueLimit",
  "maxConnections",
  "headerReadTimeout",
  "idleTimeout",
  "maxJsonDepth",
];

/** Settings whose values are never shown. */
const SECRET_KEYS = new Set(["dek", "admin.master_key_hash"]);

/** One changed setting, values already masked; null means unset. */
interface Change {
  key: string;
  from: unknown;
  to: unknown;
}

function parsePort(value: string): number {
  const port = parsePositiveInt(value);
  if (port > 65_535) throw new InvalidArgumentError("must be a port from 1 to 65535");
  return port;
}

function parseU32Positive(value: string): number {
  const n = parsePositiveInt(value);
  if (n > 4_294_967_295) throw new InvalidArgumentError("must be at most 4294967295");
  return n;
}

function parseBoolean(value: string): boolean {
  const lowered = value.trim().toLowerCase();
  if (lowered === "true") return true;
  if (lowered === "false") return false;
  throw new InvalidArgumentError("must be true or false");
}

function parseHost(value: string): string {
  // deno-lint-ignore no-control-regex
  if (value.trim() === "" || /[\s\x00-\x1f\x7f]/.test(value) || value.length > 253) {
    throw new InvalidArgumentError("must be a host name or IP address");
  }
  return value;
}

function parseWorkers(value: string): number | "auto" {
  if (value.trim().toLowerCase() === "auto") return "auto";
  const n = parseNonNegativeInt(value);
  if (n > MAX_HTTP_WORKERS) {
    throw new InvalidArgumentError(`must be auto or an integer from 0 to ${MAX_HTTP_WORKERS}`);
  }
  return n;
}

/** The bounds `config.toml` accepts for `max_json_depth` (see validate.ts). */
function parseJsonDepth(value: string): number {
  const depth = parsePositiveInt(value);
  if (depth < 2 || depth > 1000) throw new InvalidArgumentError("must be from 2 to 1000");
  return depth;
}

function parseSeconds(value: string): number {
  const n = parsePositiveInt(value);
  if (n > 86_400) throw new InvalidArgumentError("must be at most 86400 seconds (a day)");
  return n;
}

function parseRestrictOption(value: string): RestrictMode {
  try {
    return parseRestrict(value);
  } catch {
    throw new InvalidArgumentError("must be off, default, strict, true or false");
  }
}

/**
 * Register `dbx config`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * const program = new Command("dbx");
 * registerConfig(program);
 * await program.parseAsync(["config", "--port", "8080"], { from: "user" });
 * ```
 */
export function registerConfig(program: Command): void {
  const cmd = program
    .command("config")
    .description(
      "show the settings, or change them (the first run must include --dek <base64>)",
    )
    .option("--port <u16>", "HTTP port for REST, GraphQL and gRPC (default 7070)", parsePort)
    .option(
      "--cache-threshold <usize>",
      "aggregate heads kept in memory (default 10000)",
      parseNonNegativeInt,
    )
    .addOption(
      new Option("--memory-threshold <usize>", "older name of --cache-threshold")
        .argParser(parseNonNegativeInt)
        .conflicts("cacheThreshold")
        .hideHelp(),
    )
    .option("--dek <base64>", "data encryption key: 32 bytes as base64 (required the first time)")
    .option(
      "--list-page-size <usize>",
      "default page size of aggregate listings (default 10)",
      parsePositiveInt,
    )
    .option(
      "--page-limit <usize>",
      "largest page any list or event request may ask for (default 1000)",
      parsePositiveInt,
    )
    .option(
      "--plugin-max-attempts <u32>",
      "delivery attempts before a plugin event is dead (default 10)",
      parseU32Positive,
    )
    .addOption(
      new Option(
        "--snapshot-threshold <u64>",
        "default snapshot interval in events for schemas without their own",
      ).argParser(parsePositiveInt).conflicts("clearSnapshotThreshold"),
    )
    .option("--clear-snapshot-threshold", "remove the default snapshot interval")
    .addOption(
      new Option("--admin-enabled <true|false>", "serve the Admin API").argParser(parseBoolean),
    )
    .option("--admin-bind <addr>", "Admin API bind address (default 127.0.0.1)", parseHost)
    .option("--admin-port <u16>", "Admin API port (default 7171)", parsePort)
    .addOption(
      new Option(
        "--admin-master-key <secret>",
        "Admin API master key (stored only as a hash; also enables the Admin API)",
      ).conflicts("clearAdminMasterKey"),
    )
    .addOption(
      // The older seed's spelling of the same setting.
      new Option("--master-key <secret>", "older name of --admin-master-key")
        .conflicts(["adminMasterKey", "clearAdminMasterKey"])
        .hideHelp(),
    )
    .option("--clear-admin-master-key", "remove the Admin API master key (revokes automation)")
    .option(
      "--restrict <mode>",
      "schema enforcement: off, default, strict (true = default, false = off)",
      parseRestrictOption,
    )
    .option(
      "--http-workers <n|auto>",
      "worker isolates serving HTTP beside the engine thread (0 = on it; default auto)",
      parseWorkers,
    )
    .option(
      "--write-queue-limit <n>",
      "events waiting for the writer beyond which appends get 503 (default 8192)",
      parsePositiveInt,
    )
    .option(
      "--max-connections <n>",
      "connections each listener holds open at most (default 1024; lowered to fit the " +
        "open-file limit)",
      parsePositiveInt,
    )
    .option(
      "--header-read-timeout <secs>",
      "seconds a request head may take to arrive (default 10)",
      parseSeconds,
    )
    .option(
      "--idle-timeout <secs>",
      "seconds a connection may sit idle between requests (default 60)",
      parseSeconds,
    )
    .option(
      "--max-json-depth <n>",
      "deepest nesting any JSON input may have: payloads, patches, schemas, bodies (default 64)",
      parseJsonDepth,
    );
  withJsonOption(cmd);
  withCommonOptions(cmd);
  cmd.action(async (opts: ConfigOptions) => {
    await runConfig(opts);
  });
}

async function runConfig(opts: ConfigOptions): Promise<void> {
  const loc = { configPath: opts.config, dataDir: opts.dataDir };
  const { configPath, dataDir } = resolveLocation(loc);
  const existing = await loadExisting(loc);

  // A file given with --config outside the data dir records where its data lives.
  const external = resolve(dirname(configPath)) !== resolve(dataDir);
  const recordedDataDir = external ? dataDirSetIn(configPath) : undefined;
  const dataDirChanged = external && recordedDataDir !== dataDir;
  const changing = CHANGE_OPTIONS.some((key) => opts[key] !== undefined) ||
    (opts.dataDir !== undefined && opts.config !== undefined && dataDirChanged);

  if (!changing) {
    if (!existing) {
      // Same message as every other command that needs a configuration.
      await loadConfig(loc, { create: false });
      return;
    }
    showConfig(existing, opts.json === true);
    return;
  }

  if (!existing && opts.dek === undefined) {
    throw new DbxError(
      "invalid_input",
      `no configuration at ${configPath} yet: the first \`dbx config\` must include ` +
        "--dek <base64> (32 random bytes, e.g. `openssl rand -base64 32`)",
    );
  }

  const before = existing?.config ?? defaultConfig(dataDir);
  const after = await applyOptions(structuredClone(before), opts, dataDir);
  const changes = diff(before, after);
  if (dataDirChanged && existing) {
    changes.unshift({ key: "data_dir", from: recordedDataDir ?? null, to: dataDir });
  }

  const created = !existing;
  if (created || changes.length > 0) {
    if (created) await ensurePrivateDir(dataDir);
    await saveConfig(configPath, after);
  }
  if (opts.json) {
    printJson({ config_path: configPath, data_dir: dataDir, created, changes });
    return;
  }
  if (created) console.log(`created ${configPath}`);
  else if (changes.length === 0) console.log(`no changes (${configPath})`);
  else console.log(`updated ${configPath}`);
  for (const change of changes) {
    console.log(`  ${change.key}: ${showValue(change.from)} -> ${showValue(change.to)}`);
  }
}

/** The current config, or undefined when there is no file yet. */
async function loadExisting(loc: { configPath?: string; dataDir?: string }) {
  try {
    return await loadConfig(loc, { create: false });
  } catch (err) {
    if (isDbxError(err, "not_found")) return undefined;
    throw err;
  }
}

/** Apply the flags to `config`, validating the ones commander could not. */
async function applyOptions(
  config: Config,
  opts: ConfigOptions,
  dataDir: string,
): Promise<Config> {
  config.data_dir = dataDir;
  if (opts.port !== undefined) config.port = opts.port;
  const cacheThreshold = opts.cacheThreshold ?? opts.memoryThreshold;
  if (cacheThreshold !== undefined) config.cache_threshold = cacheThreshold;
  if (opts.listPageSize !== undefined) config.list_page_size = opts.listPageSize;
  if (opts.pageLimit !== undefined) config.page_limit = opts.pageLimit;
  if (opts.pluginMaxAttempts !== undefined) config.plugin_max_attempts = opts.pluginMaxAttempts;
  if (opts.snapshotThreshold !== undefined) config.snapshot_threshold = opts.snapshotThreshold;
  if (opts.clearSnapshotThreshold) delete config.snapshot_threshold;
  if (opts.restrict !== undefined) config.restrict = opts.restrict;
  if (opts.adminBind !== undefined) config.admin.bind = opts.adminBind;
  if (opts.adminPort !== undefined) config.admin.port = opts.adminPort;
  if (opts.httpWorkers !== undefined) config.server.http_workers = opts.httpWorkers;
  if (opts.writeQueueLimit !== undefined) config.server.write_queue_limit = opts.writeQueueLimit;
  if (opts.maxConnections !== undefined) config.server.max_connections = opts.maxConnections;
  if (opts.headerReadTimeout !== undefined) {
    config.server.header_read_timeout = opts.headerReadTimeout;
  }
  if (opts.idleTimeout !== undefined) config.server.idle_timeout = opts.idleTimeout;
  if (opts.maxJsonDepth !== undefined) config.max_json_depth = opts.maxJsonDepth;

  if (opts.dek !== undefined) {
    const dek = checkDek(opts.dek, (problem) => {
      throw new DbxError("invalid_input", `--dek ${problem}`);
    });
    if (config.dek !== undefined && config.dek !== dek && await storeExists(dataDir)) {
      throw new DbxError(
        "conflict",
        `refusing to change the DEK: a store already exists at ${join(dataDir, STORE_DIR_NAME)} ` +
          "and its encrypted data would become unreadable (key rotation is not supported)",
      );
    }
    config.dek = dek;
  }

  const masterKey = opts.adminMasterKey ?? opts.masterKey;
  if (masterKey !== undefined) {
    checkMasterKeyText(
      masterKey,
      opts.adminMasterKey !== undefined ? "--admin-master-key" : "--master-key",
    );
    // Only an Argon2id hash is stored; the key itself is never written or printed.
    config.admin.master_key_hash = await hashMasterKey(masterKey);
    // The seed: supplying a master key enables the Admin API (unless told otherwise).
    config.admin.enabled = true;
  }
  if (opts.clearAdminMasterKey) delete config.admin.master_key_hash;
  if (opts.adminEnabled !== undefined) config.admin.enabled = opts.adminEnabled;
  return config;
}

async function storeExists(dataDir: string): Promise<boolean> {
  try {
    await Deno.lstat(join(dataDir, STORE_DIR_NAME));
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Dotted key -> value for every setting except data_dir (handled by the caller). */
function flatten(value: unknown, prefix = "", out = new Map<string, unknown>()) {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) {
      if (!prefix && key === "data_dir") continue;
      flatten(inner, prefix ? `${prefix}.${key}` : key, out);
    }
  } else {
    out.set(prefix, value);
  }
  return out;
}

/** Changed settings between two configs, secrets masked. */
function diff(before: Config, after: Config): Change[] {
  const old = flatten(before);
  const now = flatten(after);
  const keys = [...new Set([...old.keys(), ...now.keys()])];
  const changes: Change[] = [];
  for (const key of keys) {
    const from = old.get(key);
    const to = now.get(key);
    if (from === to) continue;
    const mask = (v: unknown) => v === undefined ? null : SECRET_KEYS.has(key) ? MASK : v;
    changes.push({ key, from: mask(from), to: mask(to) });
  }
  return changes;
}

function showValue(value: unknown): string {
  if (value === null || value === undefined) return "(unset)";
  if (value === MASK) return MASK;
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** Print the settings (secrets masked) as TOML-like text or JSON. */
function showConfig(loaded: LoadedConfig, json: boolean): void {
  const masked = maskConfig(loaded.config);
  if (json) {
    printJson(masked);
    return;
  }
  // Always show data_dir, even when the file leaves it implied.
  const { port, ...rest } = configDocument(masked, loaded.configPath);
  const doc = { port, ...rest, data_dir: loaded.dataDir };
  const text = stringify(doc);
  console.log(`# ${loaded.configPath}`);
  if (masked.snapshot_threshold === undefined) console.log("# snapshot_threshold is not set");
  console.log(text);
}
