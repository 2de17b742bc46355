/**
 * Plugin benchmarks (targets 9a–9b): appends with three enabled plugins against appends
 * with none, two real servers side by side in one run.
 *
 * 9a `REST 64c with http+tcp+postgres plugins vs none` ≥ 0.8 — two `dbx` servers
 *   (dbx_server.ts: subprocesses on fresh data dirs, REST only), one with no plugin, one
 *   with an http plugin (a Deno.serve receiver answering 200), a tcp plugin (a listener
 *   reading lines) and a postgres plugin (postgres.ts: a throwaway PostgreSQL 15), all on
 *   loopback, configured with `dbx plugin config` and enabled. 64 workers POST single
 *   events; rounds alternate between the servers (order flipped every round), and the
 *   receivers run in this process during both servers' rounds.
 * 9b (informational) delivery lag: the largest lag (`GET /v1/plugin-queue`, committed
 *   events not yet delivered) sampled during the plugin server's rounds, and the time it
 *   took after the last round to reach zero for every plugin.
 *
 * Registered in main.ts: `deno task bench --only plugins [--quick]`.
 */
import { type BenchContext, fmtMs, fmtRate, fmtRatio, type Suite } from "./harness.ts";
import { dbx, type DbxServer, startDbxServer } from "./dbx_server.ts";
import { combine, type LoadResult, runLoad } from "./load.ts";
import { startPostgres } from "./postgres.ts";

const WORKERS = 64;

function sizes(quick: boolean) {
  return quick
    ? { rounds: 2, roundMs: 800, warmupMs: 300 }
    : { rounds: 4, roundMs: 2500, warmupMs: 1000 };
}

