/**
 * The control socket with the official client (`eventdbxjs-linux-x64-gnu@1.4.5`, unmodified)
 * against REST on the same server, side by side in one run (issue 14's measures):
 *
 * - 14a: one connection appending sequentially over the socket ≥ 80% of one REST client's
 *   sequential rate;
 * - 14b: 64 connections appending concurrently ≥ the REST rate at 64 clients.
 *
 * One real `dbx start --foreground` server (fresh data dir, a DEK from `dbx config`, a
 * token from `dbx token generate`, Noise on the socket as clients use it by default),
 * driven by the shared load generator (load.ts). Socket workers `apply` to their own
 * aggregate (created first with `create`); REST workers POST to
 * `/v1/aggregates/bench/r-<n>/events`. Same payload (engine_bench.ts PAYLOAD) both ways.
 * After a warm-up of each, R rounds alternate the order; rates are total events over total
 * time per side. Every append is durable (WAL synced) on both sides.
 *
 * Loopback and delayed ACK: the official client writes each frame's length and body in two
 * writes with Nagle on, so on the host's loopback every request waits ~40 ms for a delayed
 * ACK whatever the server does. This script therefore re-runs itself in a private network
 * namespace (`unshare -n`, loopback up, `quickack 1` on the local route); nothing on the
 * host changes. Without root (or with `--no-netns`) it measures on the host's loopback and
 * says so.
 *
 * Standalone: `deno run -A scripts/bench/socket_append.ts [--quick] [--no-netns]`. For the
 * bench runner it also exports `socketSuites` (targets "14a" and "14b"); register it in
 * scripts/bench/main.ts with `...socketSuites` (the runner then needs root for the
 * namespace, or runs it on the host loopback).
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { PAYLOAD } from "./engine_bench.ts";
import { type BenchContext, DENO_CONFIG, fmtMs, fmtRate, fmtRatio, type Suite } from "./harness.ts";
import { combine, type LoadResult, type Operation, runLoad } from "./load.ts";
import { type DbxServer, startDbxServer } from "./dbx_server.ts";

const WORKERS = 64;
const SEQUENTIAL_THRESHOLD = 0.8;
const CONCURRENT_THRESHOLD = 1.0;
const ADDON = fileURLToPath(
  new URL(
    "../../node_modules/eventdbxjs-linux-x64-gnu/eventdbx.linux-x64-gnu.node",
    import.meta.url,
  ),
);
/** Set in the re-run inside the private network namespace. */
const NETNS_MARK = "DBX_BENCH_IN_NETNS";

function sizes(quick: boolean) {
  return quick
    ? { rounds: 2, roundMs: 800, warmupMs: 400 }
    : { rounds: 4, roundMs: 2500, warmupMs: 1500 };
}

type Server = DbxServer & { socketPort: number };

/** The real server, REST alone on the HTTP port (the socket has its own). */
async function startServer(dataDir: string): Promise<Server> {
  const server = await startDbxServer({
    dataDir,
    surfaces: { rest: true, graphql: false, grpc: false },
  });
  if (server.socketPort === undefined) {
    await server.stop();
    throw new Error("the server's PID file names no control socket");
  }
  return { ...server, socketPort: server.socketPort };
}

function restOp(server: Server): Operation {
  const urls = Array.from(
    { length: WORKERS },
    (_, w) => `${server.baseUrl}/v1/aggregates/bench/r-${w}/events`,
  );
  const headers = { authorization: `Bearer ${server.token}`, "content-type": "application/json" };
  const body = JSON.stringify({ event_type: "updated", payload: PAYLOAD });
  return async (worker) => {
    const response = await fetch(urls[worker], { method: "POST", headers, body });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`REST answered ${response.status}: ${text}`);
  };
}

// deno-lint-ignore no-explicit-any
type JsClient = any;

/** One official client per worker, each on its own connection, each with its aggregate. */
async function socketClients(server: Server, count: number): Promise<JsClient[]> {
  const { createClient } = createRequire(import.meta.url)(ADDON);
  const clients: JsClient[] = [];
  for (let w = 0; w < count; w++) {
    const client = createClient({
      ip: "127.0.0.1",
      port: server.socketPort,
      token: server.token,
      verbose: true,
    });
    await client.connect();
    await client.create("bench", `s-${w}`, "created", { payload: PAYLOAD });
    clients.push(client);
  }
  return clients;
}

function socketOp(clients: JsClient[]): Operation {
  return async (worker) => {
    const event = await clients[worker].apply("bench", `s-${worker}`, "updated", {
      payload: PAYLOAD,
    });
    if (typeof event?.version !== "number") throw new Error("the client returned no event");
  };
}

function describe(result: LoadResult): string {
  return `${fmtRate(result.opsPerSecond)} (p50 ${fmtMs(result.p50Ms)}, p99 ${fmtMs(result.p99Ms)})`;
}

export interface SocketBenchResult {
  netns: boolean;
  sequential: { rest: LoadResult; socket: LoadResult; ratio: number };
  concurrent: { rest: LoadResult; socket: LoadResult; ratio: number };
}

async function measurePair(
  workers: number,
  targets: [string, Operation][],
  size: ReturnType<typeof sizes>,
  log: (line: string) => void,
): Promise<{ rest: LoadResult; socket: LoadResult; ratio: number }> {
  for (const [, op] of targets) await runLoad({ workers, durationMs: size.warmupMs, op });
  const runs = new Map<string, LoadResult[]>(targets.map(([label]) => [label, []]));
  for (let r = 0; r < size.rounds; r++) {
    for (const [label, op] of r % 2 === 0 ? targets : [...targets].reverse()) {
      const result = await runLoad({ workers, durationMs: size.roundMs, op });
      runs.get(label)!.push(result);
      log(`round ${r + 1} ${label} ${workers}c: ${describe(result)}`);
    }
  }
  const rest = combine(runs.get("REST")!);
  const socket = combine(runs.get("socket")!);
  return { rest, socket, ratio: socket.opsPerSecond / rest.opsPerSecond };
}

