/**
 * Memory benchmarks (target 6): RSS stays bounded as the store grows. One child process
 * (`--expose-gc`, engine default cache size) appends 1M events over 100k aggregates in
 * batches of 1000 (200 aggregates × 5 events), sweeping all 100k aggregates twice, so the
 * head cache (10k by default) overflows, evicts, and reloads heads in the second sweep. GC is
 * forced before every reading of `Deno.memoryUsage().rss`. It has its own store (the
 * 1M-event aggregate of 3–5 is one aggregate and cannot exercise the caches). Its RSS is
 * independent of other processes and its speed is not measured, so when the run also builds
 * the 1M-event aggregate, the child runs while that is being built (two cores) and is
 * awaited before any timed measurement starts.
 */
import { type BenchContext, fmtBytes, fmtCount, fmtMs, runChild, type Suite } from "./harness.ts";

/** Official sizes, and the reduced ones of `--quick`. */
function sizes(quick: boolean) {
  return quick
    ? { events: 60_000, aggregates: 12_000, baselineAt: 10_000 }
    : { events: 1_000_000, aggregates: 100_000, baselineAt: 10_000 };
}

// --- 6: memory stays bounded -------------------------------------------------------

export interface MemoryChildArgs {
  dataDir: string;
  events: number;
  aggregates: number;
  baselineAt: number;
  batch: number;
}

export interface MemoryReading {
  events: number;
  rss: number;
  heap_used: number;
  external: number;
}

export interface MemoryChildResult {
  gc: boolean;
  cache_size: string;
  readings: MemoryReading[];
  ms: number;
}

/** Run the memory child once per run (its result is shared with the `memory` suite). */
export function memoryChild(
  ctx: BenchContext,
): Promise<MemoryChildResult & { args: MemoryChildArgs }> {
  return ctx.fixture("memory-child", async () => {
    const { events, aggregates, baselineAt } = sizes(ctx.quick);
    const args: MemoryChildArgs = {
      dataDir: await ctx.tempDir("memory"),
      events,
      aggregates,
      baselineAt,
      batch: 1000,
    };
    ctx.log(
      `memory child: ${fmtCount(events)} events over ${
        fmtCount(aggregates)
      } aggregates (engine default cache size)`,
    );
    const result = await runChild<MemoryChildResult>(
      "memory",
      args as unknown as Record<string, unknown>,
      { exposeGc: true },
    );
    return { ...result, args };
  });
}

async function runMemory(ctx: BenchContext): Promise<void> {
  const result = await memoryChild(ctx);
  if (!result.gc) ctx.log("warning: the child could not force GC");
  ctx.log(`the memory child ran for ${fmtMs(result.ms)} (alongside the 1M build when both run)`);
  const first = result.readings[0];
  const last = result.readings[result.readings.length - 1];
  ctx.log(
    `RSS trend: ${
      result.readings.map((r) => `${fmtCount(r.events)}: ${fmtBytes(r.rss)}`).join(", ")
    }`,
  );
  const { dataDir: _, ...args } = result.args;
  ctx.record({
    id: "6",
    title: `RSS after ${fmtCount(last.events)} vs ${fmtCount(first.events)} events`,
    measured: fmtBytes(last.rss),
    baseline: fmtBytes(first.rss),
    ratio: last.rss / first.rss,
    comparison: "<=",
    threshold: 1.5,
    details: { ...args, gc: result.gc, readings: result.readings, child_ms: result.ms },
  });
  // Steady state: how much RSS still grows once RocksDB's caches and memtables are warm.
  const warm = result.readings.find((r) => r.events >= last.events / 10 && r !== first);
  if (warm && warm !== last) {
    ctx.record({
      id: "6b",
      title: `RSS after ${fmtCount(last.events)} vs ${fmtCount(warm.events)} events (warm)`,
      measured: fmtBytes(last.rss),
      baseline: fmtBytes(warm.rss),
      ratio: last.rss / warm.rss,
      comparison: "<=",
      threshold: 1.5,
      informational: true,
      details: {},
    });
  }
}

/** Register in main.ts with `...memorySuites` in SUITES. */
export const memorySuites: Suite[] = [
  {
    name: "memory",
    description: "6: RSS after 1M events over 100k aggregates vs after 10k (child process)",
    run: runMemory,
  },
];
