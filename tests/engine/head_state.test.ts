/**
 * The head reseals the aggregate state only every STATE_SEAL_INTERVAL versions;
 * reads (and the writer after a cache eviction) fold the events after it. These
 * tests check that the state is always the full fold, across cache evictions,
 * reopening and archive, and that a missing event after the sealed state is an error.
 */
import { decodeHead } from "../../src/engine/codec.ts";
import { STATE_SEAL_INTERVAL } from "../../src/engine/head_state.ts";
import { eventKey, headKey } from "../../src/engine/keys.ts";
import type { EventRecord } from "../../src/engine/types.ts";
import { assert, assertEquals, assertRejects } from "../_helpers/assert.ts";
import { event, foldEvents, withEngine } from "./helpers.ts";

Deno.test("state equals the fold of every event at each version, across evictions and reopen", async () => {
  await withEngine(async (engine, ctx) => {
    const events: EventRecord[] = [];
    const total = STATE_SEAL_INTERVAL * 3 + 3;
    for (let i = 1; i <= total; i++) {
      // A changing field and a field set once per seal interval: both must survive.
      const payload: Record<string, unknown> = { counter: i };
      if (i % STATE_SEAL_INTERVAL === 3) payload[`field_${i}`] = `set at ${i}`;
      events.push(await engine.append(event("patient", "p-1", payload)));
      // Another aggregate evicts p-1 from the writer's one-entry cache every time.
      await engine.append(event("patient", `other-${i}`));
      const current = await engine.getAggregate("patient", "p-1");
      assertEquals(current.version, i);
      assertEquals(current.state, foldEvents(events), `state at version ${i}`);

      const head = decodeHead((await ctx.storage.get(headKey("patient", "p-1")))!);
      const sealedAt = head.state_version ?? head.version;
      assert(head.version - sealedAt < STATE_SEAL_INTERVAL, `state sealed at ${sealedAt}`);
    }
    const reopened = await ctx.reopen();
    assertEquals((await reopened.getAggregate("patient", "p-1")).state, foldEvents(events));
    await reopened.archive("patient", "p-1", { comment: "done" });
    await reopened.restore("patient", "p-1", { comment: "again" });
    events.push(await reopened.append(event("patient", "p-1", { counter: "last" })));
    assertEquals((await reopened.getAggregate("patient", "p-1")).state, foldEvents(events));
    const exported = [];
    for await (const a of reopened.allAggregates("patient")) {
      if (a.aggregate_id === "p-1") exported.push(a.state);
    }
    assertEquals(exported, [foldEvents(events)]);
  }, { cacheSize: 1 });
});

Deno.test("a missing event after the sealed state is an integrity error, not a wrong state", async () => {
  await withEngine(async (engine, ctx) => {
    await engine.append(event("patient", "p-1", { a: 1 }));
    await engine.append(event("patient", "p-1", { b: 2 }));
    const head = decodeHead((await ctx.storage.get(headKey("patient", "p-1")))!);
    assertEquals(head.state_version, 0, "two events stay within one seal interval");
    await ctx.storage.write([{ type: "del", key: eventKey("patient", "p-1", 2) }], {
      sync: true,
    });
    // A fresh engine has nothing cached: it must read (and miss) the event.
    const reopened = await ctx.reopen();
    await assertRejects(() => reopened.getAggregate("patient", "p-1"), "integrity");
    await assertRejects(() => reopened.append(event("patient", "p-1", { c: 3 })), "integrity");
  });
});

Deno.test("a state handed to a caller is its own copy: altering it changes nothing stored or cached", async () => {
  await withEngine(async (engine) => {
    await engine.append(event("patient", "p-1", { name: "Jane", address: { city: "Lisbon" } }));
    const first = await engine.getAggregate("patient", "p-1");
    first.state.name = "changed";
    (first.state.address as Record<string, unknown>).city = "changed";
    const again = await engine.getAggregate("patient", "p-1");
    assertEquals(again.state, { name: "Jane", address: { city: "Lisbon" } });
    const next = await engine.append(event("patient", "p-1", { age: 40 }));
    assertEquals(next.version, 2);
    assertEquals((await engine.getAggregate("patient", "p-1")).state, {
      name: "Jane",
      address: { city: "Lisbon" },
      age: "40",
    });
  });
});