/** Measure both targets on one server (in whatever network namespace this process is). */
export async function measureSocketAppend(options: {
  dataDir: string;
  quick: boolean;
  log?: (line: string) => void;
}): Promise<SocketBenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const size = sizes(options.quick);
  const server = await startServer(options.dataDir);
  let clients: JsClient[] = [];
  try {
    clients = await socketClients(server, WORKERS);
    const rest = restOp(server);
    const socket = socketOp(clients);
    const sequential = await measurePair(1, [["REST", rest], ["socket", socket]], size, log);
    const concurrent = await measurePair(WORKERS, [["REST", rest], ["socket", socket]], size, log);
    return { netns: Deno.env.get(NETNS_MARK) === "1", sequential, concurrent };
  } finally {
    await Promise.all(clients.map((c) => c.disconnect().catch(() => {})));
    await server.stop();
  }
}

/**
 * Run this script again inside a private network namespace (root only): `unshare -n`,
 * loopback up, and the local route with `quickack 1`. Its JSON result comes back on stdout.
 */
async function inNamespace(quick: boolean): Promise<SocketBenchResult | undefined> {
  const script = fileURLToPath(import.meta.url);
  const inner = [
    "ip link set lo up",
    "ip route change local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 quickack 1",
    `exec ${JSON.stringify(Deno.execPath())} run -A --config ${JSON.stringify(DENO_CONFIG)} ` +
    `${JSON.stringify(script)} --json${quick ? " --quick" : ""}`,
  ].join(" && ");
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("unshare", {
      args: ["-n", "bash", "-c", inner],
      env: { [NETNS_MARK]: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).output();
  } catch {
    return undefined;
  }
  if (!output.success) return undefined;
  const text = new TextDecoder().decode(output.stdout);
  const line = text.split("\n").reverse().find((l) => l.startsWith("{"));
  return line ? JSON.parse(line) as SocketBenchResult : undefined;
}

function strip(result: LoadResult): LoadResult {
  return { ...result, latenciesMs: [] };
}

/** For the bench runner: register with `...socketSuites` in SUITES (main.ts). */
export const socketSuites: Suite[] = [
  {
    name: "socket",
    description: "14a/14b: control socket appends (official client) vs REST, sequential and 64c",
    async run(ctx: BenchContext) {
      const result = (await inNamespace(ctx.quick)) ??
        await measureSocketAppend({
          dataDir: await ctx.tempDir("socket-append"),
          quick: ctx.quick,
          log: (line) => ctx.log(line),
        });
      if (!result.netns) ctx.log("note: measured on the host loopback (no network namespace)");
      ctx.record({
        id: "14a",
        title: "socket sequential appends (official client) vs REST sequential",
        measured: describe(result.sequential.socket),
        baseline: describe(result.sequential.rest),
        ratio: result.sequential.ratio,
        comparison: ">=",
        threshold: SEQUENTIAL_THRESHOLD,
        details: { netns: result.netns },
      });
      ctx.record({
        id: "14b",
        title: "socket 64 connections vs REST 64 clients",
        measured: describe(result.concurrent.socket),
        baseline: describe(result.concurrent.rest),
        ratio: result.concurrent.ratio,
        comparison: ">=",
        threshold: CONCURRENT_THRESHOLD,
        details: { netns: result.netns, workers: WORKERS },
      });
    },
  },
];

if (import.meta.main) {
  const args = Deno.args;
  const quick = args.includes("--quick");
  const inner = Deno.env.get(NETNS_MARK) === "1";
  let result: SocketBenchResult | undefined;
  if (!inner && !args.includes("--no-netns")) result = await inNamespace(quick);
  if (!result) {
    if (!inner) console.log("note: no private network namespace (needs root); host loopback");
    const dataDir = await Deno.makeTempDir({ prefix: "dbx-bench-socket-" });
    try {
      result = await measureSocketAppend({
        dataDir,
        quick,
        log: (line) => (args.includes("--json") ? console.error(line) : console.log(line)),
      });
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  }
  if (args.includes("--json")) {
    const slim = {
      ...result,
      sequential: {
        ...result.sequential,
        rest: strip(result.sequential.rest),
        socket: strip(result.sequential.socket),
      },
      concurrent: {
        ...result.concurrent,
        rest: strip(result.concurrent.rest),
        socket: strip(result.concurrent.socket),
      },
    };
    console.log(JSON.stringify(slim));
  } else {
    const verdict = (ratio: number, threshold: number) =>
      `${fmtRatio(ratio)} (target >= ${threshold}: ${ratio >= threshold ? "PASS" : "FAIL"})`;
    console.log(`network namespace: ${result.netns ? "private (quickack)" : "host loopback"}`);
    console.log(`REST   sequential: ${describe(result.sequential.rest)}`);
    console.log(`socket sequential: ${describe(result.sequential.socket)}`);
    console.log(
      `14a socket / REST sequential: ${verdict(result.sequential.ratio, SEQUENTIAL_THRESHOLD)}`,
    );
    console.log(`REST   64c: ${describe(result.concurrent.rest)}`);
    console.log(`socket 64c: ${describe(result.concurrent.socket)}`);
    console.log(`14b socket / REST 64c: ${verdict(result.concurrent.ratio, CONCURRENT_THRESHOLD)}`);
  }
}
