/**
 * Reading `config.toml`, or creating it on first use.
 */
import { dirname } from "node:path";
import { generateDek } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import { defaultConfig } from "./defaults.ts";
import { resolveLocation } from "./paths.ts";
import { CONFIG_FILE_MODE, configToToml, ensurePrivateDir } from "./save.ts";
import { createFileExclusive } from "../util/atomic_file.ts";
import type { ConfigLocation, LoadedConfig } from "./types.ts";
import { parseTomlText, validateConfig } from "./validate.ts";

/**
 * Load and validate the configuration.
 *
 * When the file is missing: with `create` the data directory (0700) and a config with a
 * freshly generated DEK (0600) are created; without it a `not_found` DbxError says how to
 * create one.
 *
 * @example
 * ```ts
 * const { config, dataDir } = await loadConfig({ dataDir: "/tmp/db" }, { create: false });
 * ```
 */
export async function loadConfig(
  loc: ConfigLocation,
  { create }: { create: boolean },
): Promise<LoadedConfig> {
  const { configPath, dataDir } = resolveLocation(loc);
  const text = await readIfExists(configPath);
  if (text === undefined) {
    if (!create) {
      throw new DbxError(
        "not_found",
        `no configuration at ${configPath}; run \`dbx config --dek <base64>\` first ` +
          "(32 random bytes, e.g. `openssl rand -base64 32`)",
      );
    }
    await ensurePrivateDir(dataDir);
    await ensurePrivateDir(dirname(configPath));
    const config = { ...defaultConfig(dataDir), dek: generateDek() };
    const text = new TextEncoder().encode(configToToml(config, configPath));
    // Two first commands at once must agree on one DEK: the first to create the file wins.
    if (await createFileExclusive(configPath, text, CONFIG_FILE_MODE)) {
      return { config, configPath, dataDir, created: true };
    }
    return await loadConfig(loc, { create: false });
  }
  const config = validateConfig(parseTomlText(text, configPath), configPath, dataDir);
  return { config, configPath, dataDir, created: false };
}

/** The file's text, or undefined when there is no file. */
async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    if (err instanceof Deno.errors.IsADirectory) {
      throw new DbxError("invalid_input", `configuration ${path} is a directory, not a file`);
    }
    throw new DbxError(
      "unavailable",
      `cannot read configuration ${path}: ${(err as Error).message}`,
    );
  }
}