/** A loopback HTTP receiver answering 200; counts what it got. */
function httpReceiver() {
  let received = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.arrayBuffer();
    received++;
    return new Response("ok");
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/events`,
    received: () => received,
    close: () => server.shutdown(),
  };
}

/** A loopback TCP listener that reads and drops every line. */
function tcpReceiver() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        conn.readable.pipeTo(new WritableStream()).catch(() => {});
      }
    } catch { /* closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

function appendOp(server: DbxServer) {
  const headers = {
    authorization: `Bearer ${server.token}`,
    "content-type": "application/json",
  };
  return async (worker: number, seq: number) => {
    const res = await fetch(`${server.baseUrl}/v1/aggregates/bench/w-${worker}/events`, {
      method: "POST",
      headers,
      body: JSON.stringify({ event_type: "updated", payload: { seq, note: "plugin bench" } }),
    });
    await res.body?.cancel();
    if (res.status !== 201) throw new Error(`append answered ${res.status}`);
  };
}

/** Peak lag seen per plugin (committed events not yet delivered, queued ones included). */
const peakByPlugin = new Map<string, number>();

/** The largest lag of the server's plugins (and each one's peak, in peakByPlugin). */
async function maxLag(server: DbxServer): Promise<number> {
  const res = await fetch(`${server.baseUrl}/v1/plugin-queue`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  const report = await res.json() as {
    plugins: { name: string; lag: number; pending: number }[];
  };
  for (const p of report.plugins) {
    peakByPlugin.set(p.name, Math.max(peakByPlugin.get(p.name) ?? 0, p.lag + p.pending));
  }
  return Math.max(0, ...report.plugins.map((p) => p.lag + p.pending));
}

async function run(ctx: BenchContext): Promise<void> {
  const size = sizes(ctx.quick);
  const pgServer = await startPostgres({ log: (message) => ctx.log(message) });
  ctx.onCleanup(() => pgServer.stop());
  const http = httpReceiver();
  ctx.onCleanup(() => http.close());
  const tcp = tcpReceiver();
  ctx.onCleanup(() => tcp.close());
  const surfaces = { rest: true, graphql: false, grpc: false };
  const none = await startDbxServer({ dataDir: await ctx.tempDir("plugins-none"), surfaces });
  ctx.onCleanup(() => none.stop());
  const withDir = await ctx.tempDir("plugins-three");
  const three = await startDbxServer({ dataDir: withDir, surfaces });
  ctx.onCleanup(() => three.stop());
  const connection =
    `postgres://${pgServer.user}@${pgServer.host}:${pgServer.port}/${pgServer.database}`;
  for (
    const args of [
      ["http", "--name", "hook", "--endpoint", http.url],
      ["tcp", "--name", "feed", "--host", "127.0.0.1", "--port", String(tcp.port)],
      ["postgres", "--name", "pg", "--connection", connection],
    ]
  ) {
    await dbx(["plugin", "config", ...args, "--disable", "--data-dir", withDir]);
    await dbx(["plugin", "enable", args[2], "--data-dir", withDir]);
  }
  ctx.log("warming up");
  for (const server of [none, three]) {
    await runLoad({ workers: WORKERS, durationMs: size.warmupMs, op: appendOp(server) });
  }
  // Every plugin delivers before the measured rounds start.
  const deadline = Date.now() + 120_000;
  while ((await maxLag(three)) > 0) {
    if (Date.now() > deadline) throw new Error("the plugins did not catch up after the warm-up");
    await new Promise((r) => setTimeout(r, 100));
  }
  const results = { none: [] as LoadResult[], three: [] as LoadResult[] };
  peakByPlugin.clear();
  let peakLag = 0;
  for (let round = 0; round < size.rounds; round++) {
    const order = round % 2 === 0 ? (["none", "three"] as const) : (["three", "none"] as const);
    for (const which of order) {
      const server = which === "none" ? none : three;
      let sampling = which === "three";
      const sampler = (async () => {
        while (sampling) {
          peakLag = Math.max(peakLag, await maxLag(three));
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      results[which].push(
        await runLoad({ workers: WORKERS, durationMs: size.roundMs, op: appendOp(server) }),
      );
      sampling = false;
      await sampler;
      ctx.log(`round ${round + 1} ${which}: ${fmtRate(results[which].at(-1)!.opsPerSecond)}`);
    }
  }
  const drainStart = performance.now();
  while ((await maxLag(three)) > 0) {
    if (performance.now() - drainStart > 300_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const drainMs = performance.now() - drainStart;
  ctx.log(
    `peak lag by plugin: ${[...peakByPlugin].map(([name, lag]) => `${name} ${lag}`).join(", ")}`,
  );
  const a = combine(results.three);
  const b = combine(results.none);
  ctx.record({
    id: "9a",
    title: "REST 64c with http+tcp+postgres plugins vs none",
    measured: fmtRate(a.opsPerSecond),
    baseline: fmtRate(b.opsPerSecond),
    ratio: a.opsPerSecond / b.opsPerSecond,
    comparison: ">=",
    threshold: 0.8,
    details: {
      workers: WORKERS,
      rounds: size.rounds,
      round_ms: size.roundMs,
      with_plugins: a.opsPerSecond,
      without: b.opsPerSecond,
      http_received: http.received(),
    },
  });
  ctx.record({
    id: "9b",
    // The time to drain, against the time the plugin server was under load: below 1, the
    // plugins caught up faster than the load had put them behind.
    title: `plugin delivery lag: peak ${peakLag} events; drain time / loaded time`,
    measured: `back to 0 in ${fmtMs(drainMs)} (peak lag ${peakLag} events)`,
    baseline: `${fmtMs(size.rounds * size.roundMs)} under load`,
    ratio: drainMs / (size.rounds * size.roundMs),
    comparison: "<=",
    threshold: 1,
    informational: true,
    details: {
      peak_lag: peakLag,
      peak_lag_by_plugin: Object.fromEntries(peakByPlugin),
      drain_ms: drainMs,
      ratio_text: fmtRatio(a.opsPerSecond / b.opsPerSecond),
    },
  });
}

/** The plugin suite, as main.ts registers it. */
export const pluginSuites: Suite[] = [
  {
    name: "plugins",
    description: "9a appends with three plugins vs none (≥ 0.8); 9b delivery lag",
    run,
  },
];
