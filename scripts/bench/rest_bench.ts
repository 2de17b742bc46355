/**
 * Server benchmarks (targets 4a–4e, 4s): the real `dbx` server over REST against PostgreSQL 15,
 * the in-process engine and the raw RocksDB binding, all driven by the one load generator
 * (load.ts), side by side in one run, with the same payload (PAYLOAD of engine_bench.ts).
 *
 * Targets:
 * 4a `REST 64c vs PostgreSQL 64c` ≥ 1.2 — 64 concurrent clients appending single events.
 *   EventDBX: the real server as a subprocess (`dbx start --foreground --host 127.0.0.1
 *   --port 0` on a fresh data dir with a DEK set by `dbx config` and a token from `dbx token
 *   generate`); each worker POSTs `{"event_type":"updated","payload":…}` to
 *   `/v1/aggregates/bench/w-<n>/events` with the Bearer token over keep-alive connections
 *   (Deno's fetch pools them), and every response must be 201.
 *   PostgreSQL: a throwaway PostgreSQL 15 server (postgres.ts: Debian package, loopback,
 *   fsync=on, synchronous_commit=on) with
 *   `events(aggregate_type, aggregate_id, version, event_type, payload jsonb, created_at)`
 *   and `UNIQUE (aggregate_type, aggregate_id, version)`; 64 workers, each with its own
 *   connection (`pg.Client` from npm:pg) and its own aggregate with a client-side
 *   version counter, run a named (prepared once per connection) INSERT per event, each its
 *   own synchronously committed transaction.
 * 4b `REST 64c vs engine in-process 64c` ≥ 0.5 — the same 64 workers calling
 *   `engine.append` on an `Engine` opened in this process (HTTP, JSON and auth at most
 *   halve the rate).
 * 4c `REST sequential vs raw synced put` ≥ 0.8 — one worker over REST against one worker
 *   doing `storage.write([{put}], {sync: true})` on the raw binding (`openRocksStorage`),
 *   the value a copy of a real engine-encoded event of the same payload.
 *
 * 4s `REST sequential p50 − raw synced put p50` ≤ 400 µs — the same sequential rounds as 4c.
 *
 * Every target with an engine reports its write path (write_path.ts), from the engine's
 * write counters (`GET /v1/stats/writes` on the server) read around each run.
 *
 * 4d `REST JS per append beyond the engine's own` ≤ 50 µs — the CPU time of the server's
 *   main (engine) thread per REST append during the 4a/4b rounds, minus the CPU time of this
 *   process's main thread per append of the in-process engine driven by 64 callers at the rate
 *   REST reached (the engine's cost depends on how appends arrive: paced like REST, its commit
 *   groups are as small as REST's). The ratio column holds the difference in µs.
 * 4e (informational) the engine thread's CPU per REST append with `[server] http_workers = 2`
 *   (a second server) against in-thread HTTP (the 4d rounds, after PostgreSQL stopped), and the
 *   workers' own CPU per append: the figure that predicts how REST scales with more cores.
 * Method: every target is warmed up first. The 64-client targets then run R rounds of a
 * fixed duration each, the order of the three rotating every round (each target takes
 * each slot once when R = 3) so drift and background compaction hit all alike; the
 * sequential pair alternates, order flipped every round. Rates are total events over total
 * time of a target's rounds; p50/p99 pool every operation's latency. When PostgreSQL cannot
 * be started, 4a is recorded as skipped (informational, never a pass) with the reason.
 */
