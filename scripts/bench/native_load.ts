/**
 * Server benchmark with each side's own native load generator (target 4w), beside the
 * same-generator pairing of rest_bench.ts (4a drives both sides with load.ts):
 *
 * 4w `REST via wrk 64c vs PostgreSQL via pgbench 64c` ≥ 1.2 — REST appends/s of the real `dbx`
 *   server driven by wrk, against PostgreSQL 15 inserts/s driven by pgbench, 64 connections
 *   each, the same row shape (aggregate type "bench", event type "updated", PAYLOAD of
 *   engine_bench.ts as the JSON payload).
 *
 * REST: `dbx start --foreground` on a fresh data dir (dbx_server.ts, `[server] http_workers =
 *   auto`), driven by `wrk -t<T> -c64 -d<s> --latency --timeout 30s -s wrk_append.lua` (T = the
 *   CPU count, 2 on the reference box, at most 8, a power of two so 64 connections split
 *   evenly). Every request POSTs `{"event_type":"updated","payload":PAYLOAD}` to
 *   `/v1/aggregates/bench/wrk-<n>/events` with the Bearer token over keep-alive connections;
 *   each wrk thread owns one aggregate per connection and hands them out round-robin (wrk gives
 *   Lua no connection id). Every answer must be 201: the script counts any other status, and a
 *   round with one (or with socket errors or timeouts) makes the target FAIL loudly (ratio NaN,
 *   title naming the count) instead of counting it.
 * PostgreSQL: a throwaway PostgreSQL 15 server (postgres.ts: loopback, fsync=on,
 *   synchronous_commit=on) with CREATE_TABLE, driven by `pgbench -n -c 64 -j <T> -T <s> -M
 *   prepared -f <script>` (pgbench only reads the server: no vacuum, no pgbench tables). Each
 *   client inserts into its own aggregate (`:client_id`) the next version of a per-client
 *   counter — pgbench variables live per client and persist across its transactions, so
 *   `\set v :v + 1` is the same client-side version counter 4a's workers keep, and the
 *   statement stays INSERT_EVENT's single-row insert with every value a parameter (no
 *   sequence, no read). `-D v=<base>` starts each pgbench run's counters at a base of its own
 *   (run k: k·10⁹) so versions never collide across runs; `-D` also passes the aggregate type,
 *   event type and payload text. One INSERT per transaction, each synchronously committed.
 *   Latencies come from pgbench's per-transaction log (`-l`), exact; a client that aborts
 *   (pgbench exits non-zero) fails the suite.
 *
 * Method: each side warms up (3 s; --quick 2 s), then the two alternate for R rounds of a fixed
 * duration (official: 3 × 5 s; --quick: 1 × 2 s), order flipped every round. A side's rate is its
 * total requests over its total measured time (wrk's run duration; pgbench's time without its
 * initial connections). p50/p99 pool the rounds' latency distributions, each round given as 1000
 * quantiles (wrk's histogram — which includes wrk's own coordinated-omission correction — or
 * pgbench's exact log) weighted by its request count. The server's CPU time per append is
 * sampled around each REST round. When wrk cannot be installed or PostgreSQL cannot be
 * started, 4w is recorded as skipped (informational, never a pass) with the reason.
 */
import { cpus } from "node:os";
import {
  cpuSince,
  type DbxServer,
  type ServerCpu,
  serverCpuMs,
  startDbxServer,
} from "./dbx_server.ts";
import { PAYLOAD } from "./engine_bench.ts";
import {
  type BenchContext,
  fmtMs,
  fmtRate,
  fmtRatio,
  here,
  runCleanups,
  type Suite,
} from "./harness.ts";
import {
  AGGREGATE_TYPE,
  CREATE_TABLE,
  EVENT_TYPE,
  PG_BIN,
  type PostgresServer,
  run,
  startPostgres,
  WORKERS,
} from "./postgres.ts";

const WRK_SCRIPT = here("./wrk_append.lua");
const PGBENCH = `${PG_BIN}/pgbench`;
const PSQL = `${PG_BIN}/psql`;

/** Official sizes, and the reduced ones of `--quick` (seconds). */
function sizes(quick: boolean) {
  return quick ? { rounds: 1, roundS: 2, warmupS: 2 } : { rounds: 3, roundS: 5, warmupS: 3 };
}

/** Load-generator threads: the CPU count, as a power of two ≤ 8 (64 connections split evenly). */
function loadThreads(): number {
  const n = Math.max(1, Math.min(8, cpus().length));
  return 2 ** Math.floor(Math.log2(n));
}

