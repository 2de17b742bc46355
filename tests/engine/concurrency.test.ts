/**
 * The single writer under load: versions and positions stay gap-free, optimistic
 * concurrency lets exactly one of many racing writers win, and the commit pipeline never
 * has two synced writes in flight.
 */
import { Engine, storePath } from "../../src/engine/engine.ts";
import type { EventRecord } from "../../src/engine/types.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import type { Storage } from "../../src/store/storage.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import {
  event,
  foldEvents,
  randomDek,
  range1,
  settle,
  withEngine,
  withTempDir,
} from "./helpers.ts";

const byNumber = (a: number, b: number) => a - b;

Deno.test("1,000 concurrent appends to one aggregate get versions 1..1000", async () => {
  await withEngine(async (engine) => {
    const records = await Promise.all(
      range1(1000).map((i) => engine.append(event("t", "1", { [`k${i % 7}`]: i, i }))),
    );
    assertEquals(records.map((r) => r.version).sort(byNumber), range1(1000));
    assertEquals(records.map((r) => r.position).sort(byNumber), range1(1000));
    // Within one aggregate, version order is position order.
    for (const r of records) assertEquals(r.position, r.version);

    const listed = await engine.listEvents("t", "1", { take: 5000 });
    assertEquals(listed.map((e) => e.version), range1(1000));
    const byVersion = new Map(records.map((r) => [r.version, r]));
    for (const e of listed) assertEquals(e, byVersion.get(e.version));

    const agg = await engine.getAggregate("t", "1");
    assertEquals(agg.version, 1000);
    assertEquals(agg.state, foldEvents(listed));
    assertEquals(agg.merkle_root, listed[999].merkle_root);
    const result = await engine.verify("t", "1");
    assertEquals(result.verified, true, result.reason);
    assertEquals(result.version, 1000);
    assertEquals(await engine.lastPosition(), 1000);
  });
});

/** Per-aggregate gap-free versions and global positions exactly 1..n. */
async function assertGapFree(engine: Engine, records: EventRecord[], n: number): Promise<void> {
  assertEquals(records.map((r) => r.position).sort(byNumber), range1(n));
  const perAggregate = new Map<string, number[]>();
  for (const r of records) {
    const key = `${r.aggregate_type}/${r.aggregate_id}`;
    perAggregate.set(key, [...(perAggregate.get(key) ?? []), r.version]);
  }
  for (const [key, versions] of perAggregate) {
    assertEquals(versions.sort(byNumber), range1(versions.length), key);
    const [type, id] = key.split("/");
    const listed = await engine.listEvents(type, id, { take: 5000 });
    assertEquals(listed.map((e) => e.version), range1(versions.length), key);
    // Positions rise with versions inside each aggregate.
    for (let i = 1; i < listed.length; i++) {
      assert(listed[i].position > listed[i - 1].position, key);
    }
    const result = await engine.verify(type, id);
    assertEquals(result.verified, true, `${key}: ${result.reason}`);
    assertEquals(result.version, versions.length, key);
  }
  const global = await engine.eventsAfter(0, 100_000);
  assertEquals(global.map((e) => e.position), range1(n));
  assertEquals(await engine.lastPosition(), n);
}

Deno.test("1,000 concurrent appends over 50 aggregates: gap-free versions and positions", async () => {
  await withEngine(async (engine) => {
    const records = await Promise.all(
      range1(1000).map((i) => {
        const aggregate = i % 50;
        return engine.append(
          event(`type${aggregate % 5}`, `id${Math.floor(aggregate / 5)}`, { i }),
        );
      }),
    );
    await assertGapFree(engine, records, 1000);
    assertEquals((await engine.listAggregates({ take: 100 })).length, 50);
  });
});

Deno.test("gap-free under load even when the head cache is smaller than the working set", async () => {
  await withEngine(async (engine, ctx) => {
    const mixed = range1(600).map((i) =>
      i % 10 === 0
        ? engine.appendBatch([event("b", `${i % 37}`, { i }), event("c", `${i % 41}`, { i })])
        : engine.append(event("a", `${i % 43}`, { i }))
    );
    const records = (await Promise.all(mixed)).flat();
    assertEquals(records.length, 660);
    await assertGapFree(engine, records, 660);
    // A second wave after a restart continues exactly where the first stopped.
    const reopened = await ctx.reopen();
    const more = await Promise.all(
      range1(200).map((i) => reopened.append(event("a", `${i % 43}`, { i }))),
    );
    await assertGapFree(reopened, [...records, ...more], 860);
  }, { cacheSize: 4 });
});

