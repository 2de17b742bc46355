/** Temp dirs and keys shared by test suites. */

/**
 * A fresh random 32-byte data encryption key.
 *
 * @example
 * ```ts
 * const engine = await Engine.open({ dataDir, dek: randomDek() });
 * ```
 */
export function randomDek(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

/**
 * Run `fn` with a new temp dir that is removed afterwards, whatever happens.
 *
 * @example
 * ```ts
 * await withTempDir(async (dir) => { ... });
 * ```
 */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
  prefix = "dbx-test-",
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
