/**
 * Memory benchmarks (targets 6 and 6r).
 *
 * 6 `RSS after 1M events vs after 100k` ≤ 1.15: RSS stays flat as the store grows. One child
 * process appends 1M events over 100k aggregates in batches of 1000 (200 aggregates × 5
 * events), sweeping all 100k aggregates twice, so the head cache (10k by default) overflows,
 * evicts, and reloads heads in the second sweep. GC is forced before every reading of
 * `Deno.memoryUsage().rss`: one after 10k events (informational, 6b: RocksDB's memtables and
 * caches are still filling then), then one every 100k. The child runs with the server's V8
 * flags and environment (SERVER_V8_FLAGS and SERVER_ENV of src/server/daemon.ts) and the
 * engine's default cache sizes, so it measures what a server's engine holds. It has its own
 * store (the 1M-event aggregate of 3–5 is one aggregate and cannot exercise the caches). Its
 * RSS is independent of other processes and its speed is not measured, so when the run also
 * builds the 1M-event aggregate, the child runs while that is being built (two cores) and is
 * awaited before any timed measurement starts.
 *
 * 6r `peak RSS of the server under 64 REST clients vs 256 MiB` ≤ 1.0: the real server
 * (`dbx start --foreground` as a subprocess, started like `deno task start`: the server's V8
 * flags and environment) takes ~10 s of 64 concurrent REST appends (each client its own
 * aggregate, as in target 4a); its VmRSS is read from /proc every 100 ms, and VmHWM (the peak
 * since the process started, so also its start-up) at the end. Linux only.
 */
import { SERVER_ENV, SERVER_V8_FLAGS, serverEnv } from "../../src/server/daemon.ts";
import { startDbxServer } from "./dbx_server.ts";
import { PAYLOAD } from "./engine_bench.ts";
import {
  type BenchContext,
  DENO_CONFIG,
  fmtBytes,
  fmtCount,
  fmtMs,
  fmtRate,
  here,
  type Suite,
} from "./harness.ts";
import { runLoad } from "./load.ts";
import { AGGREGATE_TYPE, EVENT_TYPE, WORKERS } from "./postgres.ts";

/**
 * Official sizes, and the reduced ones of `--quick`. Target 6's baseline is the reading after
 * `compareAt` events in both: memtables, caches and the heap take about 100k events to warm up
 * whatever the size of the run.
 */
function sizes(quick: boolean) {
  return quick
    ? { events: 300_000, aggregates: 30_000, baselineAt: 10_000, compareAt: 100_000, restMs: 3000 }
    : {
      events: 1_000_000,
      aggregates: 100_000,
      baselineAt: 10_000,
      compareAt: 100_000,
      restMs: 10_000,
    };
}

const MIB = 1 << 20;
/** Target 6r's bound on the server's RSS. */
const REST_RSS_LIMIT = 256 * MIB;

// --- 6: memory stays bounded -------------------------------------------------------

export interface MemoryChildArgs {
  dataDir: string;
  events: number;
  aggregates: number;
  /** The first reading (informational); later ones come every tenth of `events`. */
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
  /** MALLOC_ARENA_MAX as the child saw it. */
  malloc_arena_max?: string;
  readings: MemoryReading[];
  ms: number;
}

/** The V8 flags of the memory child: the server's, plus `gc()` for the readings. */
const CHILD_V8_FLAGS = ["--expose-gc", ...SERVER_V8_FLAGS];

/**
 * Run child.ts's memory mode with the server's V8 flags and environment (what harness's
 * runChild cannot pass); its result is the last line of its stdout.
 */
