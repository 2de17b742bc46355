/**
 * Failures, on a clock the test moves by hand: a failed event goes to the plugin's retry
 * queue while other aggregates' events keep flowing; later events of its aggregate wait
 * behind it; attempts follow the exponential backoff; after plugin_max_attempts it is dead
 * and listed with its last error; `retry` brings it back, `clear` removes it; a plugin
 * that fails everything stops reading the feed once its queue is full (bounded), and
 * catches up once it recovers.
 */
import type { EventRecord } from "../../src/api/operations.ts";
import { retryDelay } from "../../src/plugins/delivery/backoff.ts";
import { assertRejects } from "../_helpers/assert.ts";
import {
  append,
  assert,
  assertEquals,
  eventually,
  httpReceiver,
  ManualClock,
  type TestNode,
  withNode,
} from "./_setup.ts";

const BACKOFF = { baseMs: 1000, maxMs: 60_000 };

/** Append to `good/<n>` and wait for its delivery: the worker has looked at its queue since. */
async function barrier(t: TestNode, received: EventRecord[], n: number): Promise<void> {
  const record = await append(t.db, "good", `barrier-${n}`);
  await eventually(`barrier ${n}`, () => received.some((r) => r.position === record.position));
}

Deno.test("retry: backoff on the injected clock, dead after max attempts, retry, clear", async () => {
  let failing = true;
  const http = httpReceiver((r) =>
    failing && r.aggregate_type === "bad" && r.version === 1 ? 500 : 200
  );
  try {
    await withNode(async (t) => {
      const clock = new ManualClock();
      const start = clock.now();
      await t.db.call("upsertPlugin", {
        name: "hook",
        kind: "http",
        endpoint: http.url,
        https: false,
        headers: {},
      });
      await t.startDelivery({ clock, backoff: BACKOFF, random: () => 1 });
      const bad1 = await append(t.db, "bad", "x", { step: 1 });
      const good1 = await append(t.db, "good", "1");
      const bad2 = await append(t.db, "bad", "x", { step: 2 });
      const good2 = await append(t.db, "good", "1");
      const tries = (r: EventRecord) => http.received.filter((x) => x.position === r.position);

      // The other aggregate flows; bad/x v2 waits behind v1 without being tried.
      await eventually("good/1 delivered", () => tries(good2).length === 1);
      assertEquals(tries(good1).length, 1);
      await eventually("bad/x v1 tried once", () => tries(bad1).length === 1);
      let queue = await t.db.call("pluginQueue", { name: "hook" });
      assertEquals(queue.entries.map((e) => [e.version, e.status, e.attempts]), [
        [1, "pending", 1],
        [2, "pending", 0],
      ]);
      assertEquals(queue.entries[0].next_attempt_at, new Date(start + 1000).toISOString());
      assert(/HTTP 500/.test(queue.entries[0].last_error ?? ""), queue.entries[0].last_error!);
      assertEquals(queue.entries[0].event_id, bad1.metadata.event_id);
      assertEquals(queue.plugins[0].cursor, good2.position, "the cursor moved past the failure");
      assertEquals(queue.plugins[0].pending, 2);

      // Not due a millisecond early.
      clock.advance(999);
      await barrier(t, http.received, 1);
      await barrier(t, http.received, 2);
      assertEquals(tries(bad1).length, 1);
      assertEquals(tries(bad2).length, 0);

      // Due: the second attempt, then twice the wait.
      clock.advance(1);
      await eventually("the second attempt", () => tries(bad1).length === 2);
      await eventually("its new time", async () => {
        queue = await t.db.call("pluginQueue", { name: "hook" });
        return queue.entries[0].attempts === 2;
      });
      assertEquals(queue.entries[0].next_attempt_at, new Date(start + 1000 + 2000).toISOString());

      // The third attempt is the last (plugin_max_attempts = 3): dead, and v2 goes on.
      clock.advance(2000);
      await eventually("bad/x v2 delivered after v1 died", () => tries(bad2).length === 1);
      assertEquals(tries(bad1).length, 3);
      const order = http.received.map((r) => r.position);
      assert(
        order.lastIndexOf(bad1.position) < order.indexOf(bad2.position),
        "v2 only after v1's last attempt",
      );
      queue = await t.db.call("pluginQueue", { name: "hook" });
      assertEquals(queue.plugins[0].dead, 1);
      assertEquals(queue.plugins[0].pending, 0);
      assertEquals(queue.entries.length, 1);
      const dead = queue.entries[0];
      assertEquals([dead.status, dead.attempts, dead.next_attempt_at], ["dead", 3, null]);
      assert(/HTTP 500/.test(dead.last_error ?? ""));
      // Dead stays dead however long one waits.
      clock.advance(3_600_000);
      await barrier(t, http.received, 3);
      assertEquals(tries(bad1).length, 3);

      // Retry by event id: tried again at once, delivered, gone from the queue.
      failing = false;
      assertEquals(
        (await t.db.call("retryPluginQueue", { event_id: bad1.metadata.event_id })).retried,
        1,
      );
      await eventually("the retried event", () => tries(bad1).length === 4);
      await eventually(
        "an empty queue",
        async () => (await t.db.call("pluginQueue", {})).entries.length === 0,
      );

      // Another dead one, then clear: removed, never delivered.
      failing = true;
      const bad3 = await append(t.db, "bad", "y");
      await eventually("first try", () => tries(bad3).length === 1);
      clock.advance(1000);
      await eventually("second try", () => tries(bad3).length === 2);
      await eventually(
        "second try recorded",
        async () => (await t.db.call("pluginQueue", {})).entries[0]?.attempts === 2,
      );
      clock.advance(2000);
      await eventually(
        "dead",
        async () => (await t.db.call("pluginQueue", { status: "dead" })).entries.length === 1,
      );
      assertEquals((await t.db.call("clearPluginQueue", { name: "hook" })).cleared, 1);
      assertEquals((await t.db.call("pluginQueue", {})).plugins[0].dead, 0);
      failing = false;
      await barrier(t, http.received, 4);
      assertEquals(tries(bad3).length, 3, "a cleared event is not delivered");
    }, (config) => {
      config.plugin_max_attempts = 3;
    });
  } finally {
    await http.close();
  }
});

