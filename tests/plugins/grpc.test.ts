/**
 * The grpc kind against a real @grpc/grpc-js server on loopback implementing
 * `eventdbx.plugin.PluginReceiver` (proto/plugin.proto): batches arrive in order with every
 * field of the EventRecord, `plugin test` / `plugin enable` check the endpoint, an error
 * status puts the event in the retry queue and it is delivered (in order, before the later
 * events of its aggregate) once the receiver recovers, and `applied` short of the batch
 * acknowledges only that many.
 */
import {
  type sendUnaryData,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  status,
} from "@grpc/grpc-js";
import type { EventRecord } from "../../src/api/operations.ts";
import {
  type ApplyEventsMessage,
  type ApplyEventsReply,
  pluginReceiverService,
} from "../../src/plugins/delivery/sinks/grpc.ts";
import { DeliveryError, openSink } from "../../src/plugins/delivery/sinks/mod.ts";
import { assertRejects } from "../_helpers/assert.ts";
import { append, assert, assertEquals, eventually, ManualClock, withNode } from "./_setup.ts";

/** grpc-js keeps channel timers a little past close: these suites do not check ops. */
const OPTS = { sanitizeOps: false, sanitizeResources: false };

/** What the receiver answers to one batch: applied count, or an error status. */
type Answer = { applied: number } | { code: number; details: string };

interface Receiver {
  port: number;
  /** Every request, in arrival order (failed ones too). */
  requests: ApplyEventsMessage[];
  /** Events of the requests answered with success, counting only the applied ones. */
  applied: ApplyEventsMessage["events"];
  close(): Promise<void>;
}

async function receiver(
  answer: (request: ApplyEventsMessage) => Answer,
  port = 0,
): Promise<Receiver> {
  const server = new Server();
  const r: Receiver = {
    port: 0,
    requests: [],
    applied: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
      }),
  };
  server.addService(pluginReceiverService(), {
    ApplyEvents(
      call: ServerUnaryCall<ApplyEventsMessage, ApplyEventsReply>,
      callback: sendUnaryData<ApplyEventsReply>,
    ) {
      r.requests.push(call.request);
      const a = answer(call.request);
      if ("code" in a) {
        callback({ code: a.code, details: a.details });
        return;
      }
      r.applied.push(...call.request.events.slice(0, a.applied));
      callback(null, { applied: a.applied });
    },
  });
  r.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${port}`,
      ServerCredentials.createInsecure(),
      (err, port) => err ? reject(err) : resolve(port),
    )
  );
  return r;
}

const everything = (request: ApplyEventsMessage): Answer => ({ applied: request.events.length });

Deno.test(
  "grpc: a real receiver gets every event in order, checked by test and enable",
  OPTS,
  async () => {
    const rx = await receiver(everything);
    try {
      await withNode(async (t) => {
        await t.db.call("upsertPlugin", {
          name: "mirror",
          kind: "grpc",
          endpoint: `127.0.0.1:${rx.port}`,
          enabled: false,
        });
        await t.db.call("enablePlugin", { name: "mirror", check: true });
        const [check] = await t.db.call("testPlugins", { name: "mirror" });
        assertEquals([check.ok, check.kind], [true, "grpc"]);
        await t.startDelivery();
        const sent: EventRecord[] = [];
        for (let i = 0; i < 6; i++) {
          sent.push(await append(t.db, "patient", `p-${i % 2}`, { step: i, tags: ["a", i] }));
        }
        await eventually("every event applied", () => rx.applied.length >= sent.length);
        assertEquals(rx.applied.map((e) => e.position), sent.map((e) => e.position));
        assert(rx.requests.every((q) => q.plugin === "mirror"), "the plugin names itself");
        const first = rx.applied[0];
        assertEquals(
          [first.aggregate_type, first.aggregate_id, first.event_type, first.version],
          ["patient", "p-0", "changed", 1],
        );
        assertEquals(JSON.parse(first.payload_json), sent[0].payload);
        assertEquals(
          [first.metadata.event_id, first.metadata.created_at, first.hash, first.merkle_root],
          [
            sent[0].metadata.event_id,
            sent[0].metadata.created_at,
            sent[0].hash,
            sent[0].merkle_root,
          ],
        );
        await eventually("the cursor at the end", async () => {
          const p = (await t.db.call("pluginQueue", { name: "mirror" })).plugins[0];
          return p.lag === 0 && p.pending === 0 && p.cursor === sent.at(-1)!.position;
        });

        // Nobody listening: the check fails at once and enabling is refused.
        await t.db.call("upsertPlugin", {
          name: "gone",
          kind: "grpc",
          endpoint: "http://127.0.0.1:1",
          enabled: false,
        });
        const [failed] = await t.db.call("testPlugins", { name: "gone" });
        assert(
          !failed.ok && /cannot connect to 127\.0\.0\.1:1/.test(failed.error ?? ""),
          failed.error,
        );
        await assertRejects(
          () => t.db.call("enablePlugin", { name: "gone", check: true }),
          "unavailable",
          "not reachable",
        );
        assertEquals((await t.db.call("getPlugin", { name: "gone" })).enabled, false);
      });
    } finally {
      await rx.close();
    }
  },
);

Deno.test(
  "grpc: an error status is retried with backoff and delivered once it recovers",
  OPTS,
  async () => {
    let failing = true;
    const rx = await receiver((request) =>
      failing
        ? { code: status.UNAVAILABLE, details: "receiver warming up" }
        : { applied: request.events.length }
    );
    try {
      await withNode(async (t) => {
        const clock = new ManualClock();
        await t.db.call("upsertPlugin", {
          name: "mirror",
          kind: "grpc",
          endpoint: `http://127.0.0.1:${rx.port}`,
        });
        await t.startDelivery({ clock, backoff: { baseMs: 1000, maxMs: 60_000 }, random: () => 1 });
        const a1 = await append(t.db, "order", "o-1", { step: 1 });
        const a2 = await append(t.db, "order", "o-1", { step: 2 });
        await eventually("the first attempt failed", async () => {
          const q = await t.db.call("pluginQueue", { name: "mirror" });
          return q.entries.length === 2 && q.entries[0].attempts === 1 && q;
        });
        const queue = await t.db.call("pluginQueue", { name: "mirror" });
        assertEquals(queue.entries.map((e) => [e.position, e.status, e.attempts]), [
          [a1.position, "pending", 1],
          [a2.position, "pending", 0],
        ]);
        assert(
          /receiver warming up/.test(queue.entries[0].last_error ?? ""),
          queue.entries[0].last_error!,
        );
        assertEquals(rx.applied.length, 0);
        const tried = rx.requests.length;
        // Not due yet: nothing is sent however long real time passes.
        await new Promise((r) => setTimeout(r, 300));
        assertEquals(rx.requests.length, tried);

        // Due: tried again, still failing; then it recovers and both arrive, in order.
        clock.advance(1000);
        await eventually("the second attempt", () => rx.requests.length > tried);
        // Its failure recorded (with its next time) before the clock moves on.
        await eventually("the second failure recorded", async () => {
          const q = await t.db.call("pluginQueue", { name: "mirror" });
          return q.entries[0].attempts === 2;
        });
        failing = false;
        clock.advance(2000);
        await eventually("both delivered", () => rx.applied.length === 2);
        assertEquals(rx.applied.map((e) => e.position), [a1.position, a2.position]);
        await eventually("the queue empty", async () => {
          const p = (await t.db.call("pluginQueue", { name: "mirror" })).plugins[0];
          return p.pending === 0 && p.dead === 0 && p.lag === 0;
        });
        // After the recovery new events flow straight through.
        const a3 = await append(t.db, "order", "o-1", { step: 3 });
        await eventually("a later event", () => rx.applied.some((e) => e.position === a3.position));
      });
    } finally {
      await rx.close();
    }
  },
);