async function runMemoryChild(args: MemoryChildArgs): Promise<MemoryChildResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      DENO_CONFIG,
      `--v8-flags=${CHILD_V8_FLAGS.join(",")}`,
      here("./child.ts"),
      "memory",
      JSON.stringify(args),
    ],
    env: serverEnv(Deno.env.toObject()),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // The runner's Ctrl-C handler exits without awaiting cleanups: take the child down.
  const onUnload = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  globalThis.addEventListener("unload", onUnload);
  try {
    const { code, stdout } = await child.output();
    const text = new TextDecoder().decode(stdout).trim();
    if (code !== 0) throw new Error(`the memory child exited with code ${code}: ${text}`);
    try {
      return JSON.parse(text.split("\n").pop() ?? "") as MemoryChildResult;
    } catch {
      throw new Error(`the memory child printed no result: ${text.slice(-500)}`);
    }
  } finally {
    globalThis.removeEventListener("unload", onUnload);
  }
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
      } aggregates (engine default cache sizes, V8 flags ${CHILD_V8_FLAGS.join(" ")})`,
    );
    const result = await runMemoryChild(args);
    return { ...result, args };
  });
}

async function runMemory(ctx: BenchContext): Promise<void> {
  const result = await memoryChild(ctx);
  if (!result.gc) ctx.log("warning: the child could not force GC");
  ctx.log(`the memory child ran for ${fmtMs(result.ms)} (alongside the 1M build when both run)`);
  const first = result.readings[0];
  const last = result.readings[result.readings.length - 1];
  // The baseline: the reading after 100k events.
  const { compareAt } = sizes(ctx.quick);
  const warm = result.readings.find((r) => r.events >= compareAt) ?? first;
  ctx.log(
    `RSS trend: ${
      result.readings.map((r) => `${fmtCount(r.events)}: ${fmtBytes(r.rss)}`).join(", ")
    }`,
  );
  const { dataDir: _, ...args } = result.args;
  ctx.record({
    id: "6",
    title: `RSS after ${fmtCount(last.events)} vs ${fmtCount(warm.events)} events`,
    measured: fmtBytes(last.rss),
    baseline: fmtBytes(warm.rss),
    ratio: last.rss / warm.rss,
    comparison: "<=",
    threshold: 1.15,
    details: {
      ...args,
      gc: result.gc,
      v8_flags: CHILD_V8_FLAGS,
      malloc_arena_max: result.malloc_arena_max ?? null,
      readings: result.readings,
      child_ms: result.ms,
    },
  });
  // Against the first reading: RocksDB's memtables and caches are still filling then.
  if (first !== warm) {
    ctx.record({
      id: "6b",
      title: `RSS after ${fmtCount(last.events)} vs ${fmtCount(first.events)} events (cold)`,
      measured: fmtBytes(last.rss),
      baseline: fmtBytes(first.rss),
      ratio: last.rss / first.rss,
      comparison: "<=",
      threshold: 1.5,
      informational: true,
      details: {},
    });
  }
}

// --- 6r: the server's RSS under the 64-client REST load -------------------------------

/** VmRSS and VmHWM of a process, in bytes (Linux /proc). */
function processMemory(pid: number): { rss: number; hwm: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]) * 1024;
  };
  return { rss: kib("VmRSS"), hwm: kib("VmHWM") };
}

/** Run `fn` with SERVER_ENV in this process's environment (children inherit it), then undo. */
async function withServerEnv<T>(fn: () => Promise<T>): Promise<T> {
  const saved = Object.keys(SERVER_ENV).map((name) => [name, Deno.env.get(name)] as const);
  for (const [name, value] of Object.entries(serverEnv(Deno.env.toObject()))) {
    if (name in SERVER_ENV) Deno.env.set(name, value);
  }
  try {
    return await fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

async function runRestMemory(ctx: BenchContext): Promise<void> {
  if (Deno.build.os !== "linux") {
    ctx.record({
      id: "6r",
      title: "server peak RSS under 64 REST clients: skipped (needs Linux /proc)",
      measured: "-",
      baseline: fmtBytes(REST_RSS_LIMIT),
      ratio: NaN,
      comparison: "<=",
      threshold: 1,
      informational: true,
      details: { skipped: "not Linux" },
    });
    return;
  }
  const { restMs } = sizes(ctx.quick);
  const dataDir = await ctx.tempDir("memory-rest");
  const server = await withServerEnv(() =>
    startDbxServer({
      dataDir,
      surfaces: { rest: true, graphql: false, grpc: false },
      denoFlags: SERVER_V8_FLAGS.length ? [`--v8-flags=${SERVER_V8_FLAGS.join(",")}`] : [],
    })
  );
  try {
    const idle = processMemory(server.pid);
    ctx.log(
      `server pid ${server.pid} up: RSS ${fmtBytes(idle.rss)} (peak so far ${fmtBytes(idle.hwm)})`,
    );
    const headers = {
      authorization: `Bearer ${server.token}`,
      "content-type": "application/json",
    };
    const body = JSON.stringify({ event_type: EVENT_TYPE, payload: PAYLOAD });
    const urls = Array.from(
      { length: WORKERS },
      (_, w) => `${server.baseUrl}/v1/aggregates/${AGGREGATE_TYPE}/m-${w}/events`,
    );
    const samples: { ms: number; rss: number }[] = [];
    const start = performance.now();
    const sample = () => {
      try {
        samples.push({
          ms: Math.round(performance.now() - start),
          rss: processMemory(server.pid).rss,
        });
      } catch {
        // The server is gone: the load fails and says so.
      }
    };
    const timer = setInterval(sample, 100);
    let load;
    try {
      load = await runLoad({
        workers: WORKERS,
        durationMs: restMs,
        op: async (worker) => {
          const response = await fetch(urls[worker], { method: "POST", headers, body });
          const text = await response.text(); // to the end: the connection goes back to the pool
          if (response.status !== 201) {
            throw new Error(`REST append answered ${response.status}: ${text.slice(0, 300)}`);
          }
        },
      });
    } finally {
      clearInterval(timer);
    }
    sample();
    const end = processMemory(server.pid);
    const sampledPeak = Math.max(...samples.map((s) => s.rss));
    const peak = Math.max(end.hwm, sampledPeak);
    ctx.log(
      `64c REST for ${fmtMs(load.elapsedMs)}: ${fmtRate(load.opsPerSecond)}, p99 ${
        fmtMs(load.p99Ms)
      }; server RSS ${fmtBytes(idle.rss)} idle, sampled peak ${fmtBytes(sampledPeak)}, ${
        fmtBytes(end.rss)
      } at the end, VmHWM ${fmtBytes(end.hwm)}`,
    );
    ctx.record({
      id: "6r",
      title: `server peak RSS (VmHWM) under ${WORKERS} REST clients vs 256 MiB`,
      measured: fmtBytes(peak),
      baseline: fmtBytes(REST_RSS_LIMIT),
      ratio: peak / REST_RSS_LIMIT,
      comparison: "<=",
      threshold: 1,
      details: {
        workers: WORKERS,
        load_ms: load.elapsedMs,
        appends: load.ops,
        appends_per_second: load.opsPerSecond,
        p99_ms: load.p99Ms,
        v8_flags: SERVER_V8_FLAGS,
        env: SERVER_ENV,
        idle_rss: idle.rss,
        end_rss: end.rss,
        vm_hwm: end.hwm,
        sampled_peak_rss: sampledPeak,
        samples: samples.length,
        rss_mib_every_second: samples.filter((_, i) => i % 10 === 0).map((s) =>
          Math.round(s.rss / MIB)
        ),
      },
    });
  } finally {
    await server.stop();
  }
}

/** Register in main.ts with `...memorySuites` in SUITES. */
export const memorySuites: Suite[] = [
  {
    name: "memory",
    description:
      "6: RSS after 1M events over 100k aggregates vs after 100k (child process); 6r: server " +
      "peak RSS under 64 REST clients vs 256 MiB",
    run: async (ctx) => {
      await runMemory(ctx);
      await runRestMemory(ctx);
    },
  },
];
