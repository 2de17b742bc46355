/**
 * gRPC on the shared port against REST, side by side in one run (issue 13's measures):
 *
 * 13s REST throughput (64 clients) with gRPC sharing the port, within 10% of REST alone
 *   (ratio ≥ 0.90). "REST alone" is a server serving REST only (`[api] grpc = false`, so its
 *   gate has no HTTP/2 route and no gRPC worker runs); "with gRPC" is a second server with
 *   REST and gRPC on its one port while a gRPC client (@grpc/grpc-js) is connected to that
 *   port and keeps a light load on it: 20 unary calls a second (Health and GetAggregate,
 *   alternately).
 * 13r gRPC AppendEvent with 64 concurrent calls, at least 80% of REST's rate with 64 clients
 *   (ratio ≥ 0.80), both on the REST + gRPC server (its REST rounds are those of 13s).
 * 13j (informational) the same AppendEvent load made through @grpc/grpc-js.
 *
 * The servers are real `dbx start --foreground` subprocesses (dbx_server.ts; `[api]` set
 * in config.toml, GraphQL off on both). REST load: the shared load generator (load.ts) in
 * this process, 64 workers POSTing `{"event_type","payload"}` to
 * `/v1/aggregates/bench/r-<n>/events` over keep-alive connections (Deno's fetch: HTTP in
 * Rust, about 55 µs of client CPU per append here). gRPC load: a separate Node process
 * (grpc_load.cjs, started and connected before any timing), 64 workers each awaiting one
 * AppendEvent after another on one HTTP/2 connection, the same payload as JSON text in
 * `payload_json`, the messages encoded and decoded from proto/api.proto by
 * @grpc/proto-loader. For 13r the calls go through Node's own HTTP/2 client in gRPC's wire
 * format (length-prefixed message, `te: trailers`, the status from the trailers): grpc-js's
 * per-call machinery costs about twice the CPU of that (≈ 140 µs against ≈ 75 µs per call
 * here), and on a small machine the load generator's CPU is CPU the server does not get, so
 * the lean client keeps the generator from setting the rate, as fetch does for REST. 13j
 * keeps the off-the-shelf client's figure beside it. Every round logs the load generator's
 * CPU (per call and percent of one core) and the server's CPU per append by thread (engine,
 * gRPC worker, the other workers such as the gate, and the rest).
 *
 * Method: every side is warmed up first, then R rounds of a fixed duration, the order of
 * the four sides rotating every round (each takes each slot once when R = 4); rates are
 * total appends over total time per side, p50/p99 pool every call's latency.
 *
 * Standalone: `deno run -A scripts/bench/grpc_bench.ts [--quick] [--channels N]
 * [--http-workers N|auto]`. For the bench runner it exports `grpcSuites` (targets "13s",
 * "13r", "13j").
 */
import { PAYLOAD } from "./engine_bench.ts";
import {
  type BenchContext,
  fmtMs,
  fmtRate,
  fmtRatio,
  here,
  type Suite,
  threadCpuMs,
} from "./harness.ts";
import {
  cpuSince,
  type DbxServer,
  grpcWorkerThread,
  type ServerCpu,
  serverCpuMs,
  startDbxServer,
} from "./dbx_server.ts";
import { combine, type LoadResult, type Operation, runLoad } from "./load.ts";

const WORKERS = 64;
const SHARED_THRESHOLD = 0.9;
const GRPC_THRESHOLD = 0.8;
/** Unary calls a second of the light gRPC load during the "REST with gRPC" rounds. */
const LIGHT_CALLS_PER_SECOND = 20;
const LOAD_CLIENT = here("./grpc_load.cjs");
const PAYLOAD_JSON = JSON.stringify(PAYLOAD);

function sizes(quick: boolean) {
  return quick
    ? { rounds: 3, roundMs: 700, warmupMs: 400 }
    : { rounds: 4, roundMs: 2500, warmupMs: 1500 };
}

// --- the Node gRPC load generator --------------------------------------------------

/** Which client of grpc_load.cjs makes the calls. */
type GrpcClientKind = "http2" | "grpc-js";

interface NodeLoad {
  ops: number;
  elapsedMs: number;
  latenciesMs: number[];
  cpuMs: number;
}

/** The grpc_load.cjs process: one command at a time, one JSON answer each. */
class GrpcLoadClient {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  #stderr = { text: "" };

