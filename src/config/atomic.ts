/**
 * Durable, atomic file replacement: readers see the old file or the new one, never a
 * mix, and a crash right after the call returns does not lose the new content.
 */
import { basename, dirname, join } from "node:path";

const IS_WINDOWS = Deno.build.os === "windows";

/**
 * Write `data` to `path` atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. The file gets exactly `mode` (umask does not widen or narrow it).
 *
 * @example
 * ```ts
 * await writeFileAtomic("/tmp/db/config.toml", new TextEncoder().encode("port = 7070\n"), 0o600);
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
  const temp = join(dir, `.${basename(path)}.${suffix}.tmp`);
  // createNew: never follow or reuse something already at the temp name.
  const file = await Deno.open(temp, { write: true, createNew: true, mode });
  try {
    try {
      if (!IS_WINDOWS) await Deno.chmod(temp, mode);
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  await syncDirectory(dir);
}

/** Persist a rename by syncing its directory (not possible on Windows; there it is a no-op). */
async function syncDirectory(dir: string): Promise<void> {
  if (IS_WINDOWS) return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}
