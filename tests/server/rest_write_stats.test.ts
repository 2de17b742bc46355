/**
 * `GET /v1/stats/writes`: the counters of the store's synced writes (how many events each
 * synced write carries, how many bytes go into the write-ahead log), who may read them,
 * and bad input.
 */
import { assert, assertEquals, eventBody, expectError, withRestServer } from "./_rest_setup.ts";

Deno.test("GET /v1/stats/writes counts synced writes, their events and WAL bytes", async () => {
  await withRestServer(async (s) => {
    const before = await s.request("GET", "/v1/stats/writes");
    assertEquals(before.status, 200);
    assertEquals(Object.keys(before.json).sort(), [
      "events",
      "rounds",
      "wal_bytes",
      "write_ms",
      "writes",
    ]);

    const note = "x".repeat(100);
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        s.request("POST", "/v1/events", {
          body: {
            aggregate_type: "patient",
            aggregate_id: `p-${i}`,
            ...eventBody("patient-added", { name: note }),
          },
        })),
    );
    assert(replies.every((r) => r.status === 201), "every append is accepted");

    const after = (await s.request("GET", "/v1/stats/writes")).json;
    const writes = after.writes - before.json.writes;
    assertEquals(after.events - before.json.events, 12);
    assert(writes >= 1 && writes <= 12, `12 appends took ${writes} synced writes`);
    const rounds = after.rounds - before.json.rounds;
    assert(rounds >= writes && rounds <= 12, `${rounds} rounds in ${writes} writes`);
    // Each event's value carries its sealed 100-character payload at least.
    const perEvent = (after.wal_bytes - before.json.wal_bytes) / 12;
    assert(perEvent > 100 && perEvent < 4096, `WAL bytes per event: ${perEvent}`);
    assert(after.write_ms > before.json.write_ms, "the writes took time");
  });
});

Deno.test("GET /v1/stats/writes needs aggregate.read on every aggregate", async () => {
  await withRestServer(async (s) => {
    const narrow = await s.token({
      actions: ["aggregate.read"],
      resources: ["aggregate:patient:*"],
    });
    const refused = await s.request("GET", "/v1/stats/writes", { token: narrow });
    expectError(refused, 403, "forbidden");
    assert(/aggregate:\*:\*/.test(refused.json.message), refused.text);

    const wide = await s.token({ actions: ["aggregate.read"], resources: ["aggregate:*:*"] });
    assertEquals((await s.request("GET", "/v1/stats/writes", { token: wide })).status, 200);
    expectError(await s.request("GET", "/v1/stats/writes", { token: null }), 401, "unauthorized");
  });
});

Deno.test("GET /v1/stats/writes refuses query parameters it does not know", async () => {
  await withRestServer(async (s) => {
    expectError(await s.request("GET", "/v1/stats/writes?from=1"), 400, "invalid_input");
    assertEquals((await s.request("GET", "/v1/stats/writes")).status, 200);
  });
});
