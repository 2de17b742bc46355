/**
 * `verify` covers every stored byte a client can read (SPEC §8): the head's sealed state,
 * every snapshot and the global position index, on one thread and on workers alike; and a
 * read that meets an undecryptable or inconsistent record answers an "integrity" error
 * naming the aggregate and version.
 */
import type { Engine } from "../../src/engine/engine.ts";
import { decodeHead } from "../../src/engine/codec.ts";
import { eventKey, headKey, snapshotKey } from "../../src/engine/keys.ts";
import type { VerifyResult } from "../../src/engine/types.ts";
import { verifyAggregate, type VerifyOptions } from "../../src/engine/verify.ts";
import { assert, assertEquals, assertRejects } from "../_helpers/assert.ts";
import { type EngineContext, event, foldEvents, withEngine } from "./helpers.ts";
import {
  addDanglingEntry,
  flipHeadState,
  flipSnapshot,
  lastPosition,
  positionOf,
  removeIndexRecordOf,
  resealHeadState,
  resealSnapshot,
  rewindLastEvent,
  sealedAt,
  setEventPosition,
} from "./_verify_tamper.ts";

const T = "patient";
const PARALLEL: VerifyOptions = { parallelAbove: 0, workers: 2, requireWorkers: true };
const SINGLE: VerifyOptions = { parallelAbove: Infinity };

/** `count` single appends to T/id (each its own index record), with distinct fields. */
async function appendSome(engine: Engine, id: string, count: number, from = 1): Promise<void> {
  for (let n = from; n < from + count; n++) {
    await engine.append(event(T, id, { n, [`f${n % 3}`]: `v${n}`, nested: { n, tags: [n] } }));
  }
}

/** Verify on one thread, on workers and through the engine: all three must agree. */
async function verifyAll(engine: Engine, ctx: EngineContext, id: string): Promise<VerifyResult> {
  const value = (await ctx.storage.get(headKey(T, id)))!;
  const head = decodeHead(value);
  const single = await verifyAggregate(ctx.storage, ctx.dek, T, id, head, SINGLE);
  const parallel = await verifyAggregate(ctx.storage, ctx.dek, T, id, head, PARALLEL);
  assertEquals(parallel, single, "workers and one thread disagree");
  assertEquals(await engine.verify(T, id), single, "Engine.verify disagrees");
  return single;
}

function assertBadAt(result: VerifyResult, version: number, reason: RegExp): void {
  assertEquals(result.verified, false, `tampering went unnoticed: ${JSON.stringify(result)}`);
  assertEquals(result.first_bad_version, version, result.reason);
  assert(reason.test(result.reason ?? ""), result.reason);
}

/** Tamper with the store, then reopen (nothing cached) and run `check` on the fresh engine. */
async function tampered(
  setup: (engine: Engine) => Promise<void>,
  tamper: (ctx: EngineContext) => Promise<void>,
  check: (engine: Engine, ctx: EngineContext) => Promise<void>,
): Promise<void> {
  await withEngine(async (engine, ctx) => {
    await setup(engine);
    await tamper(ctx);
    await check(await ctx.reopen(), ctx);
  });
}

Deno.test("coverage: a clean store verifies everywhere, also the index", async () => {
  await withEngine(async (engine, ctx) => {
    await appendSome(engine, "p-1", 20);
    await engine.snapshot(T, "p-1");
    await appendSome(engine, "p-2", 3);
    await engine.appendBatch([event(T, "p-1", { x: 1 }), event(T, "p-3", { y: 2 })]);
    for (const id of ["p-1", "p-2", "p-3"]) {
      const result = await verifyAll(engine, ctx, id);
      assertEquals(result.verified, true, result.reason);
    }
    const index = await engine.verifyPositions();
    assertEquals(index.verified, true, JSON.stringify(index.problems));
    assertEquals(index.next, undefined);
    assertEquals(index.entries, 25);
    assertEquals(index.events, 25);
    assertEquals(index.aggregates, 3);
    assertEquals(index.snapshots, 1);
    assertEquals(index.last_position, 25);
    // Paged: every page ends at a record boundary, and together they cover the index.
    const pages = [];
    for (let from: number | undefined = 1; from !== undefined;) {
      const page = await engine.verifyPositions({ from, take: 4 });
      assertEquals(page.verified, true, JSON.stringify(page.problems));
      pages.push(page);
      from = page.next;
    }
    assertEquals(pages.reduce((n, p) => n + p.entries, 0), 25);
    assertEquals(pages[pages.length - 1].to, 25);
  });
});

