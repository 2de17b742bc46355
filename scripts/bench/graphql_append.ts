/**
 * GraphQL `appendEvent` against REST's POST, side by side in one run (issue 13's measure:
 * GraphQL with 64 concurrent clients reaches at least 70% of REST's rate).
 *
 * One real `dbx start --foreground` server (dbx_server.ts: fresh data dir, a DEK from `dbx
 * config`, a token from `dbx token generate`, `[api]` REST and GraphQL on the one port,
 * gRPC off) driven by the shared load generator (load.ts): 64 workers, each appending to
 * its own aggregate over keep-alive connections.
 * - REST: `POST /v1/aggregates/bench/r-<n>/events` with `{"event_type", "payload"}`; 201.
 * - GraphQL: `POST /graphql` with one mutation document and the event in variables
 *   (`appendEvent(input: $input) { … }`, the usual client), 200 without errors.
 * Both carry the same payload (engine_bench.ts PAYLOAD). After a warm-up of each, R rounds
 * alternate the order (REST first, then GraphQL first …); rates are total events over
 * total time per side.
 *
 * Standalone: `deno run -A scripts/bench/graphql_append.ts [--quick] [--http-workers N]
 * [--selection full]`. For the bench runner it also exports `graphqlSuites` (one target,
 * id "13g").
 */
import { type DbxServer as Server, startDbxServer } from "./dbx_server.ts";
import { PAYLOAD } from "./engine_bench.ts";
import { type BenchContext, fmtMs, fmtRate, fmtRatio, type Suite } from "./harness.ts";
import { combine, type LoadResult, type Operation, runLoad } from "./load.ts";

const WORKERS = 64;
const THRESHOLD = 0.7;

/** What the GraphQL clients ask for back. */
const SELECTIONS = {
  /** A few fields: what a client that appends typically reads back. */
  small: "aggregateId version position hash",
  /** Every field REST returns. */
  full: "aggregateType aggregateId eventType payload version hash merkleRoot position " +
    "metadata { eventId createdAt note issuedBy { group user } }",
};

function sizes(quick: boolean) {
  return quick
    ? { rounds: 3, roundMs: 700, warmupMs: 400 }
    : { rounds: 4, roundMs: 2500, warmupMs: 1500 };
}

function restOp(server: Server): Operation {
  const urls = Array.from(
    { length: WORKERS },
    (_, w) => `${server.baseUrl}/v1/aggregates/bench/r-${w}/events`,
  );
  const headers = { authorization: `Bearer ${server.token}`, "content-type": "application/json" };
  return async (worker) => {
    const response = await fetch(urls[worker], {
      method: "POST",
      headers,
      body: JSON.stringify({ event_type: "updated", payload: PAYLOAD }),
    });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`REST answered ${response.status}: ${text}`);
  };
}

function graphqlOp(server: Server, selection: string): Operation {
  const url = `${server.baseUrl}/graphql`;
  const query =
    `mutation Append($input: AppendEventInput!) { appendEvent(input: $input) { ${selection} } }`;
  const headers = { authorization: `Bearer ${server.token}`, "content-type": "application/json" };
  return async (worker) => {
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({
        query,
        variables: {
          input: {
            aggregateType: "bench",
            aggregateId: `g-${worker}`,
            eventType: "updated",
            payload: PAYLOAD,
          },
        },
      }),
    });
    const text = await response.text();
    if (response.status !== 200 || !text.startsWith('{"data":{"appendEvent":{')) {
      throw new Error(`GraphQL answered ${response.status}: ${text.slice(0, 300)}`);
    }
  };
}

function describe(result: LoadResult): string {
  return `${fmtRate(result.opsPerSecond)} (p50 ${fmtMs(result.p50Ms)}, p99 ${fmtMs(result.p99Ms)})`;
}

export interface GraphqlBenchResult {
  rest: LoadResult;
  graphql: LoadResult;
  ratio: number;
}

/** Measure both sides on one server; `log` gets a line per round. */
export async function measureGraphqlAppend(options: {
  dataDir: string;
  quick: boolean;
  httpWorkers?: string;
  selection?: keyof typeof SELECTIONS;
  log?: (line: string) => void;
}): Promise<GraphqlBenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const size = sizes(options.quick);
  // REST and GraphQL on the port, nothing else there.
  const server = await startDbxServer({
    dataDir: options.dataDir,
    httpWorkers: options.httpWorkers,
    surfaces: { rest: true, graphql: true, grpc: false },
  });
  try {
    const targets: [string, Operation][] = [
      ["REST", restOp(server)],
      ["GraphQL", graphqlOp(server, SELECTIONS[options.selection ?? "small"])],
    ];
    for (const [, op] of targets) {
      await runLoad({ workers: WORKERS, durationMs: size.warmupMs, op });
    }
    const runs = new Map<string, LoadResult[]>(targets.map(([label]) => [label, []]));
    for (let r = 0; r < size.rounds; r++) {
      for (const [label, op] of r % 2 === 0 ? targets : [...targets].reverse()) {
        const result = await runLoad({ workers: WORKERS, durationMs: size.roundMs, op });
        runs.get(label)!.push(result);
        log(`round ${r + 1} ${label} 64c: ${describe(result)}`);
      }
    }
    const rest = combine(runs.get("REST")!);
    const graphql = combine(runs.get("GraphQL")!);
    return { rest, graphql, ratio: graphql.opsPerSecond / rest.opsPerSecond };
  } finally {
    await server.stop();
  }
}

/** For the bench runner: register with `...graphqlSuites` in SUITES (main.ts). */
export const graphqlSuites: Suite[] = [
  {
    name: "graphql",
    description: "13g: GraphQL appendEvent (64c) vs REST POST on the same server",
    async run(ctx: BenchContext) {
      const result = await measureGraphqlAppend({
        dataDir: await ctx.tempDir("graphql-append"),
        quick: ctx.quick,
        log: (line) => ctx.log(line),
      });
      ctx.record({
        id: "13g",
        title: "GraphQL appendEvent 64c vs REST POST 64c",
        measured: describe(result.graphql),
        baseline: describe(result.rest),
        ratio: result.ratio,
        comparison: ">=",
        threshold: THRESHOLD,
        details: {
          workers: WORKERS,
          rest_events_per_s: result.rest.opsPerSecond,
          graphql_events_per_s: result.graphql.opsPerSecond,
        },
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
  const dataDir = await Deno.makeTempDir({ prefix: "dbx-bench-graphql-" });
  try {
    const selection = (flag("--selection") ?? "small") as keyof typeof SELECTIONS;
    if (!(selection in SELECTIONS)) throw new Error("--selection must be small or full");
    const result = await measureGraphqlAppend({
      dataDir,
      quick: args.includes("--quick"),
      httpWorkers: flag("--http-workers"),
      selection,
    });
    console.log(`REST POST      64c: ${describe(result.rest)}`);
    console.log(`GraphQL append 64c: ${describe(result.graphql)} (selection: ${selection})`);
    console.log(
      `ratio GraphQL / REST: ${fmtRatio(result.ratio)} (target >= ${THRESHOLD}: ${
        result.ratio >= THRESHOLD ? "PASS" : "FAIL"
      })`,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}