  constructor() {
    this.#child = new Deno.Command("node", {
      args: [LOAD_CLIENT],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NODE_NO_WARNINGS: "1" },
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = lines(this.#child.stdout)[Symbol.asyncIterator]();
    const tail = this.#stderr;
    this.#child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          tail.text = (tail.text + chunk).slice(-4000);
        },
      }),
    ).catch(() => {});
  }

  /** Send one command and wait for its answer; an `error` answer throws. */
  async send<T>(command: Record<string, unknown>): Promise<T> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
    const next = await this.#lines.next();
    if (next.done) throw new Error(`the gRPC load client exited: ${this.#stderr.text.trim()}`);
    const answer = JSON.parse(next.value);
    if (answer.error) throw new Error(`the gRPC load client: ${answer.error}`);
    return answer as T;
  }

  /** 64 concurrent AppendEvent calls for `durationMs`, as a LoadResult, and the client CPU. */
  async load(
    durationMs: number,
    prefix: string,
    client: GrpcClientKind,
  ): Promise<{ result: LoadResult; cpuMs: number }> {
    const run = await this.send<NodeLoad>({
      cmd: "load",
      workers: WORKERS,
      durationMs,
      prefix,
      payloadJson: PAYLOAD_JSON,
      client,
    });
    // Summarised by load.ts's own arithmetic, like the REST side.
    const result = combine([{
      workers: WORKERS,
      ops: run.ops,
      elapsedMs: run.elapsedMs,
      opsPerSecond: 0,
      latenciesMs: run.latenciesMs,
      p50Ms: 0,
      p99Ms: 0,
    }]);
    return { result, cpuMs: run.cpuMs };
  }

  async close(): Promise<void> {
    try {
      await this.#writer.write(new TextEncoder().encode('{"cmd":"quit"}\n'));
      await this.#writer.close();
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.#child.status;
    clearTimeout(timer);
  }
}

/** A byte stream as its lines. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let at: number;
    while ((at = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
    }
  }
}

// --- the sides ---------------------------------------------------------------------

function restOp(server: DbxServer, prefix: string): Operation {
  const urls = Array.from(
    { length: WORKERS },
    (_, w) => `${server.baseUrl}/v1/aggregates/bench/${prefix}-${w}/events`,
  );
  const headers = { authorization: `Bearer ${server.token}`, "content-type": "application/json" };
  return async (worker) => {
    const response = await fetch(urls[worker], {
      method: "POST",
      headers,
      body: JSON.stringify({ event_type: "updated", payload: PAYLOAD }),
    });
    // Reading the body to the end returns the connection to the keep-alive pool.
    const text = await response.text();
    if (response.status !== 201) throw new Error(`REST answered ${response.status}: ${text}`);
  };
}

/** One timed run of a side: what the load generator saw and the CPU it cost. */
interface SideRun {
  result: LoadResult;
  /** The server's CPU time during the run, by thread kind. */
  server: ServerCpu;
  /** The load generator's CPU time during the run. */
  clientCpuMs: number;
}

interface Side {
  label: string;
  run(durationMs: number): Promise<SideRun>;
}

/** A server under load, and how to read its CPU time by thread kind. */
interface Measured {
  server: DbxServer;
  cpu(): ServerCpu;
}

function measured(server: DbxServer, grpcTid?: number): Measured {
  return { server, cpu: () => serverCpuMs(server.pid, grpcTid) };
}

function restSide(label: string, { server, cpu }: Measured, prefix: string): Side {
  const op = restOp(server, prefix);
  return {
    label,
    async run(durationMs) {
      const before = cpu();
      const mine = threadCpuMs();
      const result = await runLoad({ workers: WORKERS, durationMs, op });
      const mineAfter = threadCpuMs();
      return {
        result,
        server: cpuSince(before, cpu()),
        clientCpuMs: mine && mineAfter
          ? mineAfter.js + mineAfter.other - mine.js - mine.other
          : NaN,
      };
    },
  };
}

function grpcSide(
  label: string,
  { cpu }: Measured,
  client: GrpcLoadClient,
  kind: GrpcClientKind,
): Side {
  const prefix = kind === "http2" ? "g" : "j";
  return {
    label,
    async run(durationMs) {
      const before = cpu();
      const { result, cpuMs } = await client.load(durationMs, prefix, kind);
      return { result, server: cpuSince(before, cpu()), clientCpuMs: cpuMs };
    },
  };
}

/** A side that keeps the light gRPC load on while it runs. */
function withLightLoad(side: Side, client: GrpcLoadClient, calls: { made: number }): Side {
  return {
    ...side,
    async run(durationMs) {
      await client.send({ cmd: "light", perSecond: LIGHT_CALLS_PER_SECOND });
      // The light load stops before the run's own failure (if any) is passed on.
      const run = await side.run(durationMs).catch((err: unknown) => err as Error);
      const light = await client.send<{ calls: number; failed: number }>({
        cmd: "light",
        perSecond: 0,
      });
      if (run instanceof Error) throw run;
      if (light.failed > 0) throw new Error(`${light.failed} light gRPC calls failed`);
      calls.made += light.calls;
      return run;
    },
  };
}

// --- reporting -----------------------------------------------------------------------

function us(micros: number): string {
  return fmtMs(micros / 1000);
}

