/**
 * Engine benchmarks (targets 1–6). Each target is a ratio against a baseline measured in the
 * same run, interleaved with it where the two can alternate, so machine noise and drift hit
 * both sides alike. The event payload is the same everywhere (PAYLOAD, ~190 bytes of JSON);
 * the DEK is random per run.
 *
 * 1 `batch` — batched appends reach ≥ 60% of a floor measured in the same run: raw batched
 *   synced puts of the same bytes plus, per event, one AES-256-GCM seal of the payload text
 *   (the engine's `sealInto`) and one SHA-256 of the stored value, in a tight loop. The values
 *   are copies of a real engine-encoded event of the same payload (read back from a scratch
 *   engine), keys have the engine's event-key shape. Engine: `engine.appendBatch` of B inputs
 *   with that payload, awaited sequentially. Rounds alternate floor/engine (order flipped every
 *   round) after one warm-up round each; bare puts (no crypto) are reported beside them.
 *   Events/s = events / summed batch time. B = 1000 is the target; B = 100 is reported for
 *   information.
 * 2 `group` — 64 concurrent single appends (group commit) ≥ 5× one synced put per event.
 *   Baseline: sequential `storage.write([one put], {sync: true})` of an event-sized value.
 *   Engine: 64 workers each awaiting `engine.append` in a loop (own aggregate each) for a
 *   fixed time. 2p: the same 64 workers pausing 1 ms (a client's round trip) before every
 *   append reach ≥ 70% of the unpaced rate. The three runs rotate order every round. Every
 *   engine target reports its write path (write_path.ts): events per synced write, WAL bytes
 *   per event, time per synced write and the JS thread's busy share.
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
import { sealedLength, sealInto } from "../../src/crypto/aead.ts";
import { sha256 } from "../../src/integrity/sha256.ts";
import { memoryChild } from "./memory_bench.ts";
import {
  fmtWritePath,
  sumWritePaths,
  type WritePath,
  writePathBetween,
  writePathFigures,
} from "./write_path.ts";
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
      group: { rounds: 2, syncedPuts: 150, runMs: 800 },
      bigEvents: 20_000,
      growth: { rounds: 6, batch: 500 },
      openRuns: 3,
    }
    : {
      batch: [{ size: 1000, rounds: 20 }, { size: 100, rounds: 100 }],
      group: { rounds: 3, syncedPuts: 400, runMs: 3000 },
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

// --- 1: batched appends vs the floor: raw batched puts + one seal and one hash per event ---

/**
 * The least any batched append of these events must cost: each event's payload text sealed
 * once (AES-256-GCM, the engine's own `sealInto`) and the stored value hashed once
 * (SHA-256), in a tight loop, then one synced batch of puts of the same bytes.
 */
function floorBatch(
  dek: Uint8Array,
  plaintext: Uint8Array,
  value: Uint8Array,
  keys: Uint8Array[],
): BatchOp[] {
  const ops: BatchOp[] = new Array(keys.length);
  const sealed = new Uint8Array(sealedLength(plaintext.length));
  for (let i = 0; i < keys.length; i++) {
    sealInto(dek, plaintext, keys[i], sealed, 0);
    sha256(value);
    ops[i] = { type: "put", key: keys[i], value };
  }
  return ops;
}