// The PostgreSQL client is only needed by this benchmark (pinned in deno.json).
import pg from "pg";
import pgPackage from "pg/package.json" with { type: "json" };
import { AGGREGATE_TYPE, CREATE_TABLE, EVENT_TYPE, INSERT_EVENT, WORKERS } from "./postgres.ts";
import { Engine, storePath } from "../../src/engine/engine.ts";
import { eventKey } from "../../src/engine/keys.ts";
import type { AppendInput } from "../../src/engine/types.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import { PAYLOAD, randomDek } from "./engine_bench.ts";
import type { WriteStats } from "../../src/engine/types.ts";
import {
  type BenchContext,
  fmtMs,
  fmtRate,
  fmtRatio,
  runCleanups,
  type Suite,
  threadCpuMs,
} from "./harness.ts";
import { combine, type LoadResult, type Operation, runLoad } from "./load.ts";
import { type PostgresServer, startPostgres } from "./postgres.ts";
import { type DbxServer, startDbxServer } from "./dbx_server.ts";
import {
  fmtWritePath,
  serverWriteStats,
  sumWritePaths,
  type WritePath,
  writePathBetween,
  writePathFigures,
} from "./write_path.ts";

/** Official sizes, and the reduced ones of `--quick`. */
function sizes(quick: boolean) {
  return quick
    ? { rounds: 3, concurrentMs: 600, sequentialMs: 600, warmupMs: 300 }
    : { rounds: 3, concurrentMs: 2500, sequentialMs: 2000, warmupMs: 1000 };
}

/** The part of pg.Client this suite uses (the npm package ships no types). */
interface PgClient {
  connect(): Promise<void>;
  query(query: string | { name?: string; text: string; values?: unknown[] }): Promise<unknown>;
  end(): Promise<void>;
}

/** One thing the load generator drives. */
interface Target {
  label: string;
  op: Operation;
  /** A server process whose CPU per append is sampled during each run. */
  pid?: number;
  /** The engine's write counters, read before and after each run (write_path.ts). */
  writeStats?: () => Promise<WriteStats>;
}

// --- targets -------------------------------------------------------------------

function restTarget(
  server: DbxServer,
  aggregateId: (worker: number) => string,
  label = "REST",
): Target {
  const urls = Array.from(
    { length: WORKERS },
    (_, w) => `${server.baseUrl}/v1/aggregates/${AGGREGATE_TYPE}/${aggregateId(w)}/events`,
  );
  const headers = {
    authorization: `Bearer ${server.token}`,
    "content-type": "application/json",
  };
  return {
    label,
    pid: server.pid,
    writeStats: () => serverWriteStats(server.baseUrl, server.token),
    op: async (worker) => {
      const response = await fetch(urls[worker], {
        method: "POST",
        headers,
        body: JSON.stringify({ event_type: EVENT_TYPE, payload: PAYLOAD }),
      });
      // Reading the body to the end returns the connection to the keep-alive pool.
      const text = await response.text();
      if (response.status !== 201) {
        throw new Error(`REST append answered ${response.status}: ${text.slice(0, 300)}`);
      }
    },
  };
}

interface PostgresTarget extends Target {
  settings: Record<string, string>;
  close(): Promise<void>;
}