function describe(result: LoadResult): string {
  return `${fmtRate(result.opsPerSecond)} (p50 ${fmtMs(result.p50Ms)}, p99 ${fmtMs(result.p99Ms)})`;
}

/** CPU per append of several runs taken together. */
function perAppend(runs: SideRun[]) {
  const ops = runs.reduce((acc, r) => acc + r.result.ops, 0);
  const total = (pick: (r: SideRun) => number) =>
    (runs.reduce((acc, r) => acc + pick(r), 0) * 1000) / ops;
  const elapsedMs = runs.reduce((acc, r) => acc + r.result.elapsedMs, 0);
  return {
    server_engine_us: total((r) => r.server.engine),
    server_grpc_worker_us: total((r) => r.server.grpc),
    server_other_workers_us: total((r) => r.server.workers),
    server_other_us: total((r) => r.server.other),
    client_us: total((r) => r.clientCpuMs),
    /** The load generator's CPU use, in percent of one core. */
    client_core_percent: (runs.reduce((acc, r) => acc + r.clientCpuMs, 0) / elapsedMs) * 100,
  };
}

function cpuLine(run: SideRun): string {
  const cpu = perAppend([run]);
  return `server per append: engine ${us(cpu.server_engine_us)}, gRPC worker ${
    us(cpu.server_grpc_worker_us)
  }, other workers ${us(cpu.server_other_workers_us)}, rest ${
    us(cpu.server_other_us)
  }; load generator ${us(cpu.client_us)} per append (${
    cpu.client_core_percent.toFixed(0)
  }% of a core)`;
}

// --- the measurement -------------------------------------------------------------------

export interface GrpcBenchResult {
  restAlone: LoadResult;
  restShared: LoadResult;
  /** Through the lean HTTP/2 client. */
  grpc: LoadResult;
  /** Through @grpc/grpc-js. */
  grpcJs: LoadResult;
  /** restShared / restAlone (13s). */
  sharedRatio: number;
  /** grpc / restShared (13r). */
  grpcRatio: number;
  /** grpcJs / restShared (13j, informational). */
  grpcJsRatio: number;
  lightCalls: number;
  cpu: Record<string, ReturnType<typeof perAppend>>;
}

/** Start both servers and the gRPC client, measure, stop everything. */
export async function measureGrpc(options: {
  dataDirs: [string, string];
  quick: boolean;
  channels?: number;
  httpWorkers?: string;
  log?: (line: string) => void;
}): Promise<GrpcBenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const size = sizes(options.quick);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const alone = await startDbxServer({
      dataDir: options.dataDirs[0],
      httpWorkers: options.httpWorkers,
      surfaces: { rest: true, graphql: false, grpc: false },
    });
    cleanups.push(() => alone.stop());
    const shared = await startDbxServer({
      dataDir: options.dataDirs[1],
      httpWorkers: options.httpWorkers,
      surfaces: { rest: true, graphql: false, grpc: true },
    });
    cleanups.push(() => shared.stop());
    log(
      `REST alone: pid ${alone.pid} at ${alone.baseUrl}; REST + gRPC: pid ${shared.pid} at ${shared.baseUrl}`,
    );
    const client = new GrpcLoadClient();
    cleanups.push(() => client.close());
    // The token goes on stdin: a command line is visible to every local user.
    await client.send({
      cmd: "connect",
      target: shared.target,
      token: shared.token,
      channels: options.channels ?? 1,
    });
    // Connected (and the proto loaded) before anything is timed.
    await client.send({ cmd: "light", perSecond: LIGHT_CALLS_PER_SECOND });
    await client.send({ cmd: "light", perSecond: 0 });

    const lightCalls = { made: 0 };
    const aloneCpu = measured(alone);
    const sharedCpu = measured(shared, grpcWorkerThread(shared.pid));
    const sides: Side[] = [
      restSide("REST alone", aloneCpu, "r"),
      withLightLoad(restSide("REST with gRPC", sharedCpu, "r"), client, lightCalls),
      grpcSide("gRPC", sharedCpu, client, "http2"),
      grpcSide("gRPC (grpc-js)", sharedCpu, client, "grpc-js"),
    ];
    for (const side of sides) {
      const warm = await side.run(size.warmupMs);
      log(`warm-up ${side.label} 64c: ${describe(warm.result)}`);
    }
    lightCalls.made = 0;
    const runs = new Map<string, SideRun[]>(sides.map((s) => [s.label, []]));
    for (let r = 0; r < size.rounds; r++) {
      for (let i = 0; i < sides.length; i++) {
        const side = sides[(i + r) % sides.length];
        const run = await side.run(size.roundMs);
        runs.get(side.label)!.push(run);
        log(`round ${r + 1} ${side.label} 64c: ${describe(run.result)}; ${cpuLine(run)}`);
      }
    }
    const total = (label: string) => combine(runs.get(label)!.map((r) => r.result));
    const restAlone = total("REST alone");
    const restShared = total("REST with gRPC");
    const grpc = total("gRPC");
    const grpcJs = total("gRPC (grpc-js)");
    return {
      restAlone,
      restShared,
      grpc,
      grpcJs,
      sharedRatio: restShared.opsPerSecond / restAlone.opsPerSecond,
      grpcRatio: grpc.opsPerSecond / restShared.opsPerSecond,
      grpcJsRatio: grpcJs.opsPerSecond / restShared.opsPerSecond,
      lightCalls: lightCalls.made,
      cpu: Object.fromEntries([...runs].map(([label, list]) => [label, perAppend(list)])),
    };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        log(`warning: cleanup failed: ${(err as Error).message}`);
      }
    }
  }
}

