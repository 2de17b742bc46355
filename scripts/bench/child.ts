/**
 * Child-process side of the benchmarks that need a fresh process:
 *
 *   child.ts open <args-json>    target 5: time open + first read (engine or bare)
 *   child.ts memory <args-json>  target 6: append many events, read RSS (needs --expose-gc;
 *                                memory_bench.ts starts it with the server's V8 flags)
 *
 * Progress goes to stderr; the result is one JSON line on stdout. Both modes import the
 * same modules, so module loading (before the timed region) is the same for both sides.
 */
import { Engine, storePath } from "../../src/engine/engine.ts";
import { headKey } from "../../src/engine/keys.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import { appendMany, fromHexKey, inputs, type OpenChildArgs, randomDek } from "./engine_bench.ts";
import type { MemoryChildArgs, MemoryChildResult, MemoryReading } from "./memory_bench.ts";
import { forceGc } from "./harness.ts";

async function open(args: OpenChildArgs): Promise<{ ms: number }> {
  const dek = fromHexKey(args.dekHex);
  if (args.engine) {
    const start = performance.now();
    const engine = await Engine.open({ dataDir: args.dataDir, dek });
    const aggregate = await engine.getAggregate(args.type, args.id);
    const ms = performance.now() - start;
    await engine.close();
    if (aggregate.version < 1) throw new Error("the aggregate is empty");
    return { ms };
  }
  const start = performance.now();
  const storage = await openRocksStorage(storePath(args.dataDir));
  const head = await storage.get(headKey(args.type, args.id));
  const ms = performance.now() - start;
  await storage.close();
  if (!head) throw new Error("the aggregate head is missing");
  return { ms };
}

function reading(events: number): MemoryReading {
  forceGc();
  const usage = Deno.memoryUsage();
  return { events, rss: usage.rss, heap_used: usage.heapUsed, external: usage.external };
}

async function memory(args: MemoryChildArgs): Promise<MemoryChildResult> {
  const gc = forceGc();
  const start = performance.now();
  const engine = await Engine.open({ dataDir: args.dataDir, dek: randomDek() });
  const readings: MemoryReading[] = [];
  const log = (r: MemoryReading) =>
    console.error(
      `  [memory child] ${r.events} events: rss ${(r.rss / 2 ** 20).toFixed(1)} MiB, heap ${
        (r.heap_used / 2 ** 20).toFixed(1)
      } MiB, ${((performance.now() - start) / 1000).toFixed(1)} s`,
    );
  // Each aggregate gets `visit` events in a row; the sweep over all aggregates repeats, so
  // later sweeps find their heads evicted from the cache and reload them.
  const visit = Math.max(1, Math.floor(args.events / (2 * args.aggregates)));
  const batchOf = (offset: number) => (start: number, count: number) =>
    inputs(
      "customer",
      (i) => `c-${Math.floor((offset + start + i) / visit) % args.aggregates}`,
      count,
    );
  // Phase 1: the baseline reading after `baselineAt` events.
  await appendMany(engine, args.baselineAt, args.batch, batchOf(0));
  readings.push(reading(args.baselineAt));
  log(readings[0]);
  // Phase 2: the rest, with a reading every tenth of the total.
  const rest = args.events - args.baselineAt;
  const step = Math.max(args.batch, Math.floor(args.events / 10 / args.batch) * args.batch);
  let next = (Math.floor(args.baselineAt / step) + 1) * step;
  await appendMany(engine, rest, args.batch, batchOf(args.baselineAt), (done) => {
    const events = args.baselineAt + done;
    if (done === rest || events >= next) {
      next += step;
      const r = reading(events);
      readings.push(r);
      log(r);
    }
  });
  await engine.close();
  return {
    gc,
    cache_size: "engine default",
    malloc_arena_max: Deno.env.get("MALLOC_ARENA_MAX"),
    readings,
    ms: performance.now() - start,
  };
}

if (import.meta.main) {
  const [mode, json] = Deno.args;
  const args = JSON.parse(json ?? "{}");
  let result: unknown;
  if (mode === "open") result = await open(args as OpenChildArgs);
  else if (mode === "memory") result = await memory(args as MemoryChildArgs);
  else {
    console.error(`unknown mode ${mode}`);
    Deno.exit(2);
  }
  console.log(JSON.stringify(result));
}
