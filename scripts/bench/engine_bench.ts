/**
 * Engine benchmarks (targets 1–6). Each target is a ratio against a baseline measured in the
 * same run, interleaved with it where the two can alternate, so machine noise and drift hit
 * both sides alike. The event payload is the same everywhere (PAYLOAD, ~190 bytes of JSON);
 * the DEK is random per run.
 *
 * 1 `batch` — batched appends reach ≥ 60% of the raw binding's batched put rate.
 *   Raw: `openRocksStorage` on a fresh dir, `storage.write` of B puts per batch with
 *   `sync: true`; each value is a copy of a real engine-encoded event of the same payload
 *   (read back from a scratch engine), so sizes and compressibility match; keys have the
 *   engine's event-key shape. Engine: `engine.appendBatch` of B inputs with that payload,
 *   awaited sequentially. Rounds alternate raw/engine (order flipped every round) after one
 *   warm-up round each. Events/s = events / summed batch time. B = 1000 is the target;
 *   B = 100 is reported for information.
 * 2 `group` — 64 concurrent single appends (group commit) ≥ 5× one synced put per event.
 *   Baseline: sequential `storage.write([one put], {sync: true})` of an event-sized value.
 *   Engine: 64 workers each awaiting `engine.append` in a loop (own aggregate each).
 *   Several alternating rounds; events/s from the summed times. The engine's commit
 *   listener counts synced rounds, to show the average group size; the CPU time of the
 *   JS thread and of the other threads during the engine rounds (Linux /proc) shows
 *   where the limit lies.
 * 3 `growth` — appending event 1,000,000 costs the same as event 10 (big/small ≤ 1.2).
 *   Shared fixture: one aggregate built to 1,000,000 events (appendBatch of 2000, two
 *   batches in flight), then a few seconds' pause for RocksDB's background compaction.
 *   Then R rounds, A/B interleaved with the order flipped each round, of one appendBatch
 *   of 500 events to (A) a fresh aggregate at version 10 (a new one each round) and (B)
 *   the big aggregate. The ratio is the geometric mean of the per-round ratios B/A: each
 *   pair shares its moment's noise, and with the order flipped every round any "first /
 *   second in the pair" effect cancels exactly. Medians are reported too.
 * 4 `verify` — full verify of the 1M aggregate ≤ 2× reading the same events and hashing the
 *   same bytes. Baseline: `storage.range(eventRange(...))` computing SHA-256
 *   (node:crypto) of every value. Runs baseline, verify, baseline; the ratio uses the mean
 *   of the two baselines (cancels linear drift).
 * 5 `open` — opening the store and serving the first read ≤ 1.5× a bare open of the same
 *   RocksDB directory. The fixture engine is closed first; then fresh child processes,
 *   alternating (one discarded warm-up each, so both see the same warm OS cache), time
 *   inside the child from just before the open to just after the first read: engine =
 *   `Engine.open` + `getAggregate` of the big aggregate; bare = `openRocksStorage` + one
 *   `get` of that aggregate's head key. Ratio of medians.
 * 6 `memory` lives in memory_bench.ts (its child runs during the 1M build).
 */
import { createHash } from "node:crypto";
import { Engine, storePath } from "../../src/engine/engine.ts";
import { eventKey, eventRange } from "../../src/engine/keys.ts";
import type { AppendInput } from "../../src/engine/types.ts";
import { toHex } from "../../src/integrity/sha256.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import type { BatchOp, Storage } from "../../src/store/storage.ts";
import { memoryChild } from "./memory_bench.ts";
import {
  type BenchContext,
  fmtBytes,
  fmtCount,
  fmtMs,
  fmtRate,
  geometricMean,
  median,
  progress,
  runChild,
  type Suite,
  sum,
  threadCpuMs,
} from "./harness.ts";

/** The payload of every benchmark event: a typical small business event. */
export const PAYLOAD: Record<string, unknown> = {
  name: "Jane Doe",
  email: "jane.doe@example.com",
  status: "active",
  amount: 42.5,
  visits: 7,
  tags: ["vip", "newsletter"],
  address: { street: "Rua Augusta 12", city: "Lisbon", zip: "1100-048" },
};

/** Pause after building the 1M-event store, before timing anything on it. */
const SETTLE_MS = 5000;

export const BIG_TYPE = "ledger";
export const BIG_ID = "big-1";

