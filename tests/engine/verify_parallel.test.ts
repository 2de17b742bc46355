/**
 * `verify` on worker threads: the same verdict, first bad version and reason as
 * the single-threaded pass for every kind of tampering, at chunk boundaries and
 * across the two worker phases, and never a verdict when a worker fails.
 */
import { decodeEvent, decodeHead, encodeEvent, replaceHead } from "../../src/engine/codec.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { eventHash } from "../../src/engine/event_hash.ts";
import { eventKey, headKey } from "../../src/engine/keys.ts";
import type { VerifyResult } from "../../src/engine/types.ts";
import { PARALLEL_ABOVE, verifyAggregate, type VerifyOptions } from "../../src/engine/verify.ts";
import { assert, assertEquals, assertNotEquals, assertRejects } from "../_helpers/assert.ts";
import { type EngineContext, event, withEngine } from "./helpers.ts";

const TYPE = "ledger";
const ID = "big";
/** Six chunks of 512 events on two workers, the last one partial. */
const N = 2900;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The context of the engine under test: its storage, to read and alter stored bytes. */
let stored: EngineContext;

/** The parallel path for any size, failing rather than falling back to one thread. */
const PARALLEL: VerifyOptions = { parallelAbove: 0, workers: 2, requireWorkers: true };
const SINGLE: VerifyOptions = { parallelAbove: Infinity };

async function appendEvents(engine: Engine, id: string, count: number): Promise<void> {
  for (let done = 0; done < count; done += 1000) {
    const batch = Math.min(1000, count - done);
    await engine.appendBatch(
      Array.from({ length: batch }, (_, i) => event(TYPE, id, { n: done + i + 1, label: "x" })),
    );
  }
}

/** Run `fn` on an engine holding ledger/big with N events (and a small ledger/other). */
function withBigAggregate(
  fn: (engine: Engine, dek: Uint8Array) => Promise<void>,
): Promise<void> {
  return withEngine(async (engine, ctx) => {
    stored = ctx;
    const dek = ctx.dek;
    await appendEvents(engine, ID, N);
    await appendEvents(engine, "other", 3);
    await fn(engine, dek);
  });
}

async function verifyWith(dek: Uint8Array, options: VerifyOptions, id = ID): Promise<VerifyResult> {
  const head = decodeHead((await stored.storage.get(headKey(TYPE, id)))!);
  return await verifyAggregate(stored.storage, dek, TYPE, id, head, options);
}

/** Verify on workers and on one thread: both must agree exactly; returns the result. */
async function verifyBoth(engine: Engine, dek: Uint8Array): Promise<VerifyResult> {
  const parallel = await verifyWith(dek, PARALLEL);
  const single = await verifyWith(dek, SINGLE);
  assertEquals(parallel, single, "workers and one thread disagree");
  assertEquals(await engine.verify(TYPE, ID), single, "Engine.verify disagrees");
  return parallel;
}

function assertBadAt(result: VerifyResult, version: number, reason: RegExp): void {
  assertEquals(result.verified, false, "tampering went unnoticed");
  assertEquals(result.first_bad_version, version, result.reason);
  assert(reason.test(result.reason ?? ""), result.reason);
}

async function readValue(version: number): Promise<Uint8Array> {
  const value = await stored.storage.get(eventKey(TYPE, ID, version));
  assert(value, `event ${version} is missing before tampering`);
  return Uint8Array.from(value);
}

async function putValue(version: number, value: Uint8Array): Promise<void> {
  await stored.storage.write([{ type: "put", key: eventKey(TYPE, ID, version), value }], {
    sync: true,
  });
}

/** Rewrite the header JSON of a stored event value, keeping its sealed payload. */
function editHeader(value: Uint8Array, edit: (header: string) => string): Uint8Array {
  const view = new DataView(value.buffer, value.byteOffset, value.length);
  const length = view.getUint32(0);
  const header = dec.decode(value.subarray(4, 4 + length));
  const edited = enc.encode(edit(header));
  assertNotEquals(dec.decode(edited), header, "the edit changed nothing");
  const out = new Uint8Array(4 + edited.length + value.length - 4 - length);
  new DataView(out.buffer).setUint32(0, edited.length);
  out.set(edited, 4);
  out.set(value.subarray(4 + length), 4 + edited.length);
  return out;
}

/** Change the last hex digit of a header field holding a hash. */
async function alterHexField(version: number, field: string): Promise<void> {
  const value = await readValue(version);
  await putValue(
    version,
    editHeader(
      value,
      (h) =>
        h.replace(
          new RegExp(`("${field}":"[0-9a-f]{63})([0-9a-f])"`),
          (_, head, last) => `${head}${last === "0" ? "1" : "0"}"`,
        ),
    ),
  );
}

