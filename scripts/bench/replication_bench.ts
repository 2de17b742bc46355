/**
 * Replication benchmark (targets 15a and 15b): catch-up of a fresh node by `dbx pull`.
 *
 * The source is a store of N events over 1,000 aggregates (the engine suites' PAYLOAD,
 * appended as `appendMany` does: batches of 1000, one event of each aggregate per batch),
 * served by a real `dbx start --foreground --port 0` (its socket on a free port). Every
 * receiver is a fresh data directory with its own DEK whose key the source pinned (offline,
 * before the server started), and which names the source with `dbx remote add`.
 *
 * 15a `replication` — `dbx pull` of all N events into a fresh, offline receiver (the CLI
 *   opens the store and imports through its own writer: every version, hash and Merkle root
 *   recomputed) reaches ≥ 50% of the receiving engine's own batched append rate. Baseline:
 *   `engine.appendBatch` of the same events (same payload, same 1,000 aggregates, batches of
 *   1000, two in flight) on a fresh data directory, in this process. Rounds alternate
 *   baseline and pull (order flipped every round); rates are N / summed times. The pull is
 *   timed as the whole CLI process (start-up, handshake, transfer, close).
 * 15b `replication` — memory is bounded: the receiving CLI's peak RSS (VmHWM) when pulling
 *   all N events is ≤ 1.5× its peak RSS when pulling a tenth of them (the events of 100 of
 *   the aggregates, `--aggregate-id`), from the same source in the same run. Judged at the
 *   full size only: under ~100k events the receiver's caches are still filling, so the
 *   quick run reports it for information.
 *
 * Full size: N = 1,000,000 (1,000 events per aggregate). Quick: N = 100,000.
 */
import { serveDataDir } from "./dbx_server.ts";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { Engine } from "../../src/engine/engine.ts";
import { appendMany, inputs, randomDek } from "./engine_bench.ts";
import {
  type BenchContext,
  DENO_CONFIG,
  fmtBytes,
  fmtMs,
  fmtRate,
  here,
  progress,
  type Suite,
  sum,
} from "./harness.ts";

const MAIN_TS = here("../../main.ts");
const AGGREGATES = 1000;
const TYPE = "customer";

function sizes(quick: boolean) {
  return quick ? { events: 100_000, rounds: 2 } : { events: 1_000_000, rounds: 2 };
}

const aggregateId = (i: number) => `c-${i % AGGREGATES}`;

/** A DEK for `dbx config`, base64. */
const dekText = () => Buffer.from(randomDek()).toString("base64");

interface CliRun {
  ms: number;
  stdout: string;
  /** Peak resident set size of the process (VmHWM), bytes; 0 when /proc is not readable. */
  peakRss: number;
  /** CPU time of the process, ms (Linux /proc; 0 elsewhere). */
  cpuMs: number;
}

function procStatus(pid: number): { hwm: number; cpuMs: number } | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { hwm, cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 };
  } catch {
    return undefined;
  }
}

/** Run the `dbx` CLI; polls its peak RSS while it runs. */
async function dbx(args: string[], denoFlags: string[] = []): Promise<CliRun> {
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", DENO_CONFIG, ...denoFlags, MAIN_TS, ...args],
    env: { DBX_NO_UPGRADE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peakRss = 0;
  let cpuMs = 0;
  const poll = setInterval(() => {
    const s = procStatus(child.pid);
    if (s) {
      peakRss = Math.max(peakRss, s.hwm);
      cpuMs = Math.max(cpuMs, s.cpuMs);
    }
  }, 100);
  const out = await child.output().finally(() => clearInterval(poll));
  const ms = performance.now() - start;
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(`dbx ${args[0]} failed (exit ${out.code}): ${decoder.decode(out.stderr)}`);
  }
  return { ms, stdout: decoder.decode(out.stdout), peakRss, cpuMs };
}

/** A configured data directory with its own DEK and replication key; returns the key. */
async function node(dir: string): Promise<string> {
  await dbx(["config", "--dek", dekText(), "--data-dir", dir]);
  return (await dbx(["remote", "key", "--data-dir", dir])).stdout.trim();
}

/** Append N events of the benchmark's shape to an open engine. */
function fill(engine: Engine, events: number, onProgress?: (done: number) => void) {
  return appendMany(
    engine,
    events,
    1000,
    (start, count) => inputs(TYPE, (i) => aggregateId(start + i), count),
    onProgress,
  );
}