/** Official sizes, and the reduced ones of `--quick`. */
function sizes(quick: boolean) {
  return quick
    ? {
      batch: [{ size: 1000, rounds: 4 }, { size: 100, rounds: 15 }],
      group: { rounds: 2, syncedPuts: 150, perWorker: 15 },
      bigEvents: 20_000,
      growth: { rounds: 6, batch: 500 },
      openRuns: 3,
    }
    : {
      batch: [{ size: 1000, rounds: 20 }, { size: 100, rounds: 100 }],
      group: { rounds: 3, syncedPuts: 400, perWorker: 50 },
      bigEvents: 1_000_000,
      growth: { rounds: 30, batch: 500 },
      openRuns: 7,
    };
}

export function randomDek(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export function fromHexKey(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
}

export function inputs(type: string, id: string | ((i: number) => string), count: number) {
  const out: AppendInput[] = new Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = {
      aggregate_type: type,
      aggregate_id: typeof id === "string" ? id : id(i),
      event_type: "customer-updated",
      payload: PAYLOAD,
    };
  }
  return out;
}

/**
 * Append `total` events with `appendBatch`, keeping `inFlight` batches queued so the
 * writer always has the next batch while the previous one syncs.
 */
export async function appendMany(
  engine: Engine,
  total: number,
  batchSize: number,
  makeBatch: (start: number, count: number) => AppendInput[],
  onProgress?: (done: number) => void | Promise<void>,
  inFlight = 2,
): Promise<void> {
  const pending: Promise<unknown>[] = [];
  let done = 0;
  for (let start = 0; start < total; start += batchSize) {
    const count = Math.min(batchSize, total - start);
    pending.push(engine.appendBatch(makeBatch(start, count)));
    if (pending.length >= inFlight) {
      await pending.shift();
      done += batchSize;
      await onProgress?.(Math.min(done, total));
    }
  }
  await Promise.all(pending);
  await onProgress?.(total);
}

/** A copy of what the engine stores for one event of PAYLOAD (read back from a scratch store). */
async function sampleEventValue(ctx: BenchContext): Promise<Uint8Array> {
  const dir = await ctx.tempDir("sample");
  const storage = await openRocksStorage(storePath(dir));
  const engine = await Engine.open({ storage, dek: randomDek() });
  try {
    await engine.append(inputs("customer", "sample", 1)[0]);
    const value = await storage.get(eventKey("customer", "sample", 1));
    if (!value) throw new Error("the sample event was not stored");
    return Uint8Array.from(value);
  } finally {
    await engine.close();
  }
}

async function openRaw(ctx: BenchContext, label: string): Promise<Storage> {
  const storage = await openRocksStorage(storePath(await ctx.tempDir(label)));
  ctx.onCleanup(() => storage.close());
  return storage;
}

async function openFresh(ctx: BenchContext, label: string): Promise<Engine> {
  const engine = await Engine.open({ dataDir: await ctx.tempDir(label), dek: randomDek() });
  ctx.onCleanup(() => engine.close());
  return engine;
}

// --- 1: batched appends vs raw batched puts ----------------------------------

async function runBatch(ctx: BenchContext): Promise<void> {
  const value = await sampleEventValue(ctx);
  ctx.log(`engine-encoded event of the payload: ${value.length} bytes`);
  const raw = await openRaw(ctx, "batch-raw");
  const engine = await openFresh(ctx, "batch-engine");
  let rawSeq = 0;

  for (const { size, rounds } of sizes(ctx.quick).batch) {
    const rawBatch = (): BatchOp[] => {
      const ops: BatchOp[] = new Array(size);
      for (let i = 0; i < size; i++) {
        ops[i] = { type: "put", key: eventKey("customer", `raw-${size}`, ++rawSeq), value };
      }
      return ops;
    };
    const batchInputs = inputs("customer", `batched-${size}`, size);
    const rawOnce = async () => {
      const ops = rawBatch();
      const start = performance.now();
      await raw.write(ops, { sync: true });
      return performance.now() - start;
    };
    const engineOnce = async () => {
      const start = performance.now();
      await engine.appendBatch(batchInputs);
      return performance.now() - start;
    };
    await rawOnce();
    await engineOnce();
    const rawTimes: number[] = [];
    const engineTimes: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        rawTimes.push(await rawOnce());
        engineTimes.push(await engineOnce());
      } else {
        engineTimes.push(await engineOnce());
        rawTimes.push(await rawOnce());
      }
    }
    const events = size * rounds;
    const rawRate = events / (sum(rawTimes) / 1000);
    const engineRate = events / (sum(engineTimes) / 1000);
    ctx.log(
      `B=${size}: raw ${fmtRate(rawRate)} (median batch ${fmtMs(median(rawTimes))}), engine ${
        fmtRate(engineRate)
      } (median batch ${fmtMs(median(engineTimes))}), ${rounds} rounds`,
    );
    ctx.record({
      id: size === 1000 ? "1" : "1b",
      title: `batched appends B=${size} vs raw batched puts`,
      measured: fmtRate(engineRate),
      baseline: fmtRate(rawRate),
      ratio: engineRate / rawRate,
      comparison: ">=",
      threshold: 0.6,
      informational: size !== 1000,
      details: {
        batch_size: size,
        rounds,
        value_bytes: value.length,
        engine_events_per_s: engineRate,
        raw_events_per_s: rawRate,
        engine_batch_ms: engineTimes,
        raw_batch_ms: rawTimes,
      },
    });
  }
}