Deno.test("racing expected_version writers: exactly one wins each round", async () => {
  await withEngine(async (engine) => {
    await engine.append(event("t", "1", { winner: "none" }));
    for (const round of range1(5)) {
      const current = (await engine.getAggregate("t", "1")).version;
      const results = await Promise.allSettled(
        range1(50).map((writer) =>
          engine.append(
            event("t", "1", { winner: `${round}-${writer}` }, { expected_version: current }),
          )
        ),
      );
      const { ok, codes } = settle(results);
      assertEquals(ok.length, 1, `round ${round}`);
      assertEquals(codes.length, 49, `round ${round}`);
      assert(codes.every((c) => c === "conflict"), codes.join());
      assertEquals(ok[0].version, current + 1);
      const agg = await engine.getAggregate("t", "1");
      assertEquals(agg.version, current + 1);
      assertEquals(agg.state.winner, ok[0].payload.winner);
    }
    assertEquals(await engine.lastPosition(), 6);
    assertEquals((await engine.listEvents("t", "1")).map((e) => e.version), range1(6));
    assert((await engine.verify("t", "1")).verified);
  });
});

Deno.test("racing writers on a new aggregate with expected_version 0: one creates it", async () => {
  await withEngine(async (engine) => {
    for (const id of ["a", "b", "c"]) {
      const results = await Promise.allSettled(
        range1(50).map((w) => engine.append(event("t", id, { w }, { expected_version: 0 }))),
      );
      const { ok, codes } = settle(results);
      assertEquals(ok.length, 1, id);
      assertEquals(codes.filter((c) => c === "conflict").length, 49, id);
      assertEquals((await engine.getAggregate("t", id)).version, 1);
    }
    assertEquals(await engine.lastPosition(), 3);
  });
});

Deno.test("racing writers spread over rounds: each expected version is taken exactly once", async () => {
  await withEngine(async (engine) => {
    // Writers start at different times, so they land in different writer rounds.
    const attempts = range1(200).map(async (i) => {
      if (i % 2 === 0) await new Promise((resolve) => setTimeout(resolve, i % 7));
      return engine.append(event("t", "1", { i }, { expected_version: i % 10 }));
    });
    const { ok, codes } = settle(await Promise.allSettled(attempts));
    assert(codes.every((c) => c === "conflict"), codes.join());
    assert(ok.length >= 1 && ok.length <= 10, `${ok.length} winners`);
    const versions = ok.map((r) => r.version).sort(byNumber);
    assertEquals(versions, range1(versions.length));
    for (const r of ok) assertEquals(r.payload.i as number % 10, r.version - 1);
    assertEquals(ok.length + codes.length, 200);
    assert((await engine.verify("t", "1")).verified);
  });
});

Deno.test("the writer keeps one synced write in flight while it prepares rounds on top of it", async () => {
  // The binding runs each write on any thread of a pool, so two writes in flight can reach
  // RocksDB in either order (seen: 9 of 1,000 pairs), and a later head could be overwritten
  // by an earlier one. The pipeline overlaps preparation with the write, never two writes.
  await withTempDir(async (dir) => {
    const inner = await openRocksStorage(storePath(dir));
    let inFlight = 0;
    let most = 0;
    const storage: Storage = {
      get: (key) => inner.get(key),
      getMany: (keys) => inner.getMany(keys),
      range: (options) => inner.range(options),
      close: () => inner.close(),
      async write(ops, options) {
        most = Math.max(most, ++inFlight);
        try {
          await inner.write(ops, options);
        } finally {
          inFlight--;
        }
      },
    };
    const engine = await Engine.open({ storage, dek: randomDek() });
    try {
      const pause = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
      const records = (await Promise.all(
        range1(64).map(async (w) => {
          const mine: EventRecord[] = [];
          for (let i = 0; i < 20; i++) {
            if (w % 2 === 0) await pause();
            mine.push(await engine.append(event("t", `${w % 16}`, { w, i })));
          }
          return mine;
        }),
      )).flat();
      const stats = engine.writeStats();
      assertEquals(most, 1, "synced writes in flight at once");
      assert(
        stats.rounds > stats.writes,
        `no overlap: ${stats.rounds} rounds, ${stats.writes} writes`,
      );
      assertEquals(stats.events, 64 * 20);
      await assertGapFree(engine, records, 64 * 20);
    } finally {
      await engine.close();
    }
  }, "dbx-engine-test-");
});