/** For the bench runner: register with `...grpcSuites` in SUITES (main.ts). */
export const grpcSuites: Suite[] = [
  {
    name: "grpc",
    description: "13s, 13r, 13j: REST (64c) with gRPC sharing the port vs REST alone; gRPC " +
      "AppendEvent (64 calls; lean HTTP/2 client, and @grpc/grpc-js) vs REST",
    async run(ctx: BenchContext) {
      const result = await measureGrpc({
        dataDirs: [await ctx.tempDir("grpc-rest-alone"), await ctx.tempDir("grpc-shared")],
        quick: ctx.quick,
        log: (line) => ctx.log(line),
      });
      const details = {
        workers: WORKERS,
        light_grpc_calls_per_s: LIGHT_CALLS_PER_SECOND,
        light_grpc_calls_made: result.lightCalls,
        rest_alone_events_per_s: result.restAlone.opsPerSecond,
        rest_with_grpc_events_per_s: result.restShared.opsPerSecond,
        grpc_events_per_s: result.grpc.opsPerSecond,
        grpc_js_events_per_s: result.grpcJs.opsPerSecond,
        cpu_per_append: result.cpu,
      };
      ctx.record({
        id: "13s",
        title: "REST 64c with gRPC sharing the port vs REST alone",
        measured: describe(result.restShared),
        baseline: describe(result.restAlone),
        ratio: result.sharedRatio,
        comparison: ">=",
        threshold: SHARED_THRESHOLD,
        details,
      });
      ctx.record({
        id: "13r",
        title: "gRPC AppendEvent 64 calls vs REST POST 64c",
        measured: describe(result.grpc),
        baseline: describe(result.restShared),
        ratio: result.grpcRatio,
        comparison: ">=",
        threshold: GRPC_THRESHOLD,
        details,
      });
      ctx.record({
        id: "13j",
        title: "gRPC AppendEvent 64 calls through @grpc/grpc-js vs REST POST 64c",
        measured: describe(result.grpcJs),
        baseline: describe(result.restShared),
        ratio: result.grpcJsRatio,
        comparison: ">=",
        threshold: GRPC_THRESHOLD,
        informational: true,
        details,
      });
    },
  },
];

if (import.meta.main) {
  const args = Deno.args;
  const flag = (name: string) => {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const dirs: [string, string] = [
    await Deno.makeTempDir({ prefix: "dbx-bench-grpc-alone-" }),
    await Deno.makeTempDir({ prefix: "dbx-bench-grpc-shared-" }),
  ];
  try {
    const channels = Number(flag("--channels") ?? 1);
    if (!Number.isInteger(channels) || channels < 1) throw new Error("--channels must be ≥ 1");
    const result = await measureGrpc({
      dataDirs: dirs,
      quick: args.includes("--quick"),
      channels,
      httpWorkers: flag("--http-workers"),
    });
    const verdict = (ratio: number, threshold: number) =>
      `${fmtRatio(ratio)} (target >= ${threshold}: ${ratio >= threshold ? "PASS" : "FAIL"})`;
    console.log(`REST alone        64c: ${describe(result.restAlone)}`);
    console.log(
      `REST with gRPC    64c: ${
        describe(result.restShared)
      } (${result.lightCalls} light gRPC calls)`,
    );
    console.log(
      `gRPC AppendEvent  64c: ${describe(result.grpc)} (HTTP/2 client, ${channels} connection(s))`,
    );
    console.log(`gRPC via grpc-js  64c: ${describe(result.grpcJs)} (${channels} channel(s))`);
    console.log(
      `13s ratio REST with gRPC / REST alone: ${verdict(result.sharedRatio, SHARED_THRESHOLD)}`,
    );
    console.log(`13r ratio gRPC / REST: ${verdict(result.grpcRatio, GRPC_THRESHOLD)}`);
    console.log(
      `13j ratio gRPC via grpc-js / REST (informational): ${fmtRatio(result.grpcJsRatio)}`,
    );
  } finally {
    for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
