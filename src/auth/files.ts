/** Creating a secret file exactly once, durably. */
import { basename, dirname, join } from "node:path";

const IS_WINDOWS = Deno.build.os === "windows";

/**
 * Create `path` with `bytes` only if nothing is there yet, atomically: temp
 * file (exact `mode`), fsync, hard link into place, fsync of the directory.
 * Returns false when another writer created it first (the file is then theirs).
 *
 * @example
 * ```ts
 * if (!(await createFileExclusive(keyPath, seedText))) seedText = await Deno.readFile(keyPath);
 * ```
 */
export async function createFileExclusive(
  path: string,
  bytes: Uint8Array,
  mode = 0o600,
): Promise<boolean> {
  const dir = dirname(path);
  const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
  const temp = join(dir, `.${basename(path)}.${suffix}.tmp`);
  const file = await Deno.open(temp, { write: true, createNew: true, mode });
  try {
    try {
      if (!IS_WINDOWS) await Deno.chmod(temp, mode);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    // link() fails when the target exists, unlike rename(): first writer wins.
    await Deno.link(temp, path);
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return false;
    throw err;
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
  if (!IS_WINDOWS) {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  }
  return true;
}
