/**
 * The load generator shared by every server-benchmark target (EventDBX over REST, PostgreSQL,
 * the in-process engine, the raw binding): N concurrent async workers, each awaiting one
 * operation after another, for a fixed number of operations or a fixed duration. Every
 * operation's latency is recorded, so a run reports ops/s and p50/p99 the same way whatever
 * it drives. Using the one generator for every target means client-side costs (timers,
 * promise scheduling) are the same on both sides of each ratio.
 */
import { percentile } from "./harness.ts";

/** One operation: `worker` is 0…workers-1, `seq` counts that worker's operations from 0. */
export type Operation = (worker: number, seq: number) => Promise<unknown>;

export interface LoadOptions {
  /** Concurrent workers (each has at most one operation in flight). */
  workers: number;
  /** Total operations, shared out between the workers as they free up. */
  count?: number;
  /**
   * Run until this many milliseconds have passed; operations in flight at the deadline
   * still finish and count (the elapsed time includes them).
   */
  durationMs?: number;
  op: Operation;
}

/** What one load run measured. */
export interface LoadResult {
  workers: number;
  ops: number;
  /** Wall time from the first start to the last completion. */
  elapsedMs: number;
  opsPerSecond: number;
  /** Every operation's latency in milliseconds, in completion order. */
  latenciesMs: number[];
  p50Ms: number;
  p99Ms: number;
}

/**
 * Drive `op` from `workers` concurrent workers until `count` operations are done or
 * `durationMs` has passed (exactly one of the two). The first failing operation stops
 * every worker and is rethrown.
 *
 * @example
 * ```ts
 * const result = await runLoad({
 *   workers: 64,
 *   durationMs: 2000,
 *   op: (worker, seq) => engine.append(inputFor(worker, seq)),
 * });
 * console.log(`${result.opsPerSecond.toFixed(0)} ops/s, p99 ${result.p99Ms.toFixed(2)} ms`);
 * ```
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { workers, count, durationMs, op } = options;
  if (!Number.isInteger(workers) || workers < 1) {
    throw new Error("workers must be a positive integer");
  }
  if ((count === undefined) === (durationMs === undefined)) {
    throw new Error("give exactly one of count and durationMs");
  }
  const latencies: number[] = [];
  let started = 0;
  let failed = false;
  const start = performance.now();
  const deadline = durationMs === undefined ? Infinity : start + durationMs;
  const more = count === undefined ? () => performance.now() < deadline : () => started < count;

  const worker = async (id: number) => {
    let seq = 0;
    while (!failed && more()) {
      started++;
      const t0 = performance.now();
      try {
        await op(id, seq++);
      } catch (err) {
        failed = true;
        throw err;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, id) => worker(id)));
  const elapsedMs = performance.now() - start;
  return summarize(workers, latencies, elapsedMs);
}

/**
 * Several runs of the same target taken together: ops and time summed (so the rate is the
 * overall one, not an average of rates), latencies pooled for the percentiles.
 *
 * @example
 * ```ts
 * const total = combine([round1, round2, round3]);
 * console.log(total.opsPerSecond, total.p50Ms, total.p99Ms);
 * ```
 */
export function combine(results: LoadResult[]): LoadResult {
  if (results.length === 0) throw new Error("nothing to combine");
  const latencies = results.flatMap((r) => r.latenciesMs);
  const elapsedMs = results.reduce((acc, r) => acc + r.elapsedMs, 0);
  return summarize(results[0].workers, latencies, elapsedMs);
}

function summarize(workers: number, latenciesMs: number[], elapsedMs: number): LoadResult {
  return {
    workers,
    ops: latenciesMs.length,
    elapsedMs,
    opsPerSecond: latenciesMs.length / (elapsedMs / 1000),
    latenciesMs,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
  };
}