/** Forge event `version`'s payload with a matching hash: only its stored root can tell. */
async function forgeConsistently(dek: Uint8Array, version: number) {
  const key = eventKey(TYPE, ID, version);
  const record = decodeEvent(TYPE, ID, await readValue(version), key, dek);
  const forged = { ...record, payload: { n: version, label: "forged" } };
  forged.hash = eventHash(forged);
  await putValue(version, encodeEvent(forged, key, dek));
}

Deno.test("verify on workers: an intact large aggregate verifies, with its head's root", async () => {
  await withBigAggregate(async (engine, dek) => {
    const result = await verifyBoth(engine, dek);
    assertEquals(result.verified, true, result.reason);
    assertEquals(result.version, N);
    const head = decodeHead((await stored.storage.get(headKey(TYPE, ID)))!);
    assertEquals(result.merkle_root, head.merkle_root);
    for (const workers of [1, 3]) {
      assertEquals(await verifyWith(dek, { ...PARALLEL, workers }), result, `${workers}`);
    }
  });
});

Deno.test("verify on workers: an aggregate above the threshold verifies through Engine.verify", async () => {
  await withEngine(async (engine, ctx) => {
    stored = ctx;
    await appendEvents(engine, ID, PARALLEL_ABOVE + 1);
    const result = await engine.verify(TYPE, ID);
    assertEquals(result.verified, true, result.reason);
    assertEquals(result.version, PARALLEL_ABOVE + 1);
    // Tampering far into it is found at the exact version.
    const k = PARALLEL_ABOVE - 7;
    const value = await readValue(k);
    value[value.length - 3] ^= 0x10;
    await putValue(k, value);
    assertBadAt(await engine.verify(TYPE, ID), k, /decrypt|altered/);
  });
});

Deno.test("verify on workers: a flipped payload byte in the middle", async () => {
  await withBigAggregate(async (engine, dek) => {
    const k = 1500;
    const value = await readValue(k);
    value[value.length - 20] ^= 0x01;
    await putValue(k, value);
    assertBadAt(await verifyBoth(engine, dek), k, /decrypt|altered/);
  });
});

Deno.test("verify on workers: a changed header hash, on a chunk's first event", async () => {
  await withBigAggregate(async (engine, dek) => {
    const k = 1025; // chunk 3 starts here
    await alterHexField(k, "hash");
    assertBadAt(await verifyBoth(engine, dek), k, /does not match its hash/);
  });
});

Deno.test("verify on workers: an event deleted from the middle", async () => {
  await withBigAggregate(async (engine, dek) => {
    const k = 2000;
    await stored.storage.write([{ type: "del", key: eventKey(TYPE, ID, k) }], { sync: true });
    assertBadAt(await verifyBoth(engine, dek), k, /missing/);
  });
});

Deno.test("verify on workers: two events swapped, across a chunk boundary", async () => {
  await withBigAggregate(async (engine, dek) => {
    const k = 512; // the last event of chunk 1 and the first of chunk 2
    const [a, b] = [await readValue(k), await readValue(k + 1)];
    await stored.storage.write([
      { type: "put", key: eventKey(TYPE, ID, k), value: b },
      { type: "put", key: eventKey(TYPE, ID, k + 1), value: a },
    ], { sync: true });
    assertBadAt(await verifyBoth(engine, dek), k, /./);
  });
});

Deno.test("verify on workers: payload and hash forged consistently, only the root tells", async () => {
  await withBigAggregate(async (engine, dek) => {
    const k = 2500;
    await forgeConsistently(dek, k);
    assertBadAt(await verifyBoth(engine, dek), k, /Merkle root stored with event/);
  });
});

Deno.test("verify on workers: a stored root changed, on a chunk's last event", async () => {
  await withBigAggregate(async (engine, dek) => {
    const k = 1536;
    await alterHexField(k, "merkle_root");
    assertBadAt(await verifyBoth(engine, dek), k, /Merkle root stored with event/);
  });
});

