/**
 * Where the engine's JS per event goes (informational, `parts`): each step the writer runs for
 * one event of PAYLOAD, timed alone in a tight loop with the engine's own functions, beside a
 * whole `appendBatch` of 1,000 events measured in the same run. The steps: canonical payload
 * JSON, parsing it back into the record's own payload, the event hash, the Merkle leaf and
 * root, freezing the record, encoding and sealing the stored value, folding the state, and
 * the head value an append rewrites. What the steps do not add up to is the writer's own
 * bookkeeping (maps, rounds, the batch) and the garbage they leave.
 */
import { encodeEvent, encodeHeadValue, type StoredHead } from "../../src/engine/codec.ts";
import { Engine } from "../../src/engine/engine.ts";
import { hashWithPayload } from "../../src/engine/event_hash.ts";
import { eventKey } from "../../src/engine/keys.ts";
import { foldPayload } from "../../src/engine/state.ts";
import type { EventRecord } from "../../src/engine/types.ts";
import { canonicalJson } from "../../src/integrity/canonical_json.ts";
import {
  appendLeaf,
  emptyFrontier,
  type Frontier,
  frontierRoot,
  leafHash,
} from "../../src/integrity/merkle.ts";
import { hashBytes, toHex } from "../../src/integrity/sha256.ts";
import { deepFreeze } from "../../src/util/deep_freeze.ts";
import { type BenchContext, fmtMs, type Suite } from "./harness.ts";
import { inputs, PAYLOAD, randomDek } from "./engine_bench.ts";

/** Microseconds per call of `fn`, the best of `rounds` loops of `n` calls. */
function perCall(n: number, rounds: number, fn: (i: number) => unknown): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, ((performance.now() - start) * 1000) / n);
  }
  return best;
}

async function runParts(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 5_000 : 50_000;
  const rounds = ctx.quick ? 3 : 7;
  const dek = randomDek();
  const payloadJson = canonicalJson(PAYLOAD);
  const metadata = {
    event_id: crypto.randomUUID(),
    created_at: new Date().toISOString(),
    issued_by: { group: "bench", user: "bench" },
  };
  const partial = {
    aggregate_type: "customer",
    aggregate_id: "c-1",
    event_type: "customer-updated",
    payload: PAYLOAD,
    metadata,
    version: 500_001,
  };
  // A frontier of an aggregate at about version 500k: as many nodes as its set bits.
  let frontier: Frontier = emptyFrontier();
  const leaf = leafHash(hashBytes("00".repeat(32)));
  const frontierAt = (size: number): Frontier => {
    const nodes: Uint8Array[] = [];
    for (let bit = 31; bit >= 0; bit--) if (size & (1 << bit)) nodes.push(leaf);
    return { size, nodes };
  };
  frontier = frontierAt(500_000);
  const hash = hashWithPayload(partial, payloadJson);
  const root = toHex(frontierRoot(frontier));
  const record: EventRecord = { ...partial, hash, merkle_root: root, position: 1 };
  const key = eventKey("customer", "c-1", 500_001);
  const head: StoredHead = {
    version: 500_001,
    merkle_root: root,
    frontier: frontier.nodes.map(toHex),
    archived: false,
    created_at: metadata.created_at,
    updated_at: metadata.created_at,
  };
  const sealedState = new Uint8Array(300);
  const steps: [string, (i: number) => unknown][] = [
    ["canonical payload JSON", () => canonicalJson(PAYLOAD)],
    ["payload parsed back (the record's own)", () => JSON.parse(payloadJson)],
    ["event hash (SHA-256 of the canonical event)", () => hashWithPayload(partial, payloadJson)],
    [
      "Merkle leaf, append and root (at v500k)",
      () => toHex(frontierRoot(appendLeaf(frontier, leafHash(hashBytes(hash))))),
    ],
    ["record frozen", () => deepFreeze({ ...record, payload: JSON.parse(payloadJson) })],
    ["value encoded and sealed (AES-256-GCM)", () => encodeEvent(record, key, dek, payloadJson)],
    ["state folded", () => foldPayload(PAYLOAD, PAYLOAD)],
    ["head value encoded", () => encodeHeadValue(head, sealedState)],
  ];
  const figures: Record<string, number> = {};
  for (const [name, fn] of steps) {
    figures[name] = perCall(n, rounds, fn);
    ctx.log(`${name}: ${fmtMs(figures[name] / 1000)}`);
  }
  const sumOfSteps = Object.values(figures).reduce((a, b) => a + b, 0);

  const engine = await Engine.open({ dataDir: await ctx.tempDir("parts"), dek });
  try {
    const batch = inputs("customer", "parts-1", 1000);
    for (let i = 0; i < 3; i++) await engine.appendBatch(batch);
    let best = Infinity;
    for (let r = 0; r < (ctx.quick ? 5 : 20); r++) {
      const start = performance.now();
      await engine.appendBatch(batch);
      best = Math.min(best, ((performance.now() - start) * 1000) / batch.length);
    }
    ctx.log(
      `sum of the steps ${fmtMs(sumOfSteps / 1000)} per event; appendBatch of 1,000 ` +
        `${fmtMs(best / 1000)} per event (best of the rounds, the synced write included)`,
    );
    ctx.record({
      id: "1p",
      title: "engine steps per event (sum) vs a whole batched append per event",
      measured: `steps ${fmtMs(sumOfSteps / 1000)}`,
      baseline: `appendBatch ${fmtMs(best / 1000)}`,
      ratio: sumOfSteps / best,
      comparison: ">=",
      threshold: 0,
      informational: true,
      details: { step_us: figures, sum_of_steps_us: sumOfSteps, append_batch_us_per_event: best },
    });
  } finally {
    await engine.close();
  }
}

/** Register in main.ts with `...partsSuites` in SUITES. */
export const partsSuites: Suite[] = [
  {
    name: "parts",
    description: "1p: the engine's JS per event, step by step, beside a whole batched append",
    run: runParts,
  },
];
