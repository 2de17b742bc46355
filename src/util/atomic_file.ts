/**
 * Durable, atomic file writes: readers see the old file or the new one, never a
 * mix, and a crash right after the call returns does not lose the new content.
 */
import { basename, dirname, join } from "node:path";

const IS_WINDOWS = Deno.build.os === "windows";

/**
 * Write `data` to `path` atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. The file gets exactly `mode` (umask does not widen or narrow it).
 * With `precondition`, it is asked right before the rename (after the slow fsync): false
 * leaves the file as it is and returns false, so a read-modify-write can refuse to
 * overwrite what another writer changed meanwhile.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/tmp/db/config.toml", new TextEncoder().encode("port = 7070\n"), 0o600);
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  mode: number,
  options: { precondition?: () => Promise<boolean> } = {},
): Promise<boolean> {
  const temp = await writeTempFile(path, data, mode);
  try {
    if (options.precondition && !(await options.precondition())) {
      await Deno.remove(temp).catch(() => {});
      return false;
    }
    await Deno.rename(temp, path);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  await syncDirectory(dirname(path));
  return true;
}

/**
 * Create `path` with `data` only if nothing is there yet, atomically: temp file
 * (exact `mode`), fsync, hard link into place, fsync of the directory. Returns
 * false when another writer created it first (the file is then theirs).
 *
 * @example
 * ```ts
 * const keyPath = "/tmp/db/node.key";
 * let seed: Uint8Array = crypto.getRandomValues(new Uint8Array(32));
 * if (!(await createFileExclusive(keyPath, seed))) seed = await Deno.readFile(keyPath);
 * ```
 */
export async function createFileExclusive(
  path: string,
  data: Uint8Array,
  mode = 0o600,
): Promise<boolean> {
  const temp = await writeTempFile(path, data, mode);
  try {
    // link() fails when the target exists, unlike rename(): the first writer wins.
    await Deno.link(temp, path);
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return false;
    throw err;
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
  await syncDirectory(dirname(path));
  return true;
}

/** A synced temp file beside `path` holding `data` with exactly `mode`; returns its path. */
async function writeTempFile(path: string, data: Uint8Array, mode: number): Promise<string> {
  const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
  const temp = join(dirname(path), `.${basename(path)}.${suffix}.tmp`);
  // createNew: never follow or reuse something already at the temp name.
  const file = await Deno.open(temp, { write: true, createNew: true, mode });
  try {
    if (!IS_WINDOWS) await Deno.chmod(temp, mode);
    let written = 0;
    while (written < data.length) written += await file.write(data.subarray(written));
    await file.sync();
  } catch (err) {
    file.close();
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  file.close();
  return temp;
}

/** Persist a rename or link by syncing its directory (not possible on Windows). */
async function syncDirectory(dir: string): Promise<void> {
  if (IS_WINDOWS) return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}
