/**
 * Whole-store verification on a store whose aggregates are interleaved (every index record
 * names many aggregates, every aggregate's events lie in many records), as `dbx verify` and
 * restore run it: one engine verifies every aggregate, then the global position index.
 *
 * - It reads each index record about once, not once per aggregate (the cost that made a
 *   whole-store verify grow with aggregates × index size), and the index check reads no
 *   event the aggregates' verifies just confirmed.
 * - What the engine keeps between those verifies changes no finding: on a tampered store,
 *   every aggregate's result and the index check equal those of cold verifies (a fresh
 *   engine, nothing kept).
 */
import { Engine, storePath } from "../../src/engine/engine.ts";
import { decodeHead } from "../../src/engine/codec.ts";
import { headKey, PREFIX } from "../../src/engine/keys.ts";
import { verifyAggregate } from "../../src/engine/verify.ts";
import type { PositionCheck } from "../../src/engine/verify_index.ts";
import type { VerifyResult } from "../../src/engine/types.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import type { RangeOptions, Storage } from "../../src/store/storage.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { event, randomDek, withTempDir } from "./helpers.ts";
import {
  addDanglingEntry,
  positionOf,
  rewindLastEvent,
  setEventPosition,
} from "./_verify_tamper.ts";

const T = "customer";
const AGGREGATES = 120;
const BATCHES = 30;
const BATCH = 40;
const id = (n: number) => `c-${n}`;

/** What was read through a storage, by the first byte of the key. */
class Reads {
  /** Entries read by range scans that start in the index. */
  indexEntries = 0;
  /** Event keys asked for with `get`/`getMany`. */
  eventGets = 0;

  reset(): void {
    this.indexEntries = 0;
    this.eventGets = 0;
  }
}

/** The real storage, with its reads counted. */
function counted(inner: Storage, reads: Reads): Storage {
  const isEvent = (key: Uint8Array) => key[0] === PREFIX.event;
  return {
    get: (key) => {
      if (isEvent(key)) reads.eventGets++;
      return inner.get(key);
    },
    getMany: (keys) => {
      reads.eventGets += keys.filter(isEvent).length;
      return inner.getMany(keys);
    },
    write: (ops, options) => inner.write(ops, options),
    close: () => inner.close(),
    range(options: RangeOptions) {
      const start = options.gte ?? options.gt ?? options.lte ?? options.lt;
      const index = start?.[0] === PREFIX.position;
      return (async function* () {
        for await (const entry of inner.range(options)) {
          if (index) reads.indexEntries++;
          yield entry;
        }
      })();
    },
  };
}

/** Batches that each touch BATCH consecutive aggregates of AGGREGATES, round robin. */
async function fill(engine: Engine): Promise<void> {
  for (let b = 0; b < BATCHES; b++) {
    const inputs = [];
    for (let i = 0; i < BATCH; i++) {
      const n = (b * BATCH + i) % AGGREGATES;
      inputs.push(event(T, id(n), { n, b, [`f${b % 4}`]: i }));
    }
    await engine.appendBatch(inputs);
  }
}

/** One engine, every aggregate then the whole index: as `dbx verify` runs it. */
async function verifyStore(
  engine: Engine,
): Promise<{ aggregates: VerifyResult[]; index: PositionCheck[] }> {
  const aggregates: VerifyResult[] = [];
  for (let n = 0; n < AGGREGATES; n++) aggregates.push(await engine.verify(T, id(n)));
  const index: PositionCheck[] = [];
  for (let from: number | undefined = 1; from !== undefined;) {
    const page = await engine.verifyPositions({ from, take: 300 });
    index.push(page);
    from = page.next;
  }
  return { aggregates, index };
}

async function withStore(
  fn: (dir: string, dek: Uint8Array, reads: Reads) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const dek = randomDek();
    const engine = await Engine.open({ dataDir: dir, dek });
    try {
      await fill(engine);
    } finally {
      await engine.close();
    }
    await fn(dir, dek, new Reads());
  }, "dbx-verify-scale-");
}

