/**
 * A plugin that hangs (an HTTP endpoint that never answers, a TCP peer that never reads)
 * does not hold appends: they all commit while its delivery is stuck on the first event,
 * and stopping delivery abandons the stuck attempt (to be made again) instead of hanging.
 */
import type { EventRecord } from "../../src/api/operations.ts";
import { append, assertEquals, eventually, httpReceiver, withNode } from "./_setup.ts";

const EVENTS = 400;

Deno.test("hanging: a plugin that never answers does not block appends", async () => {
  const never = Promise.withResolvers<number>();
  const http = httpReceiver(() => never.promise);
  // Accepts connections and never reads from them.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of silent) held.push(conn);
    } catch { /* closed */ }
  })();
  try {
    await withNode(async (t) => {
      await t.db.call("upsertPlugin", {
        name: "stuck",
        kind: "http",
        endpoint: http.url,
        https: false,
        headers: {},
      });
      await t.db.call("upsertPlugin", {
        name: "deaf",
        kind: "tcp",
        host: "127.0.0.1",
        port: (silent.addr as Deno.NetAddr).port,
      });
      await t.startDelivery({ attemptTimeoutMs: 600_000 });
      await append(t.db, "acct", "first", { big: "x".repeat(50_000) });
      await eventually("the first attempt hanging", () => http.received.length === 1);

      // Appends, 8 at a time, with payloads that fill the deaf peer's socket buffers.
      const done: EventRecord[] = [];
      await Promise.all(Array.from({ length: 8 }, async (_, c) => {
        for (let i = c; i < EVENTS; i += 8) {
          done.push(await append(t.db, "acct", `a-${i % 20}`, { i, big: "y".repeat(20_000) }));
        }
      }));
      assertEquals(done.length, EVENTS);
      const report = await t.db.call("pluginQueue", { name: "stuck" });
      assertEquals(report.plugins[0].lag, EVENTS + 1, "still stuck on the first event");
      assertEquals(http.received.length, 1);
      // Stopping does not wait for the hung attempt.
      await t.stopDelivery();
      assertEquals((await t.db.call("pluginQueue", { name: "stuck" })).plugins[0].cursor, 0);
    });
  } finally {
    never.resolve(200);
    await http.close();
    silent.close();
    for (const c of held) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await accepting;
  }
});