async function runBatch(ctx: BenchContext): Promise<void> {
  const value = await sampleEventValue(ctx);
  ctx.log(`engine-encoded event of the payload: ${value.length} bytes`);
  const raw = await openRaw(ctx, "batch-raw");
  const engine = await openFresh(ctx, "batch-engine");
  const dek = randomDek();
  const plaintext = new TextEncoder().encode(JSON.stringify(PAYLOAD));
  let rawSeq = 0;

  for (const { size, rounds } of sizes(ctx.quick).batch) {
    const keysOf = (): Uint8Array[] =>
      Array.from({ length: size }, () => eventKey("customer", `raw-${size}`, ++rawSeq));
    const batchInputs = inputs("customer", `batched-${size}`, size);
    const floorOnce = async () => {
      const keys = keysOf();
      const start = performance.now();
      await raw.write(floorBatch(dek, plaintext, value, keys), { sync: true });
      return performance.now() - start;
    };
    const bareOnce = async () => {
      const ops: BatchOp[] = keysOf().map((key) => ({ type: "put", key, value }));
      const start = performance.now();
      await raw.write(ops, { sync: true });
      return performance.now() - start;
    };
    const enginePaths: WritePath[] = [];
    const engineOnce = async () => {
      const stats = engine.writeStats();
      const cpu = threadCpuMs();
      const start = performance.now();
      await engine.appendBatch(batchInputs);
      const ms = performance.now() - start;
      const cpuAfter = threadCpuMs();
      enginePaths.push(
        writePathBetween(
          stats,
          engine.writeStats(),
          ms,
          cpu && cpuAfter ? cpuAfter.js - cpu.js : NaN,
        ),
      );
      return ms;
    };
    await floorOnce();
    await bareOnce();
    await engineOnce();
    enginePaths.length = 0;
    const floorTimes: number[] = [];
    const bareTimes: number[] = [];
    const engineTimes: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0
        ? [floorOnce, engineOnce, bareOnce]
        : [engineOnce, floorOnce, bareOnce];
      for (const once of order) {
        const ms = await once();
        (once === floorOnce ? floorTimes : once === engineOnce ? engineTimes : bareTimes).push(ms);
      }
    }
    const events = size * rounds;
    const rate = (times: number[]) => events / (sum(times) / 1000);
    const floorRate = rate(floorTimes);
    const engineRate = rate(engineTimes);
    const bareRate = rate(bareTimes);
    const path = sumWritePaths(enginePaths);
    ctx.log(
      `B=${size}: floor (puts + seal + hash) ${fmtRate(floorRate)}, bare puts ${
        fmtRate(bareRate)
      }, engine ${fmtRate(engineRate)} (median batch ${
        fmtMs(median(engineTimes))
      }), ${rounds} rounds`,
    );
    ctx.record({
      id: size === 1000 ? "1" : "1b",
      title: `batched appends B=${size} vs floor (batched puts + seal + hash)`,
      measured: fmtRate(engineRate),
      baseline: fmtRate(floorRate),
      ratio: engineRate / floorRate,
      comparison: ">=",
      threshold: 0.6,
      informational: size !== 1000,
      write_path: fmtWritePath(path),
      details: {
        batch_size: size,
        rounds,
        value_bytes: value.length,
        engine_events_per_s: engineRate,
        floor_events_per_s: floorRate,
        bare_puts_events_per_s: bareRate,
        engine_vs_bare_puts: engineRate / bareRate,
        engine_batch_ms: engineTimes,
        floor_batch_ms: floorTimes,
        bare_batch_ms: bareTimes,
        write_path: { ...path, ...writePathFigures(path) },
      },
    });
  }
}

// --- 2: group commit vs one synced put per event; 2p: under client latency -------------

/** The pause before each append in 2p: a client's round trip. */
const CLIENT_PAUSE_MS = 1;