async function withEngineOn<T>(
  dir: string,
  dek: Uint8Array,
  reads: Reads,
  fn: (engine: Engine, storage: Storage) => Promise<T>,
): Promise<T> {
  const storage = counted(await openRocksStorage(storePath(dir)), reads);
  const engine = await Engine.open({ storage, dek });
  try {
    return await fn(engine, storage);
  } finally {
    await engine.close();
  }
}

Deno.test("verify store: each index record is read about once, not once per aggregate", async () => {
  await withStore(async (dir, dek, reads) => {
    await withEngineOn(dir, dek, reads, async (engine) => {
      const { aggregates, index } = await verifyStore(engine);
      assert(
        aggregates.every((r) => r.verified),
        JSON.stringify(aggregates.find((r) => !r.verified)),
      );
      assert(index.every((p) => p.verified), JSON.stringify(index.flatMap((p) => p.problems)));
      const indexed = index.reduce((n, p) => n + p.entries, 0);
      assertEquals(indexed, BATCHES * BATCH);
      // Each record holds BATCH entries; an aggregate's events lie in BATCHES × BATCH /
      // AGGREGATES of them. Read once per aggregate, that would be ~AGGREGATES × 10 records:
      // once for the aggregates, once more for the index check (and a little read-ahead).
      const records = BATCHES;
      assert(
        reads.indexEntries <= 4 * records,
        `${reads.indexEntries} index records read for ${records} records and ${AGGREGATES} aggregates`,
      );
      // The aggregates' verifies read their events by range; the index check then reads none.
      assertEquals(reads.eventGets, 0, "events read again by the index check");
    });
  });
});

Deno.test("verify store: what a warm engine keeps changes no finding on a tampered store", async () => {
  await withStore(async (dir, dek, reads) => {
    // Tampering, as in the coverage suite, on a store of interleaved aggregates.
    await withEngineOn(dir, dek, reads, async (_engine, storage) => {
      // c-5 event 3 claims the position of c-6 event 2 (the hash does not cover it).
      await setEventPosition(storage, T, id(5), 3, await positionOf(storage, T, id(6), 2));
      // An entry after the last position naming an event of c-7 that does not exist.
      await addDanglingEntry(storage, T, id(7), 99);
      // c-9's last event removed and its head rewound: the index still names the event.
      await rewindLastEvent(storage, dek, T, id(9));
    });
    const warm = await withEngineOn(dir, dek, reads, (engine) => verifyStore(engine));
    // Cold: each aggregate verified with nothing kept, the index checked by a fresh engine.
    const cold = await withEngineOn(dir, dek, reads, async (engine, storage) => {
      const aggregates: VerifyResult[] = [];
      for (let n = 0; n < AGGREGATES; n++) {
        const head = decodeHead((await storage.get(headKey(T, id(n))))!);
        aggregates.push(await verifyAggregate(storage, dek, T, id(n), head));
      }
      const index: PositionCheck[] = [];
      for (let from: number | undefined = 1; from !== undefined;) {
        const page = await engine.verifyPositions({ from, take: 300 });
        index.push(page);
        from = page.next;
      }
      return { aggregates, index };
    });
    assertEquals(warm.aggregates, cold.aggregates);
    assertEquals(warm.index, cold.index);
    const bad = warm.aggregates.filter((r) => !r.verified).map((r) => r.aggregate_id);
    assertEquals(bad.sort(), [id(5), id(7), id(9)].sort());
    const problems = warm.index.flatMap((p) => p.problems);
    const named = (who: string) => problems.filter((p) => p.aggregate_id === who);
    assert(named(id(5)).some((p) => /stored at position/.test(p.reason)), JSON.stringify(problems));
    assert(named(id(7)).some((p) => /dangling/.test(p.reason)), JSON.stringify(problems));
    assert(named(id(9)).some((p) => /does not exist/.test(p.reason)), JSON.stringify(problems));
  });
});