// --- 2: group commit vs one synced put per event ------------------------------

async function runGroup(ctx: BenchContext): Promise<void> {
  const { rounds, syncedPuts, perWorker } = sizes(ctx.quick).group;
  const workers = 64;
  const value = await sampleEventValue(ctx);
  const raw = await openRaw(ctx, "group-raw");
  const engine = await openFresh(ctx, "group-engine");
  let commits = 0;
  let committed = 0;
  engine.onCommit((records) => {
    commits++;
    committed += records.length;
  });
  let seq = 0;
  const baselineOnce = async (count: number) => {
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      await raw.write([{ type: "put", key: eventKey("customer", "single", ++seq), value }], {
        sync: true,
      });
    }
    return performance.now() - start;
  };
  const workerInputs = Array.from(
    { length: workers },
    (_, w) => inputs("customer", `w-${w}`, 1)[0],
  );
  const engineOnce = async (each: number) => {
    const start = performance.now();
    await Promise.all(workerInputs.map(async (input) => {
      for (let i = 0; i < each; i++) await engine.append(input);
    }));
    return performance.now() - start;
  };
  await baselineOnce(20);
  await engineOnce(3);
  commits = 0;
  committed = 0;
  const baseTimes: number[] = [];
  const engineTimes: number[] = [];
  // CPU used while the engine runs (only those rounds), to show where its limit lies.
  const engineCpu = { js: 0, other: 0 };
  const timedEngine = async () => {
    const before = threadCpuMs();
    const ms = await engineOnce(perWorker);
    const after = threadCpuMs();
    if (before && after) {
      engineCpu.js += after.js - before.js;
      engineCpu.other += after.other - before.other;
    }
    return ms;
  };
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      baseTimes.push(await baselineOnce(syncedPuts));
      engineTimes.push(await timedEngine());
    } else {
      engineTimes.push(await timedEngine());
      baseTimes.push(await baselineOnce(syncedPuts));
    }
  }
  const engineEvents = workers * perWorker * rounds;
  const jsBusy = engineCpu.js / sum(engineTimes);
  const baseRate = (syncedPuts * rounds) / (sum(baseTimes) / 1000);
  const engineRate = (workers * perWorker * rounds) / (sum(engineTimes) / 1000);
  ctx.log(
    `one synced put per event: ${fmtRate(baseRate)}; 64 concurrent appends: ${
      fmtRate(engineRate)
    } (${commits} synced commits, ${(committed / commits).toFixed(1)} events each)`,
  );
  if (engineCpu.js > 0) {
    ctx.log(
      `engine CPU per event: JS thread ${fmtMs(engineCpu.js / engineEvents)} (busy ${
        (jsBusy * 100).toFixed(0)
      }% of the time), other threads ${fmtMs(engineCpu.other / engineEvents)}`,
    );
  }
  ctx.record({
    id: "2",
    title: "64 concurrent appends vs 1 synced put/event",
    measured: fmtRate(engineRate),
    baseline: fmtRate(baseRate),
    ratio: engineRate / baseRate,
    comparison: ">=",
    threshold: 5,
    details: {
      workers,
      rounds,
      events_per_round: workers * perWorker,
      synced_puts_per_round: syncedPuts,
      engine_events_per_s: engineRate,
      baseline_events_per_s: baseRate,
      engine_round_ms: engineTimes,
      baseline_round_ms: baseTimes,
      synced_commits: commits,
      events_per_commit: committed / commits,
      js_thread_cpu_ms_per_event: engineCpu.js / engineEvents,
      other_threads_cpu_ms_per_event: engineCpu.other / engineEvents,
      js_thread_busy: jsBusy,
    },
  });
}

// --- shared fixture: one aggregate with 1M events ------------------------------