async function runGroup(ctx: BenchContext): Promise<void> {
  const { rounds, syncedPuts, runMs } = sizes(ctx.quick).group;
  const workers = 64;
  const value = await sampleEventValue(ctx);
  const raw = await openRaw(ctx, "group-raw");
  const engine = await openFresh(ctx, "group-engine");
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
  const pause = () => new Promise((resolve) => setTimeout(resolve, CLIENT_PAUSE_MS));
  /** 64 appenders for `ms`, each pausing `paused` before every append or not. */
  const engineRun = async (ms: number, paused: boolean) => {
    const stats = engine.writeStats();
    const cpu = threadCpuMs();
    const start = performance.now();
    const end = start + ms;
    let events = 0;
    await Promise.all(workerInputs.map(async (input) => {
      while (performance.now() < end) {
        if (paused) await pause();
        await engine.append(input);
        events++;
      }
    }));
    const elapsed = performance.now() - start;
    const cpuAfter = threadCpuMs();
    return {
      events,
      ms: elapsed,
      other: cpu && cpuAfter ? cpuAfter.other - cpu.other : NaN,
      path: writePathBetween(
        stats,
        engine.writeStats(),
        elapsed,
        cpu && cpuAfter ? cpuAfter.js - cpu.js : NaN,
      ),
    };
  };
  await baselineOnce(20);
  await engineRun(runMs / 3, false);
  await engineRun(runMs / 3, true);
  const baseTimes: number[] = [];
  const runs = {
    unpaced: [] as Awaited<ReturnType<typeof engineRun>>[],
    paced: [] as Awaited<ReturnType<typeof engineRun>>[],
  };
  for (let r = 0; r < rounds; r++) {
    const steps = [
      async () => baseTimes.push(await baselineOnce(syncedPuts)),
      async () => runs.unpaced.push(await engineRun(runMs, false)),
      async () => runs.paced.push(await engineRun(runMs, true)),
    ];
    // Rotate the order every round so that drift hits each side alike.
    for (let i = 0; i < steps.length; i++) await steps[(i + r) % steps.length]();
  }
  const rateOf = (list: { events: number; ms: number }[]) =>
    sum(list.map((x) => x.events)) / (sum(list.map((x) => x.ms)) / 1000);
  const baseRate = (syncedPuts * rounds) / (sum(baseTimes) / 1000);
  const engineRate = rateOf(runs.unpaced);
  const pacedRate = rateOf(runs.paced);
  const unpacedPath = sumWritePaths(runs.unpaced.map((x) => x.path));
  const pacedPath = sumWritePaths(runs.paced.map((x) => x.path));
  const engineEvents = sum(runs.unpaced.map((x) => x.events));
  const other = sum(runs.unpaced.map((x) => x.other));
  ctx.log(
    `one synced put per event: ${fmtRate(baseRate)}; 64 concurrent appends: ${
      fmtRate(engineRate)
    } (${fmtWritePath(unpacedPath)}); pausing ${CLIENT_PAUSE_MS} ms before each: ${
      fmtRate(pacedRate)
    } (${fmtWritePath(pacedPath)})`,
  );
  if (Number.isFinite(unpacedPath.engine_cpu_ms)) {
    ctx.log(
      `engine CPU per event: JS thread ${fmtMs(unpacedPath.engine_cpu_ms / engineEvents)}, ` +
        `other threads ${fmtMs(other / engineEvents)}`,
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
    write_path: fmtWritePath(unpacedPath),
    details: {
      workers,
      rounds,
      run_ms: runMs,
      synced_puts_per_round: syncedPuts,
      engine_events_per_s: engineRate,
      baseline_events_per_s: baseRate,
      baseline_round_ms: baseTimes,
      js_thread_cpu_ms_per_event: unpacedPath.engine_cpu_ms / engineEvents,
      other_threads_cpu_ms_per_event: other / engineEvents,
      write_path: { ...unpacedPath, ...writePathFigures(unpacedPath) },
    },
  });
  ctx.record({
    id: "2p",
    title: `64 appenders pausing ${CLIENT_PAUSE_MS} ms before each append vs not pausing`,
    measured: fmtRate(pacedRate),
    baseline: fmtRate(engineRate),
    ratio: pacedRate / engineRate,
    comparison: ">=",
    threshold: 0.7,
    write_path: fmtWritePath(pacedPath),
    details: {
      workers,
      rounds,
      run_ms: runMs,
      pause_ms: CLIENT_PAUSE_MS,
      paced_events_per_s: pacedRate,
      unpaced_events_per_s: engineRate,
      write_path: { ...pacedPath, ...writePathFigures(pacedPath) },
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
