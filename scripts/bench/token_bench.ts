/**
 * Token benchmark (target 7): authorising a valid token is cached, so it costs under 5% of
 * an append.
 *
 * Method: one data directory holds both the token authority and the engine (as a server
 * has them). A token scoped to `aggregate.append` on `aggregate:customer:*` is issued and
 * authorised once (filling the verified-token cache). Then samples alternate, so noise
 * hits both sides alike:
 *   - authorize: `TokenAuthority.authorize(token, "aggregate.append", resource)` in a tight
 *     loop of many iterations (the cached path: no signature check; revocation, expiry and
 *     scope are still checked each call); cost = elapsed / iterations;
 *   - sequential append: `engine.append` of one event (synced, awaited one after another);
 *     cost = elapsed / appends.
 * The ratio of medians (authorize / append) must be < 0.05. Reported for information:
 * the ratio against the per-event cost of 64 concurrent appenders (group commit makes
 * each event cheaper, so this ratio is larger), and the uncached cost (a full Ed25519
 * verification: an authority with a one-entry cache, alternating two tokens).
 */
import { aggregateResource, TokenAuthority } from "../../src/auth/authority.ts";
import { Engine } from "../../src/engine/engine.ts";
import { inputs, randomDek } from "./engine_bench.ts";
import { type BenchContext, fmtMs, median, type Suite } from "./harness.ts";

function sizes(quick: boolean) {
  return quick
    ? { samples: 3, authorizeIterations: 50_000, appends: 60, workers: 64, perWorker: 8 }
    : { samples: 5, authorizeIterations: 200_000, appends: 100, workers: 64, perWorker: 30 };
}

async function runToken(ctx: BenchContext): Promise<void> {
  const size = sizes(ctx.quick);
  const dataDir = await ctx.tempDir("token");
  const dek = randomDek();
  const auth = await TokenAuthority.open({ dataDir, dek });
  ctx.onCleanup(() => auth.close());
  const engine = await Engine.open({ dataDir, dek });
  ctx.onCleanup(() => engine.close());

  const { token } = await auth.generate({
    group: "bench",
    user: "alice",
    expiration: 3600,
    actions: ["aggregate.append", "aggregate.read"],
    resources: ["aggregate:customer:*"],
  });
  const resource = aggregateResource("customer", "c-1");
  const who = auth.authorize(token, "aggregate.append", resource);
  const input = inputs("customer", "c-1", 1)[0];
  const appendOptions = { issued_by: who.issued_by, charge: who.charge };

  const authorizeOnce = (iterations: number) => {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) auth.authorize(token, "aggregate.append", resource);
    return (performance.now() - start) / iterations;
  };
  const appendOnce = async (count: number) => {
    const start = performance.now();
    for (let i = 0; i < count; i++) await engine.append(input, appendOptions);
    return (performance.now() - start) / count;
  };
  authorizeOnce(size.authorizeIterations / 10);
  await appendOnce(10);

  const authorizeMs: number[] = [];
  const appendMs: number[] = [];
  for (let s = 0; s < size.samples; s++) {
    authorizeMs.push(authorizeOnce(size.authorizeIterations));
    appendMs.push(await appendOnce(size.appends));
  }

  const concurrentStart = performance.now();
  await Promise.all(
    Array.from({ length: size.workers }, async (_, w) => {
      const mine = inputs("customer", `w-${w}`, 1)[0];
      for (let i = 0; i < size.perWorker; i++) await engine.append(mine, appendOptions);
    }),
  );
  const concurrentMs = (performance.now() - concurrentStart) / (size.workers * size.perWorker);

  // Uncached: a one-entry cache and two tokens taking turns, so every call verifies.
  const cold = await TokenAuthority.open({ dataDir, dek, cacheSize: 1 });
  ctx.onCleanup(() => cold.close());
  const second = (await auth.generate({ group: "bench", user: "bob" })).token;
  const coldIterations = ctx.quick ? 500 : 2000;
  const coldStart = performance.now();
  for (let i = 0; i < coldIterations; i++) {
    cold.authorize(i % 2 === 0 ? token : second, "aggregate.append", resource);
  }
  const uncachedMs = (performance.now() - coldStart) / coldIterations;

  const authorize = median(authorizeMs);
  const append = median(appendMs);
  ctx.log(
    `authorize (cached) ${fmtMs(authorize)}, uncached ${fmtMs(uncachedMs)}; sequential append ${
      fmtMs(append)
    }; per event with 64 concurrent appenders ${fmtMs(concurrentMs)}`,
  );
  const details = {
    authorize_iterations: size.authorizeIterations,
    authorize_ms: authorizeMs,
    sequential_append_ms: appendMs,
    concurrent_per_event_ms: concurrentMs,
    uncached_authorize_ms: uncachedMs,
  };
  ctx.record({
    id: "7",
    title: "authorize (cached) vs one sequential append",
    measured: fmtMs(authorize),
    baseline: fmtMs(append),
    ratio: authorize / append,
    comparison: "<",
    threshold: 0.05,
    details,
  });
  ctx.record({
    id: "7b",
    title: "authorize (cached) vs per-event cost, 64 concurrent",
    measured: fmtMs(authorize),
    baseline: fmtMs(concurrentMs),
    ratio: authorize / concurrentMs,
    comparison: "<",
    threshold: 0.05,
    informational: true,
    details: {},
  });
}

export const tokenSuites: Suite[] = [
  {
    name: "token",
    description: "7: TokenAuthority.authorize (cached) vs one engine.append",
    run: runToken,
  },
];