interface BigAggregate {
  dataDir: string;
  dek: Uint8Array;
  built: number;
  /** The open engine on the fixture store (reopened if `close` was called). */
  engine(): Promise<Engine>;
  /** The storage the open engine runs on (valid after `engine()`). */
  storage(): Storage;
  close(): Promise<void>;
}

function bigAggregate(ctx: BenchContext): Promise<BigAggregate> {
  return ctx.fixture("big-aggregate", async () => {
    const total = sizes(ctx.quick).bigEvents;
    // The memory child only measures RSS: let it run on the other core during the build.
    const memory = ctx.willRun("memory") ? memoryChild(ctx) : undefined;
    const dataDir = await ctx.tempDir("big");
    const dek = randomDek();
    let storage = await openRocksStorage(storePath(dataDir));
    let open: Engine | undefined = await Engine.open({ storage, dek });
    const batch = inputs(BIG_TYPE, BIG_ID, 2000);
    const report = progress(ctx.log.bind(ctx), `building ${BIG_TYPE}/${BIG_ID}`, total);
    const start = performance.now();
    await appendMany(open, total, batch.length, (_, count) => batch.slice(0, count), report);
    const ms = performance.now() - start;
    ctx.log(
      `built ${fmtCount(total)} events in ${fmtMs(ms)} (${fmtRate(total / (ms / 1000))})`,
    );
    if (memory) {
      ctx.log("waiting for the memory child before timing anything");
      await memory.catch(() => {});
    }
    if (!ctx.quick) {
      ctx.log(`pausing ${SETTLE_MS / 1000} s for background compaction to settle`);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    }
    const fixture: BigAggregate = {
      dataDir,
      dek,
      built: total,
      async engine() {
        if (!open) {
          storage = await openRocksStorage(storePath(dataDir));
          open = await Engine.open({ storage, dek });
        }
        return open;
      },
      storage: () => storage,
      async close() {
        await open?.close();
        open = undefined;
      },
    };
    ctx.onCleanup(() => fixture.close());
    return fixture;
  });
}

// --- 3: append cost at version 1M vs version 10 --------------------------------

async function runGrowth(ctx: BenchContext): Promise<void> {
  const { rounds, batch } = sizes(ctx.quick).growth;
  const big = await bigAggregate(ctx);
  const engine = await big.engine();
  // A fresh aggregate at version 10 for every round, plus one for the warm-up.
  const smallIds = Array.from({ length: rounds + 1 }, (_, i) => `small-${i}`);
  await engine.appendBatch(
    smallIds.flatMap((id) => inputs(BIG_TYPE, id, 10)),
  );
  const bigInputs = inputs(BIG_TYPE, BIG_ID, batch);
  const timeBatch = async (batchInputs: AppendInput[]) => {
    const start = performance.now();
    await engine.appendBatch(batchInputs);
    return performance.now() - start;
  };
  await timeBatch(inputs(BIG_TYPE, smallIds[rounds], batch));
  await timeBatch(bigInputs);
  const small: number[] = [];
  const large: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const smallInputs = inputs(BIG_TYPE, smallIds[r], batch);
    if (r % 2 === 0) {
      small.push(await timeBatch(smallInputs));
      large.push(await timeBatch(bigInputs));
    } else {
      large.push(await timeBatch(bigInputs));
      small.push(await timeBatch(smallInputs));
    }
  }
  const bigVersion = (await engine.getAggregate(BIG_TYPE, BIG_ID)).version;
  const ratio = geometricMean(large.map((ms, r) => ms / small[r]));
  const perEvent = (ms: number) => `${fmtMs(ms / batch)}/ev`;
  ctx.log(
    `median batch of ${batch}: at version ~10 ${fmtMs(median(small))}, at version ~${
      fmtCount(big.built)
    } ${
      fmtMs(median(large))
    } (big aggregate now at ${bigVersion}); geometric mean of ${rounds} per-round ratios ${
      ratio.toFixed(3)
    }`,
  );
  ctx.record({
    id: "3",
    title: `append at v${fmtCount(big.built)} vs at v10`,
    measured: perEvent(median(large)),
    baseline: perEvent(median(small)),
    ratio,
    comparison: "<=",
    threshold: 1.2,
    details: {
      rounds,
      batch,
      big_version_start: big.built,
      big_version_end: bigVersion,
      small_version_start: 10,
      ratio_of_medians: median(large) / median(small),
      big_batch_ms: large,
      small_batch_ms: small,
    },
  });
}

// --- 4: verify vs read + hash ----------------------------------------------------