Deno.test("grpc: a receiver that is down gets the events once it is back", OPTS, async () => {
  let rx = await receiver(everything);
  const port = rx.port;
  try {
    await withNode(async (t) => {
      const clock = new ManualClock();
      await t.db.call("upsertPlugin", {
        name: "mirror",
        kind: "grpc",
        endpoint: `127.0.0.1:${port}`,
      });
      await t.startDelivery({ clock, backoff: { baseMs: 1000, maxMs: 60_000 }, random: () => 1 });
      const first = await append(t.db, "order", "o-1", { step: 1 });
      await eventually("the first delivered", () => rx.applied.length === 1);
      await rx.close();
      const second = await append(t.db, "order", "o-1", { step: 2 });
      await eventually("the second failed", async () => {
        const q = await t.db.call("pluginQueue", { name: "mirror" });
        return q.entries[0]?.attempts === 1 && q;
      });
      rx = await receiver(everything, port);
      clock.advance(1000);
      await eventually("the second delivered after the restart", () => rx.applied.length === 1);
      assertEquals(rx.applied[0].position, second.position);
      assert(first.position < second.position);
      await eventually("the queue empty", async () => {
        const p = (await t.db.call("pluginQueue", { name: "mirror" })).plugins[0];
        return p.pending === 0 && p.lag === 0;
      });
    });
  } finally {
    await rx.close();
  }
});

Deno.test("grpc: applied short of the batch acknowledges only that many", OPTS, async () => {
  const rx = await receiver((request) => ({ applied: Math.min(1, request.events.length) }));
  try {
    await withNode(async (t) => {
      await t.db.call("upsertPlugin", {
        name: "mirror",
        kind: "grpc",
        endpoint: `127.0.0.1:${rx.port}`,
        enabled: false,
      });
      for (let i = 0; i < 3; i++) await append(t.db, "order", "o-1", { step: i });
      const events = (await t.db.call("listEvents", {
        aggregate_type: "order",
        aggregate_id: "o-1",
      })).items;
      const sink = openSink(await t.db.call("getPlugin", { name: "mirror" }), {
        timeoutMs: 5000,
      });
      if (typeof sink === "string") throw new Error(sink);
      try {
        const err = await sink.deliver(events, new AbortController().signal).then(
          () => undefined,
          (e: unknown) => e,
        );
        assert(err instanceof DeliveryError, `a DeliveryError: ${err}`);
        assert(err.message.includes("applied 1 of 3"), err.message);
        assertEquals(err.delivered, 1);
        assertEquals(rx.requests[0].events.length, 3, "one batch");
        // A plugin endpoint with a path is refused when configured.
        await assertRejects(
          () =>
            t.db.call("upsertPlugin", {
              name: "pathy",
              kind: "grpc",
              endpoint: `127.0.0.1:${rx.port}/x`,
            }),
          "invalid_input",
          "without a path",
        );
      } finally {
        await sink.close();
      }
    });
  } finally {
    await rx.close();
  }
});
