/**
 * The reports a long-lived worker isolate sends its host (the gate, the gRPC server, the
 * control socket), read in order with a deadline. A worker that dies must not leave its
 * host waiting for an answer: once it failed, every wait ends with that failure.
 */
import { DbxError } from "../errors.ts";

/**
 * How long a worker may take to say it is listening. Generous: under `deno test` a worker's
 * modules are type-checked as it starts, which takes many seconds on a loaded machine; a
 * worker that cannot start reports so at once, so only a hung one waits this long.
 */
export const WORKER_START_TIMEOUT_MS = 60_000;

/** The host's side of a worker's reports. */
export interface WorkerReports<R> {
  /** The next report, in order; `unavailable` when the worker failed or took too long. */
  next(timeoutMs: number): Promise<R>;
  /** Why the worker failed, once it did. */
  readonly failure: string | undefined;
}

/** How the reports are read. */
export interface WorkerReportsOptions<R> {
  /** Names the worker in errors: "the gRPC worker" → "the gRPC worker failed: …". */
  what: string;
  /** Handles a report out of order (returns true when it took it, e.g. a notice). */
  aside?: (report: R) => boolean;
  /** Told once when the worker fails after it started (its uncaught error's message). */
  onFailure(message: string): void;
}

/**
 * Take over `worker.onmessage` and `worker.onerror`, and queue the worker's reports.
 *
 * @example
 * ```ts
 * declare const worker: Worker; // a worker that reports `{ type: "listening" }` first
 * const reports = workerReports<{ type: string }>(worker, {
 *   what: "the worker",
 *   onFailure: (message) => console.error(`error: the worker failed: ${message}`),
 * });
 * worker.postMessage({ type: "start" });
 * const first = await reports.next(10_000);
 * ```
 */
export function workerReports<R>(
  worker: Worker,
  options: WorkerReportsOptions<R>,
): WorkerReports<R> {
  const queue: R[] = [];
  let wake: (() => void) | undefined;
  let failure: string | undefined;
  worker.onmessage = (event: MessageEvent<R>) => {
    if (options.aside?.(event.data)) return;
    queue.push(event.data);
    wake?.();
  };
  worker.onerror = (event) => {
    event.preventDefault();
    failure = event.message;
    options.onFailure(event.message);
    wake?.();
  };
  return {
    get failure() {
      return failure;
    },
    async next(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0) {
        if (failure !== undefined) {
          throw new DbxError("unavailable", `${options.what} failed: ${failure}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new DbxError("unavailable", `${options.what} did not answer in time`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      return queue.shift()!;
    },
  };
}