Deno.test("verify on workers: a stored root that is not hex", async () => {
  await withBigAggregate(async (engine, dek) => {
    const k = 700;
    const value = await readValue(k);
    await putValue(
      k,
      editHeader(value, (h) => h.replace(/"merkle_root":"[^"]*"/, '"merkle_root":"nope"')),
    );
    assertBadAt(await verifyBoth(engine, dek), k, /Merkle root stored with event/);
  });
});

Deno.test("verify on workers: the earliest of several tamperings wins, whichever phase finds it", async () => {
  await withBigAggregate(async (engine, dek) => {
    // A root failure (phase 2) before hash failures (phase 1) in its chunk and the next…
    await forgeConsistently(dek, 900);
    await alterHexField(1000, "hash");
    await alterHexField(1300, "hash");
    assertBadAt(await verifyBoth(engine, dek), 900, /Merkle/);
    // …and a hash failure before a root failure in the same chunk.
    await alterHexField(880, "hash");
    assertBadAt(await verifyBoth(engine, dek), 880, /hash/);
    // A failure in the first event beats everything.
    await alterHexField(1, "merkle_root");
    assertBadAt(await verifyBoth(engine, dek), 1, /Merkle/);
  });
});

Deno.test("verify on workers: truncation, an extra event and a forged head root", async () => {
  await withBigAggregate(async (engine, dek) => {
    const last = await readValue(N);
    await stored.storage.write([{ type: "del", key: eventKey(TYPE, ID, N) }], { sync: true });
    assertBadAt(await verifyBoth(engine, dek), N, /version 2900 but 2899 events/);

    await putValue(N, last);
    const extra = editHeader(last, (h) => h.replace(`"version":${N}`, `"version":${N + 1}`));
    await stored.storage.write([{ type: "put", key: eventKey(TYPE, ID, N + 1), value: extra }], {
      sync: true,
    });
    assertBadAt(await verifyBoth(engine, dek), N + 1, /./);

    await stored.storage.write([{ type: "del", key: eventKey(TYPE, ID, N + 1) }], { sync: true });
    const headValue = (await stored.storage.get(headKey(TYPE, ID)))!;
    const head = decodeHead(headValue);
    const realRoot = head.merkle_root;
    head.merkle_root = "ab".repeat(32);
    await stored.storage.write([
      { type: "put", key: headKey(TYPE, ID), value: replaceHead(headValue, head) },
    ], { sync: true });
    const result = await verifyBoth(engine, dek);
    assertBadAt(result, N, /root does not match its events/);
    assertEquals(result.merkle_root, realRoot, "the recomputed root is reported");
  });
});

// --- worker failures ------------------------------------------------------------

/** A worker module that starts normally, then throws on its first chunk of events. */
const CRASHING_WORKER = "data:text/javascript," + encodeURIComponent(`
  self.postMessage({ kind: "ready" });
  self.onmessage = (e) => {
    if (e.data.kind === "chunk") throw new Error("injected worker failure");
  };
`);

/** A worker module that starts, then reports an error instead of checking. */
const REFUSING_WORKER = "data:text/javascript," + encodeURIComponent(`
  self.postMessage({ kind: "ready" });
  self.onmessage = (e) => {
    if (e.data.kind === "chunk") self.postMessage({ kind: "error", message: "cannot check" });
  };
`);

/** A worker module that replies with a chunk number it was never sent. */
const CONFUSED_WORKER = "data:text/javascript," + encodeURIComponent(`
  self.postMessage({ kind: "ready" });
  self.onmessage = (e) => {
    if (e.data.kind === "chunk") {
      self.postMessage({ kind: "checked", seq: 999, failedAt: -1, leaves: new Uint8Array(0) });
    }
  };
`);

/** A worker module that claims a whole chunk passed, without the leaves to show for it. */
const HOLLOW_WORKER = "data:text/javascript," + encodeURIComponent(`
  self.postMessage({ kind: "ready" });
  self.onmessage = (e) => {
    if (e.data.kind === "chunk") {
      self.postMessage({ kind: "checked", seq: e.data.seq, failedAt: -1, leaves: new Uint8Array(0) });
    }
  };
`);

Deno.test("verify on workers: a worker that fails fails the verify, never verifies", async () => {
  await withBigAggregate(async (_engine, dek) => {
    for (const workerUrl of [CRASHING_WORKER, REFUSING_WORKER, CONFUSED_WORKER, HOLLOW_WORKER]) {
      const err = await assertRejects(
        () => verifyWith(dek, { ...PARALLEL, workerUrl }),
        "internal",
      );
      assert(err.message.includes("worker"), err.message);
    }
    // The engine and its store are fine afterwards.
    assertEquals((await verifyWith(dek, PARALLEL)).verified, true);
  });
});

Deno.test("verify on workers: workers that cannot start leave the verify to one thread", async () => {
  await withBigAggregate(async (_engine, dek) => {
    const missing = new URL("./no_such_verify_worker.ts", import.meta.url).href;
    const k = 1234;
    await forgeConsistently(dek, k);
    const expected = await verifyWith(dek, SINGLE);
    assertBadAt(expected, k, /Merkle/);
    assertEquals(await verifyWith(dek, { parallelAbove: 0, workerUrl: missing }), expected);
    await assertRejects(
      () => verifyWith(dek, { ...PARALLEL, workerUrl: missing }),
      "unavailable",
    );
  });
});
