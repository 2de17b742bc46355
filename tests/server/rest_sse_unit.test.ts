/**
 * The event stream body (src/server/sse.ts) driven directly on a real engine,
 * so the test decides exactly when the client reads: the bounded buffer, the
 * catch-up from storage and the hole check are exercised deterministically.
 */
import { Engine } from "../../src/engine/engine.ts";
import type { EventRecord } from "../../src/engine/types.ts";
import { openEventStream } from "../../src/server/sse.ts";
import { randomDek, withTempDir } from "../_helpers/temp.ts";
import { assertEquals } from "./_rest_setup.ts";

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

/** Positions in the SSE text of one or more chunks. */
function ids(text: string): number[] {
  return [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
}

Deno.test("sse: overflow drops the buffer; later records after a hole are read from storage", async () => {
  await withTempDir(async (dir) => {
    const engine = await Engine.open({ dataDir: dir, dek: randomDek() });
    const decoder = new TextDecoder();
    try {
      const body = await openEventStream({
        engine,
        canRead: () => true,
        checkAccess() {},
        heartbeatMs: 60_000,
        recheckMs: 60_000,
        maxBuffered: 4,
        pageSize: 7,
      });
      const reader = body.getReader();
      try {
        // The stream's first pull is waiting; this wakes it after the 50-record overflow.
        await commit(engine, 50, 0);
        const first = decoder.decode((await reader.read()).value);
        // Nobody reads now: the next records land in (and overflow) the bounded buffer.
        await commit(engine, 3, 50); // 51..53 buffered
        await commit(engine, 3, 53); // 54..56 overflow: buffer dropped
        await commit(engine, 2, 56); // 57..58 buffered after a hole
        let text = first;
        while (!ids(text).includes(58)) text += decoder.decode((await reader.read()).value);
        assertEquals(ids(text), Array.from({ length: 58 }, (_, i) => i + 1));
      } finally {
        await reader.cancel();
      }
    } finally {
      await engine.close();
    }
  });
});

Deno.test("sse: filtered events advance the cursor; cancel ends the stream", async () => {
  await withTempDir(async (dir) => {
    const engine = await Engine.open({ dataDir: dir, dek: randomDek() });
    const decoder = new TextDecoder();
    try {
      await commit(engine, 9, 0);
      const body = await openEventStream({
        engine,
        after: 2,
        canRead: (r) => r.aggregate_id === "p-1",
        checkAccess() {},
        heartbeatMs: 60_000,
        recheckMs: 60_000,
        maxBuffered: 100,
        pageSize: 2,
      });
      const reader = body.getReader();
      let text = "";
      while (ids(text).length < 2) text += decoder.decode((await reader.read()).value);
      // p-1 holds n = 1, 4, 7 -> positions 2, 5, 8; only those after 2 are sent.
      assertEquals(ids(text), [5, 8]);
      await reader.cancel();
      // Commits after the cancel reach no one and fail nothing.
      await commit(engine, 2, 9);
    } finally {
      await engine.close();
    }
  });
});
