/**
 * One open delivery store per data directory and process: a server's delivery and the API
 * operations it serves (`dbx queue`, `queue retry`, `plugin replay` …) share it, so a
 * change made through the API reaches the running delivery at once. Without a server the
 * CLI opens it for one operation and closes it after.
 */
import { resolve } from "node:path";
import { DeliveryState } from "./state.ts";

interface Open {
  state: Promise<DeliveryState>;
  users: number;
}

const open = new Map<string, Open>();

/**
 * The delivery state of `dataDir`, shared while anyone holds it; give it back with
 * {@link releaseDeliveryState}.
 *
 * @example
 * ```ts
 * const state = await acquireDeliveryState("/tmp/db");
 * try {
 *   await state.counts();
 * } finally {
 *   await releaseDeliveryState("/tmp/db");
 * }
 * ```
 */
export async function acquireDeliveryState(dataDir: string): Promise<DeliveryState> {
  const key = resolve(dataDir);
  let entry = open.get(key);
  if (!entry) {
    entry = { state: DeliveryState.open(dataDir), users: 0 };
    open.set(key, entry);
    entry.state.catch(() => {
      if (open.get(key) === entry) open.delete(key);
    });
  }
  entry.users++;
  try {
    return await entry.state;
  } catch (err) {
    entry.users--;
    throw err;
  }
}

/**
 * Give back what {@link acquireDeliveryState} gave; the last user closes the store.
 *
 * @example
 * ```ts
 * await acquireDeliveryState("/tmp/db");
 * await releaseDeliveryState("/tmp/db");
 * ```
 */
export async function releaseDeliveryState(dataDir: string): Promise<void> {
  const key = resolve(dataDir);
  const entry = open.get(key);
  if (!entry) return;
  entry.users--;
  if (entry.users > 0) return;
  open.delete(key);
  await (await entry.state).close();
}

/**
 * Run `fn` with the delivery state of `dataDir`.
 *
 * @example
 * ```ts
 * const counts = await withDeliveryState("/tmp/db", (state) => state.counts());
 * ```
 */
export async function withDeliveryState<T>(
  dataDir: string,
  fn: (state: DeliveryState) => Promise<T>,
): Promise<T> {
  const state = await acquireDeliveryState(dataDir);
  try {
    return await fn(state);
  } finally {
    await releaseDeliveryState(dataDir);
  }
}
