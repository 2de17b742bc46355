/**
 * Writing `config.toml`. The file holds the DEK, so it is always mode 0600.
 */
import { dirname, resolve } from "node:path";
import { stringify } from "smol-toml";
import { DbxError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic_file.ts";
import type { Config } from "./types.ts";

/** Mode of the configuration file: owner read/write only. */
export const CONFIG_FILE_MODE = 0o600;
/** Mode of directories we create for configuration and data. */
export const PRIVATE_DIR_MODE = 0o700;

const HEADER = "# EventDBX configuration (dbx config). It holds the data encryption key:\n" +
  "# keep it private (mode 0600) and back it up; without the key the data is unreadable.\n\n";

/**
 * The TOML-ready table for a config, in a stable key order. `data_dir` is included only
 * when the file lives outside the data directory: a config inside its data dir stays
 * valid when the directory moves (restore, copy), and one elsewhere (`--config`) must say
 * where its data is.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./defaults.ts";
 * configDocument(defaultConfig("/tmp/db"), "/tmp/db/config.toml").port; // 7070
 * ```
 */
export function configDocument(config: Config, path: string): Record<string, unknown> {
  const doc: Record<string, unknown> = { port: config.port };
  if (config.host !== undefined) doc.host = config.host;
  if (resolve(config.data_dir) !== resolve(dirname(path))) doc.data_dir = config.data_dir;
  doc.cache_threshold = config.cache_threshold;
  if (config.dek !== undefined) doc.dek = config.dek;
  doc.list_page_size = config.list_page_size;
  doc.page_limit = config.page_limit;
  doc.plugin_max_attempts = config.plugin_max_attempts;
  if (config.snapshot_threshold !== undefined) doc.snapshot_threshold = config.snapshot_threshold;
  doc.restrict = config.restrict;
  doc.max_json_depth = config.max_json_depth;
  doc.api = { ...config.api };
  doc.grpc = { ...config.grpc };
  doc.socket = { ...config.socket };
  const { master_key_hash, ...admin } = config.admin;
  doc.admin = master_key_hash === undefined ? admin : { ...admin, master_key_hash };
  doc.server = { ...config.server };
  return doc;
}

/**
 * The `config.toml` text for a config (see {@link configDocument}).
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./defaults.ts";
 * configToToml(defaultConfig("/tmp/db"), "/tmp/db/config.toml"); // "# EventDBX ...port = 7070..."
 * ```
 */
export function configToToml(config: Config, path: string): string {
  return HEADER + stringify(configDocument(config, path)) + "\n";
}

/**
 * Save a config atomically and durably with mode 0600, creating its directory (0700) if
 * needed.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./defaults.ts";
 * await saveConfig("/tmp/db/config.toml", defaultConfig("/tmp/db"));
 * ```
 */
export async function saveConfig(path: string, config: Config): Promise<void> {
  const dir = dirname(path);
  try {
    await ensurePrivateDir(dir);
    await writeFileAtomic(
      path,
      new TextEncoder().encode(configToToml(config, path)),
      CONFIG_FILE_MODE,
    );
  } catch (err) {
    if (err instanceof DbxError) throw err;
    throw new DbxError(
      "unavailable",
      `cannot write configuration ${path}: ${(err as Error).message}`,
    );
  }
}

/**
 * Create a directory (and parents) if missing; a directory created here gets mode 0700.
 *
 * @example
 * ```ts
 * await ensurePrivateDir("/tmp/db");
 * ```
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) {
      throw new DbxError("invalid_input", `${dir} exists and is not a directory`);
    }
    return;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (Deno.build.os !== "windows") await Deno.chmod(dir, PRIVATE_DIR_MODE);
}
