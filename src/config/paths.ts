/**
 * Where the configuration file and the data directory are.
 *
 * Rules: data dir = `--data-dir` ?? `EVENTDBX_DATA_DIR` ?? `$HOME/.eventdbx`; config file =
 * `--config` ?? `<data dir>/config.toml`. A file named by `--config` may say where its data
 * lives (`data_dir`), which then beats the environment but not an explicit `--data-dir`.
 */
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { DbxError } from "../errors.ts";
import { CONFIG_FILE_NAME } from "./defaults.ts";
import type { ConfigLocation } from "./types.ts";
import { parseTomlText } from "./validate.ts";

/** Environment variable naming the data directory. */
export const DATA_DIR_ENV = "EVENTDBX_DATA_DIR";

/** The user's home directory (HOME, USERPROFILE on Windows, else the OS's answer). */
export function homeDir(): string {
  return Deno.env.get("HOME") || Deno.env.get("USERPROFILE") || homedir();
}

/**
 * An absolute path: `~` expands to the home directory, relative paths are taken from `base`.
 *
 * @example
 * ```ts
 * absolutePath("~/db"); // "/home/me/db"
 * absolutePath("db", "/etc/dbx"); // "/etc/dbx/db"
 * ```
 */
export function absolutePath(path: string, base = Deno.cwd()): string {
  if (path === "~") return homeDir();
  if (path.startsWith("~/") || path.startsWith("~\\")) return join(homeDir(), path.slice(2));
  return isAbsolute(path) ? resolve(path) : resolve(base, path);
}

/** `$EVENTDBX_DATA_DIR` if set, else `$HOME/.eventdbx`. */
export function defaultDataDir(): string {
  const fromEnv = Deno.env.get(DATA_DIR_ENV);
  return fromEnv ? absolutePath(fromEnv) : join(homeDir(), ".eventdbx");
}

/**
 * The `data_dir` a config file sets (absolute; relative to the file's directory), or
 * undefined when the file does not exist or does not set it. A malformed file throws, so
 * that no command silently falls back to another data directory.
 *
 * @example
 * ```ts
 * dataDirSetIn("/etc/dbx/config.toml"); // "/srv/dbx" or undefined
 * ```
 */
export function dataDirSetIn(configPath: string): string | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(configPath);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new DbxError(
      "unavailable",
      `cannot read configuration ${configPath}: ${(err as Error).message}`,
    );
  }
  const raw = parseTomlText(text, configPath);
  const value = raw.data_dir;
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new DbxError(
      "invalid_input",
      `invalid configuration ${configPath}: data_dir must be a non-empty string`,
    );
  }
  return absolutePath(value, dirname(configPath));
}

/**
 * Resolve the configuration file and data directory from command-line paths.
 *
 * @example
 * ```ts
 * resolveLocation({ dataDir: "/tmp/db" });
 * // { configPath: "/tmp/db/config.toml", dataDir: "/tmp/db" }
 * ```
 */
export function resolveLocation(loc: ConfigLocation): { configPath: string; dataDir: string } {
  if (loc.configPath !== undefined && loc.configPath.trim() === "") {
    throw new DbxError("invalid_input", "--config must not be empty");
  }
  if (loc.dataDir !== undefined && loc.dataDir.trim() === "") {
    throw new DbxError("invalid_input", "--data-dir must not be empty");
  }
  const explicitDataDir = loc.dataDir !== undefined ? absolutePath(loc.dataDir) : undefined;
  if (loc.configPath !== undefined) {
    const configPath = absolutePath(loc.configPath);
    const dataDir = explicitDataDir ?? dataDirSetIn(configPath) ?? defaultDataDir();
    return { configPath, dataDir };
  }
  const dataDir = explicitDataDir ?? defaultDataDir();
  return { configPath: join(dataDir, CONFIG_FILE_NAME), dataDir };
}