async function runReplication(ctx: BenchContext): Promise<void> {
  const { events, rounds } = sizes(ctx.quick);
  const root = await ctx.tempDir("replication");

  // The source store, built offline, then served.
  const sourceDir = join(root, "source");
  const sourceKey = await node(sourceDir);
  {
    const { config } = await loadConfig({ dataDir: sourceDir }, { create: false });
    const engine = await Engine.open({ dataDir: sourceDir, dek: dekBytes(config) });
    try {
      await fill(engine, events, progress((m) => ctx.log(m), "building the source", events));
    } finally {
      await engine.close();
    }
  }

  // Every receiver of the run, made and pinned on the source before it starts.
  const receivers: string[] = [];
  const memoryReceiver = join(root, "receiver-small");
  for (const dir of [...Array.from({ length: rounds }, (_, r) => join(root, `receiver-${r}`))]) {
    receivers.push(dir);
  }
  for (const [i, dir] of [...receivers, memoryReceiver].entries()) {
    const key = await node(dir);
    await dbx([
      "remote",
      "add",
      `r${i}`,
      "127.0.0.1",
      "--public-key",
      key,
      "--data-dir",
      sourceDir,
    ]);
  }
  const source = await serveDataDir(sourceDir);
  ctx.onCleanup(() => source.stop());
  if (source.socketPort === undefined) throw new Error("the source serves no control socket");
  for (const dir of [...receivers, memoryReceiver]) {
    await dbx([
      "remote",
      "add",
      "source",
      "127.0.0.1",
      "--port",
      String(source.socketPort),
      "--public-key",
      sourceKey,
      "--data-dir",
      dir,
    ]);
  }
  ctx.log(`source: ${events} events over ${AGGREGATES} aggregates, socket :${source.socketPort}`);

  const baseline = async (r: number): Promise<number> => {
    const engine = await Engine.open({
      dataDir: await ctx.tempDir(`replication-append-${r}`),
      dek: randomDek(),
    });
    try {
      const start = performance.now();
      await fill(engine, events);
      return performance.now() - start;
    } finally {
      await engine.close();
    }
  };
  const sourceCpu = () => procStatus(source.pid)?.cpuMs ?? 0;
  const pull = async (r: number, extra: string[] = []) => {
    const before = sourceCpu();
    const run = await dbx(["pull", "source", "--json", "--data-dir", receivers[r], ...extra]);
    const summary = JSON.parse(run.stdout);
    if (summary.events !== events) {
      throw new Error(`pull moved ${summary.events} events, not ${events}`);
    }
    return { ...run, sourceCpuMs: sourceCpu() - before, transferMs: summary.elapsed_ms };
  };

  const appendMs: number[] = [];
  const pulls: Awaited<ReturnType<typeof pull>>[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ["append", "pull"] : ["pull", "append"];
    for (const step of order) {
      if (step === "append") appendMs.push(await baseline(r));
      else pulls.push(await pull(r));
    }
    const p = pulls[r];
    ctx.log(
      `round ${r + 1}: append ${fmtMs(appendMs[r])} (${fmtRate(events / appendMs[r] * 1000)}), ` +
        `pull ${fmtMs(p.ms)} (${fmtRate(events / p.ms * 1000)}; transfer ${
          fmtMs(p.transferMs)
        }), receiver cpu ${fmtMs(p.cpuMs)}, source cpu ${fmtMs(p.sourceCpuMs)}, ` +
        `receiver peak RSS ${fmtBytes(p.peakRss)}`,
    );
  }
  const pullMs = pulls.map((p) => p.ms);
  const appendRate = events * rounds / sum(appendMs) * 1000;
  const pullRate = events * rounds / sum(pullMs) * 1000;
  ctx.record({
    id: "15a",
    title: `catch-up of ${events / 1000}k events (1,000 aggregates) by dbx pull vs batched appends`,
    measured: fmtRate(pullRate),
    baseline: fmtRate(appendRate),
    ratio: sum(appendMs) / sum(pullMs),
    comparison: ">=",
    threshold: 0.5,
    details: {
      events,
      aggregates: AGGREGATES,
      append_ms: appendMs,
      pull_ms: pullMs,
      pull_transfer_ms: pulls.map((p) => p.transferMs),
      receiver_cpu_ms: pulls.map((p) => p.cpuMs),
      source_cpu_ms: pulls.map((p) => p.sourceCpuMs),
      receiver_peak_rss: pulls.map((p) => p.peakRss),
      per_round_ratio: appendMs.map((a, i) => a / pullMs[i]),
    },
  });

  // 15b: the same pull of a tenth of the aggregates, for its peak RSS.
  const few = Array.from({ length: AGGREGATES / 10 }, (_, i) => `${TYPE}:${aggregateId(i)}`);
  const small = await dbx([
    "pull",
    "source",
    "--json",
    "--data-dir",
    memoryReceiver,
    ...few.flatMap((ref) => ["--aggregate-id", ref]),
  ]);
  const smallEvents = JSON.parse(small.stdout).events as number;
  if (smallEvents !== events / 10) throw new Error(`pulled ${smallEvents}, not ${events / 10}`);
  const bigRss = Math.max(...pulls.map((p) => p.peakRss));
  ctx.log(
    `pull of ${smallEvents} events: peak RSS ${fmtBytes(small.peakRss)}; of ${events}: ${
      fmtBytes(bigRss)
    }`,
  );
  ctx.record({
    id: "15b",
    title: `receiver peak RSS pulling ${events / 1000}k events vs a tenth of them`,
    measured: fmtBytes(bigRss),
    baseline: fmtBytes(small.peakRss),
    ratio: bigRss / small.peakRss,
    comparison: "<=",
    threshold: 1.5,
    // Below ~100k events the receiver's caches are still filling (RocksDB memtables and
    // block cache, the heap): quick sizes cannot show the plateau, so they only report it.
    informational: ctx.quick,
    details: { events, small_events: smallEvents, big_rss: bigRss, small_rss: small.peakRss },
  });
}

/** For the bench runner: `...replicationSuites` in SUITES (main.ts). */
export const replicationSuites: Suite[] = [
  {
    name: "replication",
    description: "15a/15b: dbx pull catch-up of 1M events vs batched appends; receiver peak RSS",
    run: runReplication,
  },
];