Deno.test("coverage: a field named __proto__ is rebuilt as the writer folds it", async () => {
  await withEngine(async (engine, ctx) => {
    for (let n = 0; n < 10; n++) {
      await engine.append(event(T, "p-1", JSON.parse(`{"__proto__":{"n":${n}},"a":${n}}`)));
    }
    await engine.snapshot(T, "p-1");
    await engine.append(event(T, "p-1", { b: 1 }));
    assertEquals((await verifyAll(engine, ctx, "p-1")).verified, true);
  });
});

Deno.test("coverage: a flipped byte in the head's sealed state", async () => {
  await tampered(
    (engine) => appendSome(engine, "p-1", 10),
    (ctx) => flipHeadState(ctx.storage, T, "p-1"),
    async (engine, ctx) => {
      const at = await sealedAt(ctx.storage, T, "p-1");
      assertEquals(at, 8);
      assertBadAt(await verifyAll(engine, ctx, "p-1"), at, /state stored in its head.*decrypted/);
      // Reads answer a clear integrity error naming the aggregate and version, never data.
      const err = await assertRejects(() => engine.getAggregate(T, "p-1"), "integrity");
      assert(err.message.includes("patient/p-1 version 8"), err.message);
      await assertRejects(
        () => engine.listAggregates({ withState: true }),
        "integrity",
        "patient/p-1",
      );
      // History below the sealed state does not need it.
      assertEquals((await engine.getAggregate(T, "p-1", { version: 3 })).version, 3);
    },
  );
});

Deno.test("coverage: the head's state re-sealed with an injected field (DEK holder)", async () => {
  await tampered(
    (engine) => appendSome(engine, "p-1", 12),
    (ctx) => resealHeadState(ctx.storage, ctx.dek, T, "p-1", { injected: "x" }),
    async (engine, ctx) => {
      assertBadAt(
        await verifyAll(engine, ctx, "p-1"),
        8,
        /state stored in its head \(at version 8\) does not match/,
      );
    },
  );
});

Deno.test("coverage: the last event removed and the head rewound consistently", async () => {
  let removed = 0;
  await tampered(
    async (engine) => {
      await appendSome(engine, "p-1", 10);
      await appendSome(engine, "p-2", 2); // p-1's last event is not the store's last
    },
    async (ctx) => {
      ({ removed } = await rewindLastEvent(ctx.storage, ctx.dek, T, "p-1"));
    },
    async (engine, ctx) => {
      assertEquals(removed, 10);
      // The rewound head is self-consistent: its state reads fine.
      assertEquals((await engine.getAggregate(T, "p-1")).version, 9);
      const result = await verifyAll(engine, ctx, "p-1");
      assertBadAt(result, 10, /global position index names version 10 .*beyond/);
      assertEquals(result.version, 9);
      const index = await engine.verifyPositions();
      assertEquals(index.verified, false);
      assertEquals(index.problems[0].aggregate_id, "p-1");
      assertEquals(index.problems[0].version, 10);
      assert(/dangling/.test(index.problems[0].reason), index.problems[0].reason);
      // The other aggregate is untouched.
      assertEquals((await verifyAll(engine, ctx, "p-2")).verified, true);
    },
  );
});