async function readAndHash(
  storage: Storage,
): Promise<{ ms: number; count: number; bytes: number }> {
  const start = performance.now();
  let count = 0;
  let bytes = 0;
  let last = "";
  for await (const [, value] of storage.range(eventRange(BIG_TYPE, BIG_ID))) {
    last = createHash("sha256").update(value).digest("hex");
    count++;
    bytes += value.length;
  }
  if (last.length !== 64) throw new Error("nothing was hashed");
  return { ms: performance.now() - start, count, bytes };
}

async function runVerify(ctx: BenchContext): Promise<void> {
  const big = await bigAggregate(ctx);
  const engine = await big.engine();
  const before = await readAndHash(big.storage());
  ctx.log(
    `read + SHA-256 of ${fmtCount(before.count)} events (${fmtBytes(before.bytes)}): ${
      fmtMs(before.ms)
    }`,
  );
  const start = performance.now();
  const result = await engine.verify(BIG_TYPE, BIG_ID);
  const verifyMs = performance.now() - start;
  if (!result.verified) throw new Error(`verify failed: ${JSON.stringify(result)}`);
  if (result.version !== before.count) {
    throw new Error(`verify saw version ${result.version}, the range had ${before.count} events`);
  }
  ctx.log(`engine.verify of ${fmtCount(result.version)} events: ${fmtMs(verifyMs)}`);
  const after = await readAndHash(big.storage());
  ctx.log(`read + SHA-256 again: ${fmtMs(after.ms)}`);
  const baselineMs = (before.ms + after.ms) / 2;
  ctx.record({
    id: "4",
    title: `verify ${fmtCount(result.version)} events vs read+sha256`,
    measured: fmtMs(verifyMs),
    baseline: fmtMs(baselineMs),
    ratio: verifyMs / baselineMs,
    comparison: "<=",
    threshold: 2,
    details: {
      events: result.version,
      bytes: before.bytes,
      verify_ms: verifyMs,
      baseline_ms: [before.ms, after.ms],
      verify_us_per_event: (verifyMs * 1000) / result.version,
      baseline_us_per_event: (baselineMs * 1000) / result.version,
    },
  });
}

// --- 5: open + first read vs bare open ------------------------------------------

export interface OpenChildArgs {
  dataDir: string;
  dekHex: string;
  type: string;
  id: string;
  engine: boolean;
}

async function runOpen(ctx: BenchContext): Promise<void> {
  const runs = sizes(ctx.quick).openRuns;
  const big = await bigAggregate(ctx);
  const events = await (await big.engine()).lastPosition();
  await big.close();
  const args = (engine: boolean): OpenChildArgs => ({
    dataDir: big.dataDir,
    dekHex: toHex(big.dek),
    type: BIG_TYPE,
    id: BIG_ID,
    engine,
  });
  const once = async (engine: boolean) =>
    (await runChild<{ ms: number }>("open", args(engine) as unknown as Record<string, unknown>))
      .ms;
  await once(false);
  await once(true);
  const bare: number[] = [];
  const full: number[] = [];
  for (let r = 0; r < runs; r++) {
    if (r % 2 === 0) {
      full.push(await once(true));
      bare.push(await once(false));
    } else {
      bare.push(await once(false));
      full.push(await once(true));
    }
  }
  ctx.log(
    `store of ${fmtCount(events)} events: Engine.open + getAggregate median ${
      fmtMs(median(full))
    }, bare open + get median ${fmtMs(median(bare))} (${runs} runs each)`,
  );
  ctx.record({
    id: "5",
    title: `open + first read (${fmtCount(events)} events) vs bare open`,
    measured: fmtMs(median(full)),
    baseline: fmtMs(median(bare)),
    ratio: median(full) / median(bare),
    comparison: "<=",
    threshold: 1.5,
    details: { events_in_store: events, runs, engine_ms: full, bare_ms: bare },
  });
}

export const engineSuites: Suite[] = [
  {
    name: "batch",
    description: "1: batched appends (B=1000, also B=100) vs raw batched synced puts",
    run: runBatch,
  },
  {
    name: "group",
    description: "2: 64 concurrent appends (group commit) vs one synced put per event",
    run: runGroup,
  },
  {
    name: "growth",
    description: "3: append cost on a 1M-event aggregate vs at version 10",
    run: runGrowth,
  },
  {
    name: "verify",
    description: "4: verify of the 1M-event aggregate vs range read + sha256",
    run: runVerify,
  },
  {
    name: "open",
    description: "5: Engine.open + first read vs bare RocksDB open (child processes)",
    run: runOpen,
  },
];
