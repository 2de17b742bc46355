/**
 * What a plugin kind does with committed events: deliver them in order and say how many
 * it acknowledged. Every kind implements this one interface.
 */
import type { EventRecord } from "../../../engine/types.ts";

/** A delivery that failed after the first `delivered` records were acknowledged. */
export class DeliveryError extends Error {
  readonly delivered: number;
  constructor(message: string, delivered = 0) {
    super(message);
    this.name = "DeliveryError";
    this.delivered = delivered;
  }
}

/** A plugin kind, ready to deliver. */
export interface Sink {
  /**
   * Most records per `deliver` call. 1 where each record is acknowledged on its own (an
   * HTTP answer): the cursor then moves after every event, so a crash repeats none that
   * was acknowledged.
   */
  readonly maxBatch: number;
  /**
   * Deliver records in order; resolves once all were acknowledged, throws a DeliveryError
   * (with the count acknowledged before the failure) otherwise. `signal` aborts it.
   */
  deliver(records: readonly EventRecord[], signal: AbortSignal): Promise<void>;
  /** Check that the target is reachable (directories made, files touched, hosts reached). */
  check(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * The message of an error, on one line and short (it ends up in `dbx queue`).
 *
 * @example
 * ```ts
 * errorText(new Error("connection\nrefused")); // "connection refused"
 * ```
 */
export function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, " ").trim().slice(0, 500) || "unknown error";
}

/**
 * Run `fn` at most `ms`; past that (or once `outer` aborts) the signal `fn` got is aborted
 * and an error thrown.
 *
 * @example
 * ```ts
 * const text = await withTimeout(1000, new AbortController().signal, "a request", (signal) =>
 *   fetch("http://127.0.0.1:7070/health", { signal }).then((r) => r.text()));
 * ```
 */
export async function withTimeout<T>(
  ms: number,
  outer: AbortSignal,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const abort = () => controller.abort(outer.reason);
  outer.addEventListener("abort", abort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`${what} timed out after ${ms} ms`);
      reject(error); // first, so that the race reports the timeout
      controller.abort(error);
    }, ms);
  });
  const stopped = () => {
    const reason = controller.signal.reason;
    return reason instanceof Error ? reason : new Error("delivery stopped");
  };
  const aborted = new Promise<never>((_, reject) => {
    if (controller.signal.aborted) reject(stopped());
    controller.signal.addEventListener("abort", () => reject(stopped()), { once: true });
  });
  aborted.catch(() => {});
  timeout.catch(() => {});
  try {
    return await Promise.race([fn(controller.signal), timeout, aborted]);
  } finally {
    clearTimeout(timer);
    outer.removeEventListener("abort", abort);
  }
}
