/**
 * Small JSON files of settings in the data directory (remotes, plugins): read whole with a
 * size bound, written atomically and durably with mode 0600 (they may hold endpoints,
 * headers or connection strings that are nobody else's business).
 */
import { DbxError } from "../errors.ts";
import { writeFileAtomic } from "./atomic_file.ts";

/**
 * True for a JSON object (not null, not an array).
 *
 * @example
 * ```ts
 * isJsonObject({ a: 1 }); // true
 * ```
 */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Largest settings file read: far above any real one, small enough to never hurt. */
export const MAX_JSON_FILE_BYTES = 4 << 20;

/**
 * The parsed content of `path`, or undefined when there is no file. A file that is too
 * large, not UTF-8 or not JSON is a "corrupt" DbxError naming the file.
 *
 * @example
 * ```ts
 * const value = await readJsonFile("/tmp/db/remotes.json");
 * ```
 */
export async function readJsonFile(path: string): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new DbxError("corrupt", `${path} is not a file`);
    if (info.size > MAX_JSON_FILE_BYTES) {
      throw new DbxError("corrupt", `${path} is larger than ${MAX_JSON_FILE_BYTES} bytes`);
    }
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    if (err instanceof DbxError) throw err;
    throw new DbxError("unavailable", `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new DbxError("corrupt", `${path} is not valid JSON; fix or remove the file`);
  }
}

/**
 * Write `value` as indented JSON to `path`, atomically, mode 0600.
 *
 * @example
 * ```ts
 * await writeJsonFile("/tmp/db/remotes.json", { version: 1, remotes: [] });
 * ```
 */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  const text = JSON.stringify(value, null, 2) + "\n";
  try {
    await writeFileAtomic(path, new TextEncoder().encode(text), 0o600);
  } catch (err) {
    throw new DbxError("unavailable", `cannot write ${path}: ${(err as Error).message}`);
  }
}