/** One run of one load generator. */
interface Round {
  requests: number;
  elapsedMs: number;
  /** 1000 latency quantiles in µs, at (i + 0.5) / 10 %. */
  quantilesUs: number[];
  p50Us: number;
  p99Us: number;
  /** Answers or transactions that did not succeed. */
  failures: number;
  failure?: string;
  raw: Record<string, unknown>;
}

const rate = (rounds: Round[]) =>
  rounds.reduce((a, r) => a + r.requests, 0) / (rounds.reduce((a, r) => a + r.elapsedMs, 0) / 1000);

/** Percentile `p` of several rounds' quantile lists, each weighted by its request count. */
function pooledPercentileUs(rounds: Round[], p: number): number {
  const samples = rounds.flatMap((r) =>
    r.quantilesUs.map((value) => ({ value, weight: r.requests / r.quantilesUs.length }))
  ).sort((a, b) => a.value - b.value);
  const total = samples.reduce((a, s) => a + s.weight, 0);
  let seen = 0;
  for (const sample of samples) {
    seen += sample.weight;
    if (seen >= (p / 100) * total) return sample.value;
  }
  return NaN;
}

function describe(rounds: Round[]): string {
  return `${fmtRate(rate(rounds))}, p50 ${fmtMs(pooledPercentileUs(rounds, 50) / 1000)} p99 ${
    fmtMs(pooledPercentileUs(rounds, 99) / 1000)
  }`;
}

function numbers(rounds: Round[]) {
  const elapsedMs = rounds.reduce((a, r) => a + r.elapsedMs, 0);
  const requests = rounds.reduce((a, r) => a + r.requests, 0);
  return {
    requests,
    elapsed_ms: elapsedMs,
    per_s: rate(rounds),
    p50_ms: pooledPercentileUs(rounds, 50) / 1000,
    p99_ms: pooledPercentileUs(rounds, 99) / 1000,
    // Little's law: connections × time / requests, free of any histogram correction.
    mean_latency_ms: (WORKERS * elapsedMs) / requests,
    round_per_s: rounds.map((r) => r.requests / (r.elapsedMs / 1000)),
    round_p50_ms: rounds.map((r) => r.p50Us / 1000),
    rounds: rounds.map((r) => r.raw),
  };
}

// --- subprocesses ------------------------------------------------------------------

/**
 * Run a load generator to completion (SIGKILL after `timeoutMs`, and on this process's exit):
 * its exit code, stdout and stderr. Throws only when it cannot be started.
 */
async function runTool(
  program: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  globalThis.addEventListener("unload", kill);
  const timer = setTimeout(kill, timeoutMs);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
    globalThis.removeEventListener("unload", kill);
    kill(); // A no-op once it exited; kills it if awaiting its output failed.
  }
}