Deno.test("retry: a plugin that fails everything holds a bounded queue, then catches up", async () => {
  let up = false;
  const http = httpReceiver(() => (up ? 200 : 503));
  try {
    await withNode(async (t) => {
      const clock = new ManualClock();
      await t.db.call("upsertPlugin", {
        name: "hook",
        kind: "http",
        endpoint: http.url,
        https: false,
        headers: {},
      });
      await t.startDelivery({ clock, backoff: BACKOFF, random: () => 0, pauseAt: 3 });
      const appended: EventRecord[] = [];
      for (let i = 0; i < 10; i++) appended.push(await append(t.db, "acct", `a-${i}`));
      await eventually(
        "three queued",
        async () => (await t.db.call("pluginQueue", {})).plugins[0].pending === 3,
      );
      // The feed is not read past the third: the rest stays in the store.
      const report = await t.db.call("pluginQueue", {});
      assertEquals(report.plugins[0].cursor, appended[2].position);
      assertEquals(report.plugins[0].lag, 7);
      assertEquals(new Set(http.received.map((r) => r.position)).size, 3);

      up = true;
      clock.advance(60_000);
      await eventually(
        "all delivered",
        () => appended.every((a) => http.received.some((r) => r.position === a.position && up)),
      );
      await eventually("nothing left", async () => {
        const now = await t.db.call("pluginQueue", {});
        return now.plugins[0].lag === 0 && now.plugins[0].pending === 0;
      });
    });
  } finally {
    await http.close();
  }
});

Deno.test("retry: replay queues an aggregate's delivered events again, in order", async () => {
  const http = httpReceiver();
  try {
    await withNode(async (t) => {
      await t.db.call("upsertPlugin", {
        name: "hook",
        kind: "http",
        endpoint: http.url,
        https: false,
        headers: {},
      });
      await t.startDelivery();
      const p1 = [await append(t.db, "patient", "p-1"), await append(t.db, "patient", "p-1")];
      const p2 = await append(t.db, "patient", "p-2");
      await append(t.db, "order", "o-1");
      await eventually("first delivery", () => http.received.length === 4);
      assertEquals(
        (await t.db.call("replayPlugin", {
          name: "hook",
          aggregate_type: "patient",
          aggregate_id: "p-1",
        })).queued,
        2,
      );
      await eventually("replayed p-1", () => http.received.length === 6);
      assertEquals(http.received.slice(4).map((r) => r.version), [1, 2]);
      assertEquals(http.received.slice(4).map((r) => r.position), p1.map((r) => r.position));
      assertEquals(
        (await t.db.call("replayPlugin", { name: "hook", aggregate_type: "patient" })).queued,
        3,
      );
      await eventually("replayed the type", () => http.received.length === 9);
      assert(http.received.slice(6).some((r) => r.position === p2.position));
      await assertRejects(
        () => t.db.call("replayPlugin", { name: "hook", aggregate_type: "nope" }),
        "not_found",
      );
      await assertRejects(
        () => t.db.call("replayPlugin", { name: "ghost", aggregate_type: "patient" }),
        "not_found",
      );
    });
  } finally {
    await http.close();
  }
});

Deno.test("retry: backoff doubles from the base, is capped, and jitter takes at most half", () => {
  const policy = { baseMs: 500, maxMs: 10_000 };
  assertEquals([1, 2, 3, 4].map((n) => retryDelay(n, policy, () => 1)), [500, 1000, 2000, 4000]);
  assertEquals([1, 2, 3, 4].map((n) => retryDelay(n, policy, () => 0)), [250, 500, 1000, 2000]);
  assertEquals(retryDelay(40, policy, () => 1), 10_000);
  assertEquals(retryDelay(5000, policy, () => 0.5), 7500);
  for (let i = 0; i < 100; i++) {
    const d = retryDelay(3, policy);
    assert(d >= 1000 && d <= 2000, String(d));
  }
});
