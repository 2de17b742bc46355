/**
 * One-at-a-time sections per key (a file path, say): a read-modify-write of a small file
 * in this process never interleaves with another one on the same file.
 */

const tails = new Map<string, Promise<unknown>>();

/**
 * Run `fn` once every earlier section on `key` has finished; sections on other keys run
 * freely. A failing section does not stop the ones after it.
 *
 * @example
 * ```ts
 * await withKeyLock("/tmp/db/remotes.json", async () => {
 *   // read, change, write
 * });
 * ```
 */
export function withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = tails.get(key) ?? Promise.resolve();
  const run = before.then(fn, fn);
  const tail = run.then(() => {}, () => {});
  tails.set(key, tail);
  // The map holds only sections still pending.
  tail.then(() => {
    if (tails.get(key) === tail) tails.delete(key);
  });
  return run;
}