async function postgresTarget(server: PostgresServer): Promise<PostgresTarget> {
  const clients: PgClient[] = [];
  const close = async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
  };
  try {
    for (let w = 0; w < WORKERS; w++) {
      const client: PgClient = new pg.Client({
        host: server.host,
        port: server.port,
        user: server.user,
        database: server.database,
      });
      await client.connect();
      clients.push(client);
    }
    await clients[0].query(CREATE_TABLE);
    const shown: Record<string, string> = {};
    for (const name of ["fsync", "synchronous_commit", "wal_sync_method", "commit_delay"]) {
      const result = await clients[0].query(`SHOW ${name}`) as { rows: Record<string, string>[] };
      shown[name] = result.rows[0][name];
    }
    if (shown.fsync !== "on" || shown.synchronous_commit !== "on") {
      throw new Error(`PostgreSQL is not durable: ${JSON.stringify(shown)}`);
    }
    const versions = new Array<number>(WORKERS).fill(0);
    return {
      label: "PostgreSQL",
      settings: shown,
      close,
      op: (worker) =>
        clients[worker].query({
          name: "append_event",
          text: INSERT_EVENT,
          values: [
            AGGREGATE_TYPE,
            `w-${worker}`,
            ++versions[worker],
            EVENT_TYPE,
            JSON.stringify(PAYLOAD),
          ],
        }),
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function engineTarget(engine: Engine): Target {
  const inputs: AppendInput[] = Array.from({ length: WORKERS }, (_, w) => ({
    aggregate_type: AGGREGATE_TYPE,
    aggregate_id: `w-${w}`,
    event_type: EVENT_TYPE,
    payload: PAYLOAD,
  }));
  // The server records who appended; so does this, to store the same bytes.
  const options = { issued_by: { group: "bench", user: "bench" } };
  return {
    label: "engine",
    op: (worker) => engine.append(inputs[worker], options),
    writeStats: () => Promise.resolve(engine.writeStats()),
  };
}

// --- CPU per append ---------------------------------------------------------------

/** CPU time (ms) a server process has used: its main (engine) thread, its HTTP workers. */
function serverCpuMs(pid: number): { engine: number; workers: number } {
  const ticksToMs = 10; // USER_HZ is 100 on Linux
  let engine = 0;
  let workers = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ms = (Number(fields[11]) + Number(fields[12])) * ticksToMs;
      if (Number(entry.name) === pid) engine += ms;
      // Deno names a Worker's thread after the worker (`dbx-http-<n>`, cut to "worker-<n>").
      else if (
        /^(worker|dbx-http)/.test(Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/comm`))
      ) {
        workers += ms;
      }
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return { engine, workers };
}

/**
 * A load run, with the engine thread's CPU per append during it (a server's main thread;
 * for the in-process engine, this process's main thread, which also runs the load
 * generator) and the write path, for targets that have an engine.
 */
interface CpuRun {
  result: LoadResult;
  engineUs: number;
  workersUs: number;
  path?: WritePath;
}

async function measuredRun(target: Target, durationMs: number, workers = WORKERS): Promise<CpuRun> {
  const stats = await target.writeStats?.();
  const cpu = () => {
    if (target.pid !== undefined) return serverCpuMs(target.pid);
    const own = threadCpuMs();
    return own ? { engine: own.js, workers: 0 } : { engine: NaN, workers: NaN };
  };
  const before = cpu();
  const result = await runLoad({ workers, durationMs, op: target.op });
  const after = cpu();
  const statsAfter = await target.writeStats?.();
  const engineMs = after.engine - before.engine;
  return {
    result,
    engineUs: (engineMs * 1000) / result.ops,
    workersUs: ((after.workers - before.workers) * 1000) / result.ops,
    path: stats && statsAfter
      ? writePathBetween(stats, statsAfter, result.elapsedMs, engineMs)
      : undefined,
  };
}

/** The write path of several runs together, or undefined when they had none. */
function pathOf(runs: CpuRun[]): WritePath | undefined {
  const paths = runs.flatMap((r) => (r.path ? [r.path] : []));
  return paths.length > 0 ? sumWritePaths(paths) : undefined;
}

function pathDetails(path: WritePath | undefined) {
  return path ? { ...path, ...writePathFigures(path) } : undefined;
}

/** CPU per append of several runs taken together (weighted by appends). */
function cpuOf(runs: CpuRun[]): { engineUs: number; workersUs: number } {
  const ops = runs.reduce((acc, r) => acc + r.result.ops, 0);
  return {
    engineUs: runs.reduce((acc, r) => acc + r.engineUs * r.result.ops, 0) / ops,
    workersUs: runs.reduce((acc, r) => acc + r.workersUs * r.result.ops, 0) / ops,
  };
}

/**
 * The in-process engine driven at a given total rate by 64 callers: one timer tick per
 * millisecond releases the appends due, so the engine sees arrivals (and commit groups) like
 * those REST gives it, at almost no driver cost. Returns the rate reached and this thread's
 * CPU per append (Linux; NaN elsewhere).
 */
async function pacedEngine(
  engine: Engine,
  ratePerSecond: number,
  durationMs: number,
): Promise<{ ratePerSecond: number; cpuUs: number; events: number }> {
  const inputs: AppendInput[] = Array.from({ length: WORKERS }, (_, w) => ({
    aggregate_type: AGGREGATE_TYPE,
    aggregate_id: `paced-${w}`,
    event_type: EVENT_TYPE,
    payload: PAYLOAD,
  }));
  const options = { issued_by: { group: "bench", user: "bench" } };
  const idle: number[] = inputs.map((_, w) => w);
  let released = 0;
  let done = 0;
  let failure: unknown;
  const before = threadCpuMs();
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.floor((elapsed / 1000) * ratePerSecond);
      while (released < due && idle.length > 0 && elapsed < durationMs) {
        const w = idle.pop()!;
        released++;
        engine.append(inputs[w], options).then(() => {
          done++;
          idle.push(w);
        }, (err) => failure ??= err);
      }
      if (failure || (elapsed >= durationMs && idle.length === WORKERS)) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  if (failure) throw failure;
  const seconds = (performance.now() - start) / 1000;
  const after = threadCpuMs();
  const cpuUs = before && after ? ((after.js - before.js) * 1000) / done : NaN;
  return { ratePerSecond: done / seconds, cpuUs, events: done };
}

// --- reporting -----------------------------------------------------------------

/** Microseconds, in the harness's format. */
function us(micros: number): string {
  return fmtMs(micros / 1000);
}

function describe(result: LoadResult): string {
  return `${fmtRate(result.opsPerSecond)}, p50 ${fmtMs(result.p50Ms)} p99 ${fmtMs(result.p99Ms)}`;
}

function numbers(result: LoadResult, rounds: LoadResult[]) {
  return {
    events: result.ops,
    elapsed_ms: result.elapsedMs,
    events_per_s: result.opsPerSecond,
    p50_ms: result.p50Ms,
    p99_ms: result.p99Ms,
    round_events_per_s: rounds.map((r) => r.opsPerSecond),
  };
}

// --- the suite -------------------------------------------------------------------

async function runRest(ctx: BenchContext): Promise<void> {
  const size = sizes(ctx.quick);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    ctx.log("starting the dbx server");
    const server = await startDbxServer({
      dataDir: await ctx.tempDir("rest-server"),
      httpWorkers: "0",
    });
    cleanups.push(() => server.stop());
    ctx.log(`dbx server pid ${server.pid} at ${server.baseUrl}`);

    const engineStorage = await openRocksStorage(storePath(await ctx.tempDir("rest-engine")));
    const engine = await Engine.open({ storage: engineStorage, dek: randomDek() });
    cleanups.push(() => engine.close());

    let postgres: PostgresTarget | undefined;
    let pgServer: PostgresServer | undefined;
    let pgSkipped = "";
    try {
      pgServer = await startPostgres({ log: (m) => ctx.log(m) });
      cleanups.push(() => pgServer!.stop());
      postgres = await postgresTarget(pgServer);
      cleanups.push(() => postgres!.close());
      ctx.log(
        `PostgreSQL settings: ${
          Object.entries(postgres.settings).map(([k, v]) => `${k}=${v}`).join(", ")
        }; client npm:pg@${pgPackage.version}, ${WORKERS} connections`,
      );
    } catch (err) {
      pgSkipped = (err as Error).message.split("\n")[0];
      ctx.log(`PostgreSQL unavailable, target 4a will be SKIPPED: ${pgSkipped}`);
    }

    // --- 64 concurrent clients: REST, PostgreSQL, engine, rotating order ---------------
    const targets: Target[] = [restTarget(server, (w) => `w-${w}`), engineTarget(engine)];
    if (postgres) targets.splice(1, 0, postgres);
    for (const target of targets) {
      const warm = await runLoad({ workers: WORKERS, durationMs: size.warmupMs, op: target.op });
      ctx.log(`warm-up ${target.label} 64c: ${describe(warm)}`);
    }
    const concurrentRuns = new Map<string, CpuRun[]>(targets.map((t) => [t.label, []]));
    for (let r = 0; r < size.rounds; r++) {
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(i + r) % targets.length];
        const run = await measuredRun(target, size.concurrentMs);
        concurrentRuns.get(target.label)!.push(run);
        const cpu = target.pid !== undefined
          ? `, engine thread ${us(run.engineUs)} per append`
          : "";
        const path = run.path ? `; ${fmtWritePath(run.path)}` : "";
        ctx.log(`round ${r + 1} ${target.label} 64c: ${describe(run.result)}${cpu}${path}`);
      }
    }
    const concurrent = new Map<string, LoadResult[]>(
      [...concurrentRuns].map(([label, runs]) => [label, runs.map((r) => r.result)]),
    );
    const restPath = pathOf(concurrentRuns.get("REST")!);
    const enginePath = pathOf(concurrentRuns.get("engine")!);
    const total = (label: string) => combine(concurrent.get(label)!);
    const rest = total("REST");
    const inProcess = total("engine");

    if (postgres && pgServer) {
      const pgTotal = total("PostgreSQL");
      ctx.record({
        id: "4a",
        title: "REST 64c vs PostgreSQL 64c",
        measured: describe(rest),
        baseline: describe(pgTotal),
        ratio: rest.opsPerSecond / pgTotal.opsPerSecond,
        comparison: ">=",
        threshold: 1.2,
        write_path: restPath && fmtWritePath(restPath),
        details: {
          rest_write_path: pathDetails(restPath),
          workers: WORKERS,
          rounds: size.rounds,
          round_ms: size.concurrentMs,
          rest: numbers(rest, concurrent.get("REST")!),
          postgres: numbers(pgTotal, concurrent.get("PostgreSQL")!),
          postgres_version: pgServer.version,
          postgres_settings: postgres.settings,
          pg_client: `npm:pg@${pgPackage.version}`,
        },
      });
    } else {
      ctx.record({
        id: "4a",
        title: "REST 64c vs PostgreSQL 64c — SKIPPED (PostgreSQL unavailable)",
        measured: describe(rest),
        baseline: `skipped: ${pgSkipped}`.slice(0, 80),
        ratio: NaN,
        comparison: ">=",
        threshold: 1.2,
        informational: true,
        details: { skipped: true, reason: pgSkipped, rest: numbers(rest, concurrent.get("REST")!) },
      });
    }
    ctx.record({
      id: "4b",
      title: "REST 64c vs engine in-process 64c",
      measured: describe(rest),
      baseline: describe(inProcess),
      ratio: rest.opsPerSecond / inProcess.opsPerSecond,
      comparison: ">=",
      threshold: 0.5,
      write_path: restPath && fmtWritePath(restPath),
      details: {
        rest_write_path: pathDetails(restPath),
        engine_write_path: pathDetails(enginePath),
        workers: WORKERS,
        rounds: size.rounds,
        round_ms: size.concurrentMs,
        rest: numbers(rest, concurrent.get("REST")!),
        engine: numbers(inProcess, concurrent.get("engine")!),
      },
    });
    // PostgreSQL is done: free its CPU and memory before the latency-sensitive part.
    await postgres?.close();
    await pgServer?.stop();

    // --- the REST path's own CPU per append, and the engine thread's with workers -------
    // The engine's own cost depends on how appends arrive (commit groups): the baseline is
    // the in-process engine fed at the rate REST reached, by 64 callers, with the same payload.
    // Measured in pairs, each REST round followed at once by the engine paced at the rate that
    // round reached: this machine's speed drifts, the pairs drift together.
    const pairs: { rest: CpuRun; paced: Awaited<ReturnType<typeof pacedEngine>> }[] = [];
    const restTargetIn = targets.find((t) => t.label === "REST")!;
    for (let r = 0; r < size.rounds; r++) {
      const restRun = await measuredRun(restTargetIn, size.concurrentMs);
      const paced = await pacedEngine(engine, restRun.result.opsPerSecond, size.concurrentMs);
      pairs.push({ rest: restRun, paced });
      ctx.log(
        `pair ${r + 1}: REST ${fmtRate(restRun.result.opsPerSecond)}, engine thread ${
          us(restRun.engineUs)
        } per append; engine paced at that rate ${fmtRate(paced.ratePerSecond)}, ${
          us(paced.cpuUs)
        } per append -> ${us(restRun.engineUs - paced.cpuUs)} beyond`,
      );
    }
    const pairRest = cpuOf(pairs.map((p) => p.rest)).engineUs;
    const pacedEvents = pairs.reduce((acc, p) => acc + p.paced.events, 0);
    const pacedUs = pairs.reduce((acc, p) => acc + p.paced.cpuUs * p.paced.events, 0) / pacedEvents;
    const pairRate = combine(pairs.map((p) => p.rest.result)).opsPerSecond;
    ctx.record({
      id: "4d",
      title: "REST JS per append beyond the engine's own (µs; ratio column = µs)",
      measured: `REST engine thread ${us(pairRest)}`,
      baseline: `engine paced ${us(pacedUs)}`,
      ratio: pairRest - pacedUs,
      comparison: "<=",
      threshold: 50,
      details: {
        rest_engine_thread_us_per_append: pairRest,
        engine_paced_us_per_append: pacedUs,
        pairs: pairs.map((p) => ({
          rest_events_per_s: p.rest.result.opsPerSecond,
          rest_engine_thread_us: p.rest.engineUs,
          paced_events_per_s: p.paced.ratePerSecond,
          paced_us: p.paced.cpuUs,
        })),
      },
    });

    ctx.log("starting a second dbx server with [server] http_workers = 2");
    const workersServer = await startDbxServer({
      dataDir: await ctx.tempDir("rest-workers"),
      httpWorkers: "2",
    });
    cleanups.push(() => workersServer.stop());
    const workersTarget = restTarget(workersServer, (w) => `w-${w}`, "REST (2 workers)");
    await runLoad({ workers: WORKERS, durationMs: size.warmupMs, op: workersTarget.op });
    const workersCpu: CpuRun[] = [];
    for (let r = 0; r < size.rounds; r++) {
      const run = await measuredRun(workersTarget, size.concurrentMs);
      workersCpu.push(run);
      ctx.log(
        `round ${r + 1} REST (2 workers) 64c: ${describe(run.result)}, engine thread ${
          us(run.engineUs)
        }, workers ${us(run.workersUs)} per append`,
      );
    }
    await workersServer.stop();
    const withWorkers = combine(workersCpu.map((r) => r.result));
    const workersPerAppend = cpuOf(workersCpu);
    ctx.record({
      id: "4e",
      title: "engine thread CPU per REST append: 2 HTTP workers vs in-thread",
      measured: `${us(workersPerAppend.engineUs)} (+${
        us(workersPerAppend.workersUs)
      } in workers), ${fmtRate(withWorkers.opsPerSecond)}`,
      baseline: `${us(pairRest)}, ${fmtRate(pairRate)}`,
      ratio: workersPerAppend.engineUs / pairRest,
      comparison: "<=",
      threshold: 1,
      informational: true,
      write_path: pathOf(workersCpu) && fmtWritePath(pathOf(workersCpu)!),
      details: {
        workers_write_path: pathDetails(pathOf(workersCpu)),
        in_thread: { engine_thread_us_per_append: pairRest, events_per_s: pairRate },
        workers: {
          http_workers: 2,
          engine_thread_us_per_append: workersPerAppend.engineUs,
          worker_threads_us_per_append: workersPerAppend.workersUs,
          events_per_s: withWorkers.opsPerSecond,
        },
      },
    });

    // --- one sequential client: REST vs raw synced put -----------------------------
    const sample = await engineStorage.get(eventKey(AGGREGATE_TYPE, "w-0", 1));
    if (!sample) throw new Error("the in-process engine stored no event to copy");
    const value = Uint8Array.from(sample);
    const storage = await openRocksStorage(storePath(await ctx.tempDir("rest-raw")));
    cleanups.push(() => storage.close());
    let seq = 0;
    const raw: Target = {
      label: "raw",
      op: () =>
        storage.write([
          { type: "put", key: eventKey(AGGREGATE_TYPE, "raw", ++seq), value },
        ], { sync: true }),
    };
    const sequentialRest = restTarget(server, () => "seq-1");
    const pair = [sequentialRest, raw];
    for (const target of pair) {
      await runLoad({ workers: 1, durationMs: size.warmupMs / 2, op: target.op });
    }
    const sequential = new Map<string, LoadResult[]>(pair.map((t) => [t.label, []]));
    const sequentialRuns: CpuRun[] = [];
    for (let r = 0; r < size.rounds * 2; r++) {
      for (const target of r % 2 === 0 ? pair : [...pair].reverse()) {
        const run = await measuredRun(target, size.sequentialMs, 1);
        if (target === sequentialRest) sequentialRuns.push(run);
        sequential.get(target.label)!.push(run.result);
        ctx.log(`round ${r + 1} ${target.label} sequential: ${describe(run.result)}`);
      }
    }
    const restSeq = combine(sequential.get("REST")!);
    const rawSeq = combine(sequential.get("raw")!);
    const sequentialPath = pathOf(sequentialRuns);
    ctx.record({
      id: "4c",
      title: "REST sequential vs raw synced put",
      measured: describe(restSeq),
      baseline: describe(rawSeq),
      ratio: restSeq.opsPerSecond / rawSeq.opsPerSecond,
      comparison: ">=",
      threshold: 0.8,
      write_path: sequentialPath && fmtWritePath(sequentialPath),
      details: {
        rest_write_path: pathDetails(sequentialPath),
        rounds: size.rounds * 2,
        round_ms: size.sequentialMs,
        value_bytes: value.length,
        rest: numbers(restSeq, sequential.get("REST")!),
        raw: numbers(rawSeq, sequential.get("raw")!),
      },
    });
    ctx.record({
      id: "4s",
      title: "REST sequential p50 minus raw synced put p50 (µs; ratio column = µs)",
      measured: `REST p50 ${fmtMs(restSeq.p50Ms)}`,
      baseline: `raw put p50 ${fmtMs(rawSeq.p50Ms)}`,
      ratio: (restSeq.p50Ms - rawSeq.p50Ms) * 1000,
      comparison: "<=",
      threshold: 400,
      write_path: sequentialPath && fmtWritePath(sequentialPath),
      details: { rest_p50_ms: restSeq.p50Ms, raw_p50_ms: rawSeq.p50Ms },
    });
    ctx.log(
      `ratios: 4b ${fmtRatio(rest.opsPerSecond / inProcess.opsPerSecond)}, 4c ${
        fmtRatio(restSeq.opsPerSecond / rawSeq.opsPerSecond)
      }`,
    );
  } finally {
    await runCleanups(ctx, cleanups);
  }
}

/** Register in main.ts with `...restSuites` in SUITES. */
export const restSuites: Suite[] = [
  {
    name: "rest",
    description:
      "4a–4e: REST appends (64c) vs PostgreSQL 15 and the in-process engine; REST's JS per " +
      "append; HTTP workers; sequential vs raw put",
    run: runRest,
  },
];