/** wrk's version line, installing the Debian package first when wrk is missing. */
async function ensureWrk(log: (message: string) => void): Promise<string> {
  const version = async () => {
    // `wrk -v` prints its version and usage and exits 1.
    const output = await new Deno.Command("wrk", { args: ["-v"], stdout: "piped", stderr: "null" })
      .output();
    return new TextDecoder().decode(output.stdout).split("\n")[0].trim();
  };
  try {
    return await version();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  log("wrk is not installed: apt-get install -y wrk");
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  try {
    await run(["apt-get", "install", "-y", "wrk"], env);
  } catch {
    log("apt-get install failed: apt-get update, then again");
    await run(["apt-get", "update"], env);
    await run(["apt-get", "install", "-y", "wrk"], env);
  }
  return await version();
}

function psql(pg: PostgresServer, sql: string): Promise<string> {
  return run([
    PSQL,
    "-X",
    "-q",
    "-A",
    "-t",
    "-v",
    "ON_ERROR_STOP=1",
    "-h",
    pg.host,
    "-p",
    String(pg.port),
    "-U",
    pg.user,
    "-d",
    pg.database,
    "-c",
    sql,
  ]);
}

// --- the two sides -----------------------------------------------------------------

async function wrkRound(server: DbxServer, threads: number, seconds: number): Promise<Round> {
  const body = JSON.stringify({ event_type: EVENT_TYPE, payload: PAYLOAD });
  const args = [
    `-t${threads}`,
    `-c${WORKERS}`,
    `-d${seconds}s`,
    "--latency",
    "--timeout",
    "30s",
    "-s",
    WRK_SCRIPT,
    `${server.baseUrl}/`,
    "--",
    server.token,
    String(WORKERS / threads),
    body,
  ];
  const { code, stdout, stderr } = await runTool("wrk", args, seconds * 1000 + 120_000);
  const line = stdout.split("\n").find((l) => l.startsWith("WRK_RESULT "));
  if (code !== 0 || !line) {
    throw new Error(`wrk exited with code ${code}: ${(stderr || stdout).trim().slice(-500)}`);
  }
  const result = JSON.parse(line.slice("WRK_RESULT ".length));
  const errors = result.errors as Record<string, number>;
  const socketErrors = errors.connect + errors.read + errors.write + errors.timeout;
  const failures = result.non201 + socketErrors;
  return {
    requests: result.requests,
    elapsedMs: result.duration_us / 1000,
    quantilesUs: result.quantiles_us,
    p50Us: result.latency_us.p50,
    p99Us: result.latency_us.p99,
    failures,
    failure: failures > 0
      ? `${result.non201} answers not 201 (first: ${result.first_non201 || "-"}), socket errors ${
        JSON.stringify(errors)
      }`
      : undefined,
    raw: {
      requests: result.requests,
      duration_us: result.duration_us,
      non201: result.non201,
      errors,
      latency_us: result.latency_us,
    },
  };
}

/** The pgbench side: a script file and a fresh version base for every run. */
class Pgbench {
  #runs = 0;
  transactions = 0;

  constructor(
    readonly pg: PostgresServer,
    readonly dir: string,
    readonly threads: number,
  ) {}

  static async create(pg: PostgresServer, dir: string, threads: number): Promise<Pgbench> {
    // pgbench replaces each :variable with a parameter ($n) under -M prepared, so this is
    // INSERT_EVENT with the version counted per client.
    await Deno.writeTextFile(
      `${dir}/append.sql`,
      [
        "\\set v :v + 1",
        "INSERT INTO events(aggregate_type, aggregate_id, version, event_type, payload, " +
        "created_at) VALUES (:aggregate_type, :client_id, :v, :event_type, " +
        ":payload::jsonb, now());",
        "",
      ].join("\n"),
    );
    return new Pgbench(pg, dir, threads);
  }

  async round(seconds: number): Promise<Round> {
    const run = this.#runs++;
    const logDir = `${this.dir}/log-${run}`;
    await Deno.mkdir(logDir);
    const args = [
      "-h",
      this.pg.host,
      "-p",
      String(this.pg.port),
      "-U",
      this.pg.user,
      "-n",
      "-c",
      String(WORKERS),
      "-j",
      String(this.threads),
      "-T",
      String(seconds),
      "-M",
      "prepared",
      "-f",
      `${this.dir}/append.sql`,
      "-D",
      `v=${run * 1_000_000_000}`,
      "-D",
      `aggregate_type=${AGGREGATE_TYPE}`,
      "-D",
      `event_type=${EVENT_TYPE}`,
      "-D",
      `payload=${JSON.stringify(PAYLOAD)}`,
      "-l",
      `--log-prefix=${logDir}/tx`,
      this.pg.database,
    ];
    const { code, stdout, stderr } = await runTool(PGBENCH, args, seconds * 1000 + 120_000);
    if (code !== 0) {
      throw new Error(
        `pgbench exited with code ${code}: ${
          (stderr + stdout).trim().split("\n").slice(-8).join(" | ")
        }`,
      );
    }
    const field = (pattern: RegExp) => {
      const match = pattern.exec(stdout);
      if (!match) throw new Error(`pgbench printed no ${pattern}: ${stdout.slice(-800)}`);
      return Number(match[1]);
    };
    const processed = field(/number of transactions actually processed: (\d+)/);
    if (processed === 0) {
      // Its 64 connections (a fork each on the server) took the whole run.
      throw new Error(`pgbench processed no transaction in ${seconds} s: ${stdout.slice(-300)}`);
    }
    const failed = /number of failed transactions: (\d+)/.exec(stdout);
    const tps = field(/tps = ([\d.]+) \(without initial connection time\)/);
    const connectMs = field(/initial connection time = ([\d.]+) ms/);
    const latencyAvgMs = field(/latency average = ([\d.]+) ms/);

    // Per-transaction log lines: client_id transaction_no time(µs) script_no epoch epoch_us.
    const latencies: number[] = [];
    for await (const entry of Deno.readDir(logDir)) {
      const text = await Deno.readTextFile(`${logDir}/${entry.name}`);
      for (const line of text.split("\n")) {
        const us = Number(line.split(" ")[2]);
        if (line && Number.isFinite(us)) latencies.push(us);
      }
    }
    await Deno.remove(logDir, { recursive: true });
    latencies.sort((a, b) => a - b);
    const at = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
    const failures = failed ? Number(failed[1]) : 0;
    this.transactions += processed;
    return {
      requests: processed,
      elapsedMs: (processed / tps) * 1000,
      quantilesUs: Array.from({ length: 1000 }, (_, i) => at((i + 0.5) / 1000)),
      p50Us: at(0.5),
      p99Us: at(0.99),
      failures,
      failure: failures > 0 ? `${failures} failed transactions` : undefined,
      raw: {
        transactions: processed,
        logged_transactions: latencies.length,
        failed: failures,
        tps,
        initial_connection_ms: connectMs,
        latency_average_ms: latencyAvgMs,
      },
    };
  }
}

// --- the suite -------------------------------------------------------------------

async function runNative(ctx: BenchContext): Promise<void> {
  const size = sizes(ctx.quick);
  const threads = loadThreads();
  const cleanups: (() => Promise<void>)[] = [];
  const title = `REST via wrk ${WORKERS}c vs PostgreSQL via pgbench ${WORKERS}c`;
  try {
    let wrkVersion = "";
    const skipped: string[] = [];
    try {
      wrkVersion = await ensureWrk((m) => ctx.log(m));
    } catch (err) {
      skipped.push(`wrk unavailable: ${(err as Error).message.split("\n")[0]}`);
    }

    let pgbench: Pgbench | undefined;
    let pgServer: PostgresServer | undefined;
    let pgbenchVersion = "";
    try {
      pgServer = await startPostgres({ log: (m) => ctx.log(m) });
      cleanups.push(() => pgServer!.stop());
      pgbenchVersion = (await run([PGBENCH, "--version"])).trim();
      await psql(pgServer, CREATE_TABLE);
      pgbench = await Pgbench.create(pgServer, await ctx.tempDir("native-pgbench"), threads);
    } catch (err) {
      skipped.push(`PostgreSQL unavailable: ${(err as Error).message.split("\n")[0]}`);
    }
    if (!wrkVersion) {
      ctx.log(`target 4w will be SKIPPED: ${skipped.join("; ")}`);
      ctx.record({
        id: "4w",
        title: `${title} — SKIPPED (wrk unavailable)`,
        measured: `skipped: ${skipped.join("; ")}`.slice(0, 80),
        baseline: "-",
        ratio: NaN,
        comparison: ">=",
        threshold: 1.2,
        informational: true,
        details: { skipped: true, reason: skipped.join("; ") },
      });
      return;
    }

    ctx.log("starting the dbx server");
    const server = await startDbxServer({
      dataDir: await ctx.tempDir("native-server"),
      httpWorkers: "auto",
    });
    cleanups.push(() => server.stop());
    ctx.log(
      `dbx server pid ${server.pid} at ${server.baseUrl} (http_workers auto); ${wrkVersion}` +
        (pgServer ? `; ${pgbenchVersion} against ${pgServer.version}` : "") +
        `; ${threads} load threads, ${WORKERS} connections`,
    );

    type Side = { label: "REST" | "PostgreSQL"; run: (seconds: number) => Promise<Round> };
    const cpu: { cpu: ServerCpu; appends: number }[] = [];
    const rest: Side = {
      label: "REST",
      run: async (seconds) => {
        const before = serverCpuMs(server.pid);
        const round = await wrkRound(server, threads, seconds);
        cpu.push({ cpu: cpuSince(before, serverCpuMs(server.pid)), appends: round.requests });
        return round;
      },
    };
    const sides: Side[] = [rest];
    if (pgbench) sides.push({ label: "PostgreSQL", run: (seconds) => pgbench!.round(seconds) });

    const line = (r: Round) =>
      `${fmtRate(r.requests / (r.elapsedMs / 1000))}, p50 ${fmtMs(r.p50Us / 1000)} p99 ${
        fmtMs(r.p99Us / 1000)
      }${r.failures ? `, ${r.failures} FAILURES: ${r.failure}` : ""}`;
    for (const side of sides) {
      const warm = await side.run(size.warmupS);
      ctx.log(`warm-up ${side.label} ${WORKERS}c: ${line(warm)}`);
    }
    cpu.length = 0;
    const rounds = new Map<string, Round[]>(sides.map((s) => [s.label, []]));
    for (let r = 0; r < size.rounds; r++) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const round = await side.run(size.roundS);
        rounds.get(side.label)!.push(round);
        const last = side.label === "REST" ? cpu[cpu.length - 1] : undefined;
        const perAppend = last
          ? `, server CPU ${
            ((Object.values(last.cpu).reduce((a, b) => a + b, 0) * 1000) /
              last.appends).toFixed(0)
          } µs per append (engine thread ${
            ((last.cpu.engine * 1000) / last.appends).toFixed(0)
          } µs)`
          : "";
        ctx.log(`round ${r + 1} ${side.label} ${WORKERS}c: ${line(round)}${perAppend}`);
      }
    }

    const restRounds = rounds.get("REST")!;
    const appends = cpu.reduce((a, c) => a + c.appends, 0);
    const cpuTotal = cpu.reduce(
      (a, c) => ({
        engine: a.engine + c.cpu.engine,
        grpc: a.grpc + c.cpu.grpc,
        workers: a.workers + c.cpu.workers,
        other: a.other + c.cpu.other,
      }),
      { engine: 0, grpc: 0, workers: 0, other: 0 },
    );
    const serverCpuUs = {
      total: ((cpuTotal.engine + cpuTotal.grpc + cpuTotal.workers + cpuTotal.other) * 1000) /
        appends,
      engine: (cpuTotal.engine * 1000) / appends,
      workers: (cpuTotal.workers * 1000) / appends,
      other: (cpuTotal.other * 1000) / appends,
    };
    ctx.log(
      `server CPU per REST append: ${serverCpuUs.total.toFixed(0)} µs (engine thread ${
        serverCpuUs.engine.toFixed(0)
      } µs, workers ${serverCpuUs.workers.toFixed(0)} µs, other threads ${
        serverCpuUs.other.toFixed(0)
      } µs)`,
    );
    const common = {
      connections: WORKERS,
      load_threads: threads,
      rounds: size.rounds,
      round_s: size.roundS,
      warmup_s: size.warmupS,
      wrk_version: wrkVersion,
      http_workers: "auto",
      rest: numbers(restRounds),
      server_cpu_us_per_append: serverCpuUs,
    };

    if (!pgbench || !pgServer) {
      ctx.record({
        id: "4w",
        title: `${title} — SKIPPED (PostgreSQL unavailable)`,
        measured: describe(restRounds),
        baseline: `skipped: ${skipped.join("; ")}`.slice(0, 80),
        ratio: NaN,
        comparison: ">=",
        threshold: 1.2,
        informational: true,
        details: { ...common, skipped: true, reason: skipped.join("; ") },
      });
      return;
    }
    const pgRounds = rounds.get("PostgreSQL")!;
    const rows = Number((await psql(pgServer, "SELECT count(*) FROM events")).trim());
    ctx.log(`PostgreSQL holds ${rows} rows; pgbench reported ${pgbench.transactions} transactions`);
    const failures = [...restRounds, ...pgRounds].filter((r) => r.failures > 0);
    const ratio = rate(restRounds) / rate(pgRounds);
    if (failures.length > 0) {
      ctx.log(
        `FAILURES in ${failures.length} rounds (ratio would be ${fmtRatio(ratio)}): ${
          failures.map((r) => r.failure).join("; ")
        }`,
      );
    }
    ctx.record({
      id: "4w",
      title: failures.length > 0
        ? `${title} — FAILED: ${failures.reduce((a, r) => a + r.failures, 0)} failed requests`
        : title,
      measured: describe(restRounds),
      baseline: describe(pgRounds),
      ratio: failures.length > 0 ? NaN : ratio,
      comparison: ">=",
      threshold: 1.2,
      details: {
        ...common,
        postgres: numbers(pgRounds),
        postgres_rows: rows,
        pgbench_version: pgbenchVersion,
        postgres_version: pgServer.version,
        postgres_settings: pgServer.settings,
        ratio_before_failures: ratio,
        failures: failures.map((r) => r.failure),
      },
    });
  } finally {
    await runCleanups(ctx, cleanups);
  }
}

/** Register in main.ts with `...nativeLoadSuites` in SUITES. */
export const nativeLoadSuites: Suite[] = [
  {
    name: "rest-native",
    description:
      "4w: REST appends driven by wrk (64c) vs PostgreSQL 15 inserts driven by pgbench (64c)",
    run: runNative,
  },
];
