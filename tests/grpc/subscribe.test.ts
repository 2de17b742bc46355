/**
 * SubscribeEvents, the server-streaming method built on the engine's feed, from a separate
 * Node process: live delivery once subscribed, resuming from a global position (backfill
 * then live, no gaps or duplicates, across storage pages), only events the token may read,
 * a token revoked or expired while streaming ends the stream before anything committed after
 * that, and a server shutdown ends open streams with UNAVAILABLE.
 */
import { waitUntil, withDeadline } from "../_helpers/deadline.ts";
import {
  appendRequest,
  assert,
  assertEquals,
  Code,
  expectOk,
  expectStatus,
  GRPC_TEST_OPTS as OPTS,
  runClient,
  type SubscribeResult,
  withGrpcServer,
} from "./_grpc_setup.ts";

// deno-lint-ignore no-explicit-any
const positions = (events: any[]) => events.map((e) => e.position);

Deno.test(
  "grpc subscribe: live events arrive once subscribed; absent `after` means from now on",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = s.admin;
      await s.client([
        { call: "AppendEvent", token, request: appendRequest("patient", "p-0") },
        { call: "AppendEvent", token, request: appendRequest("patient", "p-0") },
      ]);
      const [live]: SubscribeResult[] = await s.client([{
        subscribe: {},
        count: 3,
        token,
        then: [1, 2, 3].map((n) => ({
          call: "AppendEvent",
          token,
          request: appendRequest("patient", `p-${n}`, { n }),
        })),
      }]);
      assertEquals(live.status, undefined, JSON.stringify(live.status));
      assertEquals(positions(live.events), [3, 4, 5], "only events committed after subscribing");
      const acks = live.then!.map((r) => expectOk(r, "append while subscribed").event);
      assertEquals(live.events.map((e) => e.hash), acks.map((e) => e.hash));
      assertEquals(JSON.parse(live.events[1].payload_json), { n: 2 });
      assertEquals(live.events[0].metadata.issued_by, { group: "admin", user: "root" });
    });
  },
);

Deno.test(
  "grpc subscribe: resumed from a position — backfill then live, across storage pages, in order and once",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = s.admin;
      // 1200 events: more than two storage pages of the feed (500 each).
      for (let batch = 0; batch < 12; batch++) {
        await s.local("appendEvents", {
          events: Array.from({ length: 100 }, (_, i) => ({
            aggregate_type: "meter",
            aggregate_id: `m-${i % 7}`,
            event_type: "read",
            payload: { batch, i },
          })),
        });
      }
      const [all, resumed, tail] = await s.client([
        { subscribe: { after: 0 }, count: 1200, token },
        { subscribe: { after: 1150 }, count: 50, token },
        // Resume at the end, then live: the next events continue the positions.
        {
          subscribe: { after: 1200 },
          count: 2,
          token,
          then: [
            { call: "AppendEvent", token, request: appendRequest("meter", "m-1") },
            { call: "AppendEvent", token, request: appendRequest("meter", "m-2") },
          ],
        },
      ]);
      assertEquals(all.status, undefined, JSON.stringify(all.status));
      assertEquals(positions(all.events), Array.from({ length: 1200 }, (_, i) => i + 1));
      assertEquals(positions(resumed.events), Array.from({ length: 50 }, (_, i) => 1151 + i));
      assertEquals(resumed.events[0].hash, all.events[1150].hash);
      assertEquals(positions(tail.events), [1201, 1202]);
      // A client resuming from the last position it got misses nothing and repeats nothing.
      const lastSeen = all.events[599].position;
      const [rest] = await s.client([{ subscribe: { after: lastSeen }, count: 602, token }]);
      assertEquals(positions(rest.events), Array.from({ length: 602 }, (_, i) => lastSeen + 1 + i));
    });
  },
);

Deno.test("grpc subscribe: a scoped token gets only the events it may read", OPTS, async () => {
  await withGrpcServer(async (s) => {
    const auditor = await s.token({
      user: "auditor",
      actions: ["aggregate.read"],
      resources: ["aggregate:patient:p-2"],
    });
    const [stream] = await s.client([{
      subscribe: { after: 0 },
      count: 2,
      token: auditor,
      then: ["p-1", "p-2", "p-3", "p-2"].map((id) => ({
        call: "AppendEvent",
        token: s.admin,
        request: appendRequest("patient", id),
      })),
    }]);
    assertEquals(stream.events.map((e: { aggregate_id: string }) => e.aggregate_id), [
      "p-2",
      "p-2",
    ]);
    assertEquals(positions(stream.events), [2, 4]);
  });
});

/**
 * Subscribe with `token` (the stream stays open until the server ends it), wait until a
 * first event written once subscribed is committed, run `meanwhile`, and return how the
 * stream ended.
 */
async function streamAround(
  s: Parameters<Parameters<typeof withGrpcServer>[0]>[0],
  token: string,
  meanwhile: () => Promise<void>,
): Promise<SubscribeResult> {
  const running = runClient(s.target, [{
    subscribe: { after: 0 },
    count: -1,
    token,
    timeoutMs: 30_000,
    then: [{ call: "AppendEvent", token: s.admin, request: appendRequest("watch", "w-1") }],
  }]);
  running.catch(() => {});
  // The first event is written by the client once the server said it subscribed.
  await waitUntil(20_000, "the client to subscribe", async () => {
    try {
      await s.local("getAggregate", { aggregate_type: "watch", aggregate_id: "w-1" });
      return true;
    } catch {
      return false;
    }
  });
  await meanwhile();
  const [result] = await withDeadline(40_000, "the stream to end", running);
  return result;
}

Deno.test(
  "grpc subscribe: a token revoked while streaming ends the stream; nothing later is delivered",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = await s.token({ user: "watcher" });
      const result = await streamAround(s, token, async () => {
        await s.local("revokeToken", { token });
        await s.local("appendEvent", {
          aggregate_type: "watch",
          aggregate_id: "w-1",
          event_type: "after-revoke",
          payload: {},
        });
      });
      expectStatus(result.status, Code.UNAUTHENTICATED, "unauthorized", "revoked");
      assert(
        result.events.every((e: { event_type: string }) => e.event_type !== "after-revoke"),
        JSON.stringify(result.events),
      );
    }, { recheckMs: 100 });
  },
);

Deno.test(
  "grpc subscribe: a token that expires while streaming ends the stream",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = await s.token({ user: "brief", expiration: 2 });
      const result = await streamAround(s, token, async () => {
        await new Promise((resolve) => setTimeout(resolve, 3_100));
        await s.local("appendEvent", {
          aggregate_type: "watch",
          aggregate_id: "w-1",
          event_type: "after-expiry",
          payload: {},
        });
      });
      expectStatus(result.status, Code.UNAUTHENTICATED, "unauthorized", "expired");
      assert(
        result.events.every((e: { event_type: string }) => e.event_type !== "after-expiry"),
        JSON.stringify(result.events),
      );
    }, { recheckMs: 100 });
  },
);

Deno.test(
  "grpc subscribe: shutdown ends open streams with UNAVAILABLE and finishes",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const result = await streamAround(s, s.admin, async () => {
        await withDeadline(20_000, "the shutdown", s.server.shutdown());
      });
      expectStatus(result.status, Code.UNAVAILABLE, "unavailable", "shutting down");
      assertEquals(positions(result.events), [1]);
    });
  },
);
