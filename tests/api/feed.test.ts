/**
 * The engine's feed (src/api/feed.ts) driven directly on a real engine, so the test decides
 * exactly when the consumer reads: the bounded buffer, the catch-up from storage, the hole
 * check and the filter are exercised deterministically. Every wait has a deadline far below
 * any timer, so a lost wake-up fails instead of passing late.
 */
import { type FeedSubscription, openFeed } from "../../src/api/feed.ts";
import { Engine } from "../../src/engine/engine.ts";
import type { EventRecord } from "../../src/engine/types.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { randomDek, withTempDir } from "../_helpers/temp.ts";

function commit(engine: Engine, count: number, from: number): Promise<EventRecord[]> {
  return engine.appendBatch(
    Array.from({ length: count }, (_, i) => ({
      aggregate_type: "patient",
      aggregate_id: `p-${(from + i) % 3}`,
      event_type: "bulk",
      payload: { n: from + i },
    })),
  );
}

/** Positions read from the feed until `last` arrives; fails if that takes over `ms`. */
async function readUntil(feed: FeedSubscription, last: number, ms = 2000): Promise<number[]> {
  const deadline = Date.now() + ms;
  const seen: number[] = [];
  while (!seen.includes(last)) {
    const left = deadline - Date.now();
    assert(left > 0, `position ${last} did not arrive within ${ms} ms (saw ${seen.at(-1)})`);
    const records = await feed.next(left);
    assert(records !== null, "the feed closed");
    seen.push(...records.map((r) => r.position));
  }
  return seen;
}

function withEngine(fn: (engine: Engine) => Promise<void>): Promise<void> {
  return withTempDir(async (dir) => {
    const engine = await Engine.open({ dataDir: dir, dek: randomDek() });
    try {
      await fn(engine);
    } finally {
      await engine.close();
    }
  });
}

Deno.test("feed: overflow drops the buffer; later records after a hole are read from storage", async () => {
  await withEngine(async (engine) => {
    const feed = await openFeed(engine, { maxBuffered: 4, pageSize: 7 });
    try {
      const first = feed.next(2000); // waiting; the 50-record overflow wakes it
      await commit(engine, 50, 0);
      const seen = (await first)!.map((r) => r.position);
      // Nobody reads now: the next records land in (and overflow) the bounded buffer.
      await commit(engine, 3, 50); // 51..53 buffered
      await commit(engine, 3, 53); // 54..56 overflow: buffer dropped
      await commit(engine, 2, 56); // 57..58 buffered after a hole
      seen.push(...await readUntil(feed, 58));
      assertEquals(seen, Array.from({ length: 58 }, (_, i) => i + 1));
    } finally {
      feed.close();
    }
  });
});

Deno.test("feed: an overflow while catching up from storage still wakes the consumer", async () => {
  await withEngine(async (engine) => {
    await commit(engine, 40, 0);
    // Catching up 40 stored events, 5 at a time, while commits overflow the 3-record buffer.
    const feed = await openFeed(engine, { after: 0, maxBuffered: 3, pageSize: 5 });
    try {
      const seen: number[] = [];
      let from = 40;
      while (seen.length < 40) {
        seen.push(...(await feed.next(2000))!.map((r) => r.position));
        // Each commit of 4 overflows the buffer and is announced only while no one waits.
        await commit(engine, 4, from);
        from += 4;
      }
      seen.push(...await readUntil(feed, from, 2000));
      assertEquals(seen, Array.from({ length: from }, (_, i) => i + 1));
    } finally {
      feed.close();
    }
  });
});

Deno.test("feed: the filter is data; filtered events advance the cursor; close ends it", async () => {
  await withEngine(async (engine) => {
    await commit(engine, 9, 0);
    const feed = await openFeed(engine, {
      after: 2,
      pageSize: 2,
      filter: { resources: ["aggregate:patient:p-1"] },
    });
    // p-1 holds n = 1, 4, 7 -> positions 2, 5, 8; only those after 2 are delivered.
    assertEquals(await readUntil(feed, 8), [5, 8]);
    assertEquals(await feed.next(50), [], "nothing more: an empty list after the wait");
    assertEquals(feed.position, 9, "the filtered-out position 9 was handled too");
    const waiting = feed.next(5000);
    feed.close();
    assertEquals(await waiting, null, "close ends a waiting read at once");
    // Commits after the close reach no one and fail nothing.
    await commit(engine, 2, 9);
  });
});

Deno.test("feed: aggregate types filter; without `after` only new events arrive", async () => {
  await withEngine(async (engine) => {
    await commit(engine, 3, 0);
    const feed = await openFeed(engine, { filter: { aggregate_types: ["invoice"] } });
    try {
      await commit(engine, 2, 3);
      await engine.append({
        aggregate_type: "invoice",
        aggregate_id: "i-1",
        event_type: "issued",
        payload: {},
      });
      const records = (await feed.next(2000))!;
      assertEquals(records.map((r) => [r.position, r.aggregate_type]), [[6, "invoice"]]);
    } finally {
      feed.close();
    }
  });
});