Deno.test("coverage: a rewind of the store's very last event and of its last position", async () => {
  await tampered(
    (engine) => appendSome(engine, "p-1", 5),
    async (ctx) => {
      await rewindLastEvent(ctx.storage, ctx.dek, T, "p-1");
      const { metaKey, encodeU64 } = await import("../../src/engine/keys.ts");
      await ctx.storage.write([{ type: "put", key: metaKey("position"), value: encodeU64(4) }], {
        sync: true,
      });
    },
    async (engine, ctx) => {
      assertBadAt(await verifyAll(engine, ctx, "p-1"), 5, /global position index names version 5/);
      const index = await engine.verifyPositions();
      const reasons = index.problems.map((p) => p.reason).join("\n");
      assert(/dangling/.test(reasons), reasons);
      assert(/beyond the store's last position 4/.test(reasons), reasons);
    },
  );
});

Deno.test("coverage: snapshots, re-sealed with another state or with a flipped byte", async () => {
  await tampered(
    async (engine) => {
      await appendSome(engine, "p-1", 5);
      await engine.snapshot(T, "p-1");
      await appendSome(engine, "p-1", 5, 6);
      await engine.snapshot(T, "p-1");
      await appendSome(engine, "p-2", 3);
      await engine.snapshot(T, "p-2");
      await appendSome(engine, "p-2", 2, 4);
    },
    async (ctx) => {
      await resealSnapshot(ctx.storage, ctx.dek, T, "p-1", 5, (s) => ({ ...s, n: "999" }));
      await flipSnapshot(ctx.storage, T, "p-2", 3);
    },
    async (engine, ctx) => {
      assertBadAt(await verifyAll(engine, ctx, "p-1"), 5, /snapshot at version 5 does not match/);
      assertBadAt(await verifyAll(engine, ctx, "p-2"), 3, /snapshot at version 3 cannot be/);
      // Reads through the damaged snapshot say so.
      const err = await assertRejects(
        () => engine.getAggregate(T, "p-2", { version: 3 }),
        "integrity",
      );
      assert(err.message.includes("snapshot patient/p-2 version 3"), err.message);
    },
  );
});

Deno.test("coverage: a gap in the global position index", async () => {
  let position = 0;
  await tampered(
    async (engine) => {
      await appendSome(engine, "p-1", 3);
      await appendSome(engine, "p-2", 3);
    },
    async (ctx) => {
      position = await removeIndexRecordOf(ctx.storage, T, "p-2", 2);
    },
    async (engine, ctx) => {
      assertBadAt(
        await verifyAll(engine, ctx, "p-2"),
        2,
        new RegExp(`position ${position}, which the global position index does not hold`),
      );
      assertEquals((await verifyAll(engine, ctx, "p-1")).verified, true);
      const index = await engine.verifyPositions();
      assertEquals(index.verified, false);
      assertEquals(index.problems[0].position, position);
      assert(/missing from the global position index \(a gap\)/.test(index.problems[0].reason));
      // The event feed cannot pass the gap.
      await assertRejects(() => engine.eventsAfter(0), "integrity", `gap at position ${position}`);
    },
  );
});

Deno.test("coverage: a dangling index entry after the last position", async () => {
  let position = 0;
  await tampered(
    async (engine) => {
      await appendSome(engine, "p-1", 2);
      await appendSome(engine, "p-2", 2);
    },
    async (ctx) => {
      position = await addDanglingEntry(ctx.storage, T, "p-1", 7);
    },
    async (engine, ctx) => {
      assertEquals(position, 5);
      assertBadAt(
        await verifyAll(engine, ctx, "p-1"),
        7,
        /names version 7 at position 5, beyond the aggregate's head \(version 2\)/,
      );
      const index = await engine.verifyPositions();
      const found = index.problems.find((p) => p.version === 7);
      assert(found && /dangling/.test(found.reason), JSON.stringify(index.problems));
      assertEquals(found.position, 5);
      await assertRejects(() => engine.eventsAfter(4), "integrity", "patient/p-1 version 7");
    },
  );
});

Deno.test("coverage: an event's stored position altered (the hash does not cover it)", async () => {
  await tampered(
    async (engine) => {
      await appendSome(engine, "p-1", 4);
      await appendSome(engine, "p-2", 4);
    },
    async (ctx) => {
      const other = await positionOf(ctx.storage, T, "p-2", 1);
      await setEventPosition(ctx.storage, T, "p-1", 3, other);
    },
    async (engine, ctx) => {
      assertBadAt(
        await verifyAll(engine, ctx, "p-1"),
        3,
        /index does not name event 3 at its position/,
      );
      const index = await engine.verifyPositions();
      const found = index.problems.find((p) => p.aggregate_id === "p-1");
      assert(found && /stored at position/.test(found.reason), JSON.stringify(index.problems));
    },
  );
});

Deno.test("coverage: an idempotency entry pointing at another event", async () => {
  const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
  await tampered(
    async (engine) => {
      for (const [i, id] of ids.entries()) {
        await engine.append(event(T, "p-1", { n: i }, { event_id: id }));
      }
    },
    async (ctx) => {
      const { idempotencyKey, encodeU64 } = await import("../../src/engine/keys.ts");
      await ctx.storage.write([
        { type: "put", key: idempotencyKey(T, "p-1", ids[2]), value: encodeU64(2) },
      ], { sync: true });
    },
    async (engine, ctx) => {
      assertBadAt(await verifyAll(engine, ctx, "p-1"), 2, /idempotency entry names event 2/);
    },
  );
});

Deno.test("coverage: on workers, the same findings at chunk boundaries and inside chunks", async () => {
  // 1300 events: three chunks of 512 on two workers; snapshots in chunk 2 and at its end.
  await withEngine(async (engine, ctx) => {
    for (let done = 0; done < 1300; done += 100) {
      await engine.appendBatch(
        Array.from(
          { length: 100 },
          (_, i) => event(T, "big", { n: done + i, [`k${(done + i) % 7}`]: done + i }),
        ),
      );
      if (done + 100 === 700 || done + 100 === 1000) await engine.snapshot(T, "big");
    }
    await engine.snapshot(T, "big"); // at 1300
    const intact = await verifyAll(engine, ctx, "big");
    assertEquals(intact.verified, true, intact.reason);

    await resealSnapshot(ctx.storage, ctx.dek, T, "big", 1000, (s) => ({ ...s, k3: "no" }));
    engine = await ctx.reopen();
    assertBadAt(await verifyAll(engine, ctx, "big"), 1000, /snapshot at version 1000/);

    await resealSnapshot(ctx.storage, ctx.dek, T, "big", 700, (s) => ({ ...s, extra: "x" }));
    engine = await ctx.reopen();
    assertBadAt(await verifyAll(engine, ctx, "big"), 700, /snapshot at version 700/);

    // An earlier event finding wins over the snapshot after it.
    await setEventPosition(ctx.storage, T, "big", 600, 1);
    engine = await ctx.reopen();
    assertBadAt(await verifyAll(engine, ctx, "big"), 600, /does not name event 600/);
  });
});

Deno.test("coverage: many automatic snapshots, one altered, on both paths", async () => {
  await withEngine(async (engine, ctx) => {
    for (let done = 0; done < 1500; done += 250) {
      await engine.appendBatch(
        Array.from({ length: 250 }, (_, i) => event(T, "big", { n: done + i, [`k${i % 4}`]: i })),
      );
    }
    assertEquals((await engine.listSnapshots(T, "big")).length, 150);
    assertEquals((await verifyAll(engine, ctx, "big")).verified, true);
    const key = snapshotKey(T, "big", 770);
    const original = Uint8Array.from((await ctx.storage.get(key))!);
    await resealSnapshot(ctx.storage, ctx.dek, T, "big", 770, (s) => ({ ...s, k2: "x" }));
    await flipSnapshot(ctx.storage, T, "big", 1210);
    engine = await ctx.reopen();
    assertBadAt(await verifyAll(engine, ctx, "big"), 770, /snapshot at version 770 does not/);
    await ctx.storage.write([{ type: "put", key, value: original }], { sync: true });
    engine = await ctx.reopen();
    assertBadAt(await verifyAll(engine, ctx, "big"), 1210, /snapshot at version 1210 cannot/);
  }, { snapshotThreshold: () => 10 });
});

Deno.test("coverage: on workers, the head's state and a consistent rewind", async () => {
  await withEngine(async (engine, ctx) => {
    await engine.appendBatch(
      Array.from({ length: 1100 }, (_, i) => event(T, "big", { n: i, [`k${i % 5}`]: i })),
    );
    await appendSome(engine, "small", 2);
    await resealHeadState(ctx.storage, ctx.dek, T, "big", { k1: "forged" });
    engine = await ctx.reopen();
    assertBadAt(await verifyAll(engine, ctx, "big"), 1100, /state stored in its head/);

    await rewindLastEvent(ctx.storage, ctx.dek, T, "big");
    engine = await ctx.reopen();
    assertBadAt(await verifyAll(engine, ctx, "big"), 1100, /index names version 1100/);
  });
});

Deno.test("coverage: verifying while the aggregate is appended to raises no false alarm", async () => {
  await withEngine(async (engine) => {
    await appendSome(engine, "p-1", 30);
    await engine.snapshot(T, "p-1");
    let stop = false;
    const writing = (async () => {
      for (let n = 0; !stop && n < 2000; n++) {
        await Promise.all([
          engine.append(event(T, "p-1", { n, w: "a" })),
          engine.append(event(T, "p-2", { n })),
        ]);
        if (n % 16 === 0) await engine.snapshot(T, "p-1");
      }
    })();
    try {
      for (let round = 0; round < 20; round++) {
        const result = await engine.verify(T, "p-1");
        assertEquals(result.verified, true, `round ${round}: ${result.reason}`);
        const index = await engine.verifyPositions();
        assertEquals(index.verified, true, JSON.stringify(index.problems));
      }
    } finally {
      stop = true;
      await writing;
    }
    assertEquals((await engine.verify(T, "p-2")).verified, true);
  });
});

Deno.test("reads: undecryptable or missing records answer integrity errors naming them", async () => {
  await withEngine(async (engine, ctx) => {
    await appendSome(engine, "p-1", 6);
    const events = await engine.listEvents(T, "p-1");
    assertEquals((await engine.getAggregate(T, "p-1")).state, foldEvents(events));
    // A flipped payload byte of event 4.
    const key = eventKey(T, "p-1", 4);
    const value = Uint8Array.from((await ctx.storage.get(key))!);
    value[value.length - 2] ^= 0x01;
    await ctx.storage.write([{ type: "put", key, value }], { sync: true });
    engine = await ctx.reopen();
    for (
      const read of [
        () => engine.listEvents(T, "p-1"),
        () => engine.recentEvents(T, "p-1", 3),
        () => engine.getAggregate(T, "p-1"),
        () => engine.getAggregate(T, "p-1", { version: 5 }),
        () => engine.eventsAfter(0),
      ]
    ) {
      const err = await assertRejects(read, "integrity");
      assert(err.message.includes("event patient/p-1 version 4"), err.message);
      assert(!err.message.includes("v4"), "the message shows stored data");
    }
    // A read that does not need event 4 still works.
    assertEquals((await engine.listEvents(T, "p-1", { take: 3 })).length, 3);
    // Event 5 removed: the head says it exists.
    await ctx.storage.write([{ type: "del", key: eventKey(T, "p-1", 5) }], { sync: true });
    engine = await ctx.reopen();
    await assertRejects(
      () => engine.listEvents(T, "p-1", { skip: 4 }),
      "integrity",
      "patient/p-1 version 5 is missing",
    );
    assertEquals(await lastPosition(ctx.storage), 6);
  });
});
