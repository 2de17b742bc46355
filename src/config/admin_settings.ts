/**
 * The `[admin]` table as `config.toml` says it now. A running server follows it, so a key
 * set, rotated or cleared with `dbx config` (and `--admin-enabled false`) takes effect on the
 * next Admin API request, without a restart; the file is read again only when it changed.
 *
 * Also the one write a server makes to `config.toml`: replacing an earlier version's scrypt
 * hash by an Argon2id hash of the same key, once that key was used successfully.
 */
import { DbxError, isDbxError } from "../errors.ts";
import { hashMasterKey } from "./master_key.ts";
import { CONFIG_FILE_MODE, configToToml } from "./save.ts";
import type { Config } from "./types.ts";
import { parseTomlText, validateConfig } from "./validate.ts";
import { writeFileAtomic } from "../util/atomic_file.ts";

/** The Admin API's settings. */
export type AdminSettings = Config["admin"];

/** Where a config file is and which data directory it belongs to. */
export interface ConfigFileRef {
  configPath: string;
  dataDir: string;
}

async function readConfig(ref: ConfigFileRef): Promise<{ text: string; config: Config }> {
  let text: string;
  try {
    text = await Deno.readTextFile(ref.configPath);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound ? "it is missing" : (err as Error).message;
    throw new DbxError("unavailable", `cannot read configuration ${ref.configPath}: ${reason}`);
  }
  // Messages name the file and key, never a secret's value.
  const config = validateConfig(parseTomlText(text, ref.configPath), ref.configPath, ref.dataDir);
  return { text, config };
}

/** What identifies one version of a file (an atomic replace gives a new inode). */
function stampOf(info: Deno.FileInfo): string {
  return [info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime()].join(":");
}

/**
 * The `[admin]` settings of one config file, re-read when the file changes.
 *
 * @example
 * ```ts
 * const file = new AdminSettingsFile({ configPath: "/tmp/db/config.toml", dataDir: "/tmp/db" });
 * const { enabled, master_key_hash } = await file.current();
 * ```
 */
export class AdminSettingsFile {
  readonly ref: ConfigFileRef;
  /** The version of the file last read, and what reading it gave (settings or a failure). */
  #read: { stamp: string; done: Promise<AdminSettings> } | undefined;

  constructor(ref: ConfigFileRef) {
    this.ref = ref;
  }

  /**
   * The settings now. A file that cannot be read or is invalid is an "unavailable" error
   * (the Admin API then refuses, rather than trusting settings that may have been revoked).
   */
  async current(): Promise<AdminSettings> {
    let stamp: string;
    try {
      stamp = stampOf(await Deno.stat(this.ref.configPath));
    } catch {
      stamp = "missing";
    }
    // Callers that arrive while the file is being read share that read.
    if (stamp !== this.#read?.stamp) {
      const done = readConfig(this.ref).then(
        ({ config }) => ({ ...config.admin }),
        (err) => {
          throw isDbxError(err) && err.code !== "internal"
            ? new DbxError("unavailable", err.message)
            : new DbxError("unavailable", `cannot read configuration ${this.ref.configPath}`);
        },
      );
      done.catch(() => {}); // every caller sees the failure; none is left unhandled
      this.#read = { stamp, done };
    }
    return { ...(await this.#read!.done) };
  }
}

/**
 * Replace the scrypt hash `legacyHash` in the config file by an Argon2id hash of `secret`
 * (the key that just matched it). Nothing is written when the file no longer holds that
 * hash, or when it changed while the new hash was computed (a `dbx config` run meanwhile
 * wins). Returns the new hash when it was written.
 *
 * @example
 * ```ts
 * const ref = { configPath: "/tmp/db/config.toml", dataDir: "/tmp/db" };
 * declare const legacy: string;
 * await upgradeMasterKeyHash(ref, legacy, "correct horse battery staple");
 * ```
 */
export async function upgradeMasterKeyHash(
  ref: ConfigFileRef,
  legacyHash: string,
  secret: string,
): Promise<string | undefined> {
  const { text, config } = await readConfig(ref);
  if (config.admin.master_key_hash !== legacyHash) return undefined;
  const next = await hashMasterKey(secret);
  const updated: Config = { ...config, admin: { ...config.admin, master_key_hash: next } };
  const data = new TextEncoder().encode(configToToml(updated, ref.configPath));
  const unchanged = async () => {
    try {
      return (await Deno.readTextFile(ref.configPath)) === text;
    } catch {
      return false;
    }
  };
  const written = await writeFileAtomic(ref.configPath, data, CONFIG_FILE_MODE, {
    precondition: unchanged,
  });
  return written ? next : undefined;
}
