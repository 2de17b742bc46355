/**
 * The engine through its public API on a real RocksDB store: state fold, names, patches,
 * optimistic concurrency, idempotency, batches, archive, snapshots, listings, encryption
 * at rest, locking, listeners, closing and write limits.
 */
import { join } from "node:path";
import { Engine, storePath } from "../../src/engine/engine.ts";
import { eventHash } from "../../src/engine/event_hash.ts";
import type { AppendInput, EventRecord } from "../../src/engine/types.ts";
import { DbxError } from "../../src/errors.ts";
import { leafHash } from "../../src/integrity/merkle.ts";
import { fromHex, toHex } from "../../src/integrity/sha256.ts";
import { assert, assertEquals, assertNotEquals, assertRejects } from "../_helpers/assert.ts";
import {
  event,
  foldEvents,
  randomDek,
  range1,
  settle,
  withEngine,
  withTempDir,
} from "./helpers.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Asserts that the store holds no events and no aggregates at all. */
async function assertEmptyStore(engine: Engine): Promise<void> {
  assertEquals(await engine.lastPosition(), 0);
  assertEquals(await engine.eventsAfter(0), []);
  assertEquals(await engine.listAggregates(), []);
}

Deno.test("a field named __proto__ is kept as data in state, nested or not, and survives a reopen", async () => {
  await withEngine(async (engine, ctx) => {
    // JSON.parse makes "__proto__" an own field, as every surface's body parser does; the
    // fold assigns it plainly, which is safe only while Deno leaves out the __proto__ accessor.
    const payload = JSON.parse('{"__proto__":{"polluted":"yes"},"nested":{"__proto__":"x"},"a":1}');
    await engine.append(event("t", "1", payload));
    const check = (state: Record<string, unknown>) => {
      assertEquals(Object.keys(state).sort(), ["__proto__", "a", "nested"]);
      assertEquals(Object.getPrototypeOf(state), Object.prototype);
      assertEquals(
        JSON.stringify(state),
        '{"__proto__":{"polluted":"yes"},"a":"1","nested":{"__proto__":"x"}}',
      );
      assertEquals(({} as Record<string, unknown>).polluted, undefined);
    };
    check((await engine.getAggregate("t", "1")).state);
    await engine.append(event("t", "1", JSON.parse('{"__proto__":{"second":"1"}}')));
    const again = await ctx.reopen();
    const state = (await again.getAggregate("t", "1")).state;
    assertEquals(Object.getOwnPropertyDescriptor(state, "__proto__")?.value, { second: "1" });
    assertEquals(Object.getPrototypeOf(state), Object.prototype);
  });
});

Deno.test("append folds payloads into string state; the first event creates the aggregate", async () => {
  let clock = Date.UTC(2030, 0, 1, 12, 0, 0);
  await withEngine(async (engine) => {
    assertEquals(await engine.exists("patient", "p-1"), false);
    await assertRejects(() => engine.getAggregate("patient", "p-1"), "not_found");

    const payload = {
      name: "Jane",
      age: 42,
      ratio: 1.5,
      active: true,
      retired: false,
      gone: null,
      address: { city: "Oslo", zip: 150, geo: { lat: 59.9, known: true, none: null } },
      tags: ["a", 1, null, false, { x: 2 }, [3]],
      empty: {},
    };
    const first = await engine.append(event("patient", "p-1", payload, { event_type: "added" }));
    // The record keeps the payload as given; only the state is stringified.
    assertEquals(first.payload, payload);
    assertEquals(first.aggregate_type, "patient");
    assertEquals(first.aggregate_id, "p-1");
    assertEquals(first.event_type, "added");
    assertEquals(first.version, 1);
    assertEquals(first.position, 1);
    assert(UUID.test(first.metadata.event_id), first.metadata.event_id);
    assertEquals(first.metadata.created_at, "2030-01-01T12:00:00.000Z");
    assertEquals(first.metadata.issued_by, null);
    assertEquals(first.hash, eventHash(first));
    // One leaf: the root is the leaf hash of the event hash.
    assertEquals(first.merkle_root, toHex(leafHash(fromHex(first.hash))));

    const state1 = {
      name: "Jane",
      age: "42",
      ratio: "1.5",
      active: "true",
      retired: "false",
      gone: "",
      address: { city: "Oslo", zip: "150", geo: { lat: "59.9", known: "true", none: "" } },
      tags: ["a", "1", "", "false", { x: "2" }, ["3"]],
      empty: {},
    };
    let agg = await engine.getAggregate("patient", "p-1");
    assertEquals(agg.state, state1);
    assertEquals(agg.version, 1);
    assertEquals(agg.archived, false);
    assertEquals(agg.merkle_root, first.merkle_root);
    assertEquals(agg.created_at, "2030-01-01T12:00:00.000Z");
    assertEquals(agg.updated_at, "2030-01-01T12:00:00.000Z");
    assertEquals(await engine.exists("patient", "p-1"), true);

    clock += 60_000;
    // Each top-level key replaces the old value wholesale (no deep merge).
    const second = await engine.append(
      event("patient", "p-1", { age: 43, address: { city: "Bergen" }, tags: null }),
    );
    assertEquals(second.version, 2);
    assertEquals(second.position, 2);
    assertNotEquals(second.merkle_root, first.merkle_root);
    agg = await engine.getAggregate("patient", "p-1");
    assertEquals(agg.state, {
      ...state1,
      age: "43",
      address: { city: "Bergen" },
      tags: "",
    });
    assertEquals(agg.version, 2);
    assertEquals(agg.merkle_root, second.merkle_root);
    assertEquals(agg.created_at, "2030-01-01T12:00:00.000Z");
    assertEquals(agg.updated_at, "2030-01-01T12:01:00.000Z");
    assert(RFC3339_UTC.test(agg.updated_at));
    assertEquals((await engine.verify("patient", "p-1")).verified, true);
  }, { now: () => new Date(clock) });
});

Deno.test("issued_by and note are recorded and covered by the hash", async () => {
  await withEngine(async (engine) => {
    const record = await engine.append(
      event("t", "1", { a: 1 }, { note: "first visit" }),
      { issued_by: { group: "ops", user: "ana" } },
    );
    assertEquals(record.metadata.issued_by, { group: "ops", user: "ana" });
    assertEquals(record.metadata.note, "first visit");
    assertEquals(record.hash, eventHash(record));
    assertNotEquals(
      eventHash({ ...record, metadata: { ...record.metadata, note: "other" } }),
      record.hash,
    );
    const [stored] = await engine.listEvents("t", "1");
    assertEquals(stored, record);
  });
});

Deno.test("invalid names are refused with invalid_input and nothing is written", async () => {
  const bad: [string, unknown][] = [
    ["empty", ""],
    ["129 ASCII bytes", "a".repeat(129)],
    ["130 bytes in 65 characters", "é".repeat(65)],
    ["NUL", "a\u0000b"],
    ["newline", "a\nb"],
    ["tab", "a\tb"],
    ["DEL", "a\u007fb"],
    ["C1 control", "a\u0085b"],
    ["not a string", 42],
  ];
  await withEngine(async (engine) => {
    for (const [label, name] of bad) {
      const n = name as string;
      const cases: [string, AppendInput][] = [
        ["aggregate type", event(n, "1")],
        ["aggregate id", event("t", n)],
        ["event type", { ...event("t", "1"), event_type: n }],
        ["field name", event("t", "1", { [String(n)]: 1 })],
      ];
      for (const [where, input] of cases) {
        if (where === "field name" && typeof name !== "string") continue;
        const err = await assertRejects(() => engine.append(input), "invalid_input");
        assert(err.message.includes(where), `${label} as ${where}: ${err.message}`);
      }
    }
    await assertEmptyStore(engine);

    // The limits are inclusive: exactly 128 bytes is fine, in any script.
    const longest = "a".repeat(128);
    const wide = "é".repeat(64);
    const ok = await engine.append({
      aggregate_type: longest,
      aggregate_id: wide,
      event_type: longest,
      payload: { [wide]: "x", "with space/and-symbols": "y" },
    });
    assertEquals(ok.version, 1);
    assertEquals((await engine.getAggregate(longest, wide)).state, {
      [wide]: "x",
      "with space/and-symbols": "y",
    });
  });
});

Deno.test("notes: at most 128 characters, and a string", async () => {
  await withEngine(async (engine) => {
    await assertRejects(
      () => engine.append(event("t", "1", { a: 1 }, { note: "n".repeat(129) })),
      "invalid_input",
      "note",
    );
    await assertRejects(
      () => engine.append(event("t", "1", { a: 1 }, { note: 7 as unknown as string })),
      "invalid_input",
      "note",
    );
    await assertEmptyStore(engine);
    // 128 characters even when they take more bytes.
    const note = "ø".repeat(128);
    const record = await engine.append(event("t", "1", { a: 1 }, { note }));
    assertEquals(record.metadata.note, note);
  });
});

Deno.test("payload shape: not an object, with a patch, or too large is refused", async () => {
  await withEngine(async (engine) => {
    for (const payload of [[1, 2], "text", 5, true, null]) {
      await assertRejects(
        () => engine.append(event("t", "1", payload as unknown as Record<string, unknown>)),
        "invalid_input",
        "payload",
      );
    }
    await assertRejects(
      () =>
        engine.append({
          ...event("t", "1", { a: 1 }),
          patch: [{ op: "add", path: "/a", value: 1 }],
        }),
      "invalid_input",
      "mutually exclusive",
    );
    await assertRejects(
      () => engine.append(event("t", "1", { big: "x".repeat(2000) })),
      "too_large",
    );
    // The limit counts bytes of JSON, not characters.
    await assertRejects(
      () => engine.append(event("t", "1", { wide: "é".repeat(600) })),
      "too_large",
    );
    await assertRejects(
      () =>
        engine.append({
          ...event("t", "1"),
          payload: undefined,
          patch: [{ op: "add", path: "/big", value: "x".repeat(2000) }],
        }),
      "too_large",
    );
    await assertRejects(() => engine.append(null as unknown as AppendInput), "invalid_input");
    await assertRejects(() => engine.appendBatch([]), "invalid_input");
    await assertEmptyStore(engine);
    assertEquals((await engine.append(event("t", "1", { small: "x".repeat(100) }))).version, 1);
  }, { maxPayloadBytes: 1024 });
});

Deno.test("event_id must be a UUID; expected_version must be a non-negative integer", async () => {
  await withEngine(async (engine) => {
    for (const id of ["not-a-uuid", "", "123", "g0000000-0000-0000-0000-000000000000", 7]) {
      await assertRejects(
        () => engine.append(event("t", "1", { a: 1 }, { event_id: id as string })),
        "invalid_input",
        "event_id",
      );
    }
    for (const ev of [-1, 1.5, "1", Number.NaN]) {
      await assertRejects(
        () => engine.append(event("t", "1", { a: 1 }, { expected_version: ev as number })),
        "invalid_input",
        "expected_version",
      );
    }
    await assertEmptyStore(engine);
  });
});

Deno.test("JSON Patch: replace/add derive a payload of the touched top-level keys", async () => {
  await withEngine(async (engine) => {
    await engine.append(
      event("t", "1", { name: "Jane", address: { city: "Oslo", zip: "0150" }, tags: ["a"] }),
    );
    const replaced = await engine.append({
      ...event("t", "1"),
      payload: undefined,
      patch: [{ op: "replace", path: "/address/city", value: "Bergen" }],
    });
    assertEquals(replaced.payload, { address: { city: "Bergen", zip: "0150" } });
    assertEquals(replaced.hash, eventHash(replaced));

    const added = await engine.append({
      ...event("t", "1"),
      payload: undefined,
      patch: [
        { op: "test", path: "/name", value: "Jane" },
        { op: "add", path: "/address/street", value: "Main 1" },
        { op: "add", path: "/tags/-", value: 2 },
        { op: "add", path: "/phone", value: 5551234 },
      ],
    });
    // "test" touches nothing; the new values keep their types in the payload.
    assertEquals(added.payload, {
      address: { city: "Bergen", zip: "0150", street: "Main 1" },
      tags: ["a", 2],
      phone: 5551234,
    });
    const agg = await engine.getAggregate("t", "1");
    assertEquals(agg.version, 3);
    assertEquals(agg.state, {
      name: "Jane",
      address: { city: "Bergen", zip: "0150", street: "Main 1" },
      tags: ["a", "2"],
      phone: "5551234",
    });

    // A patch may create an aggregate too.
    const created = await engine.append({
      ...event("t", "new"),
      payload: undefined,
      patch: [{ op: "add", path: "/a~1b", value: { c: 1 } }],
    });
    assertEquals(created.payload, { "a/b": { c: 1 } });
    assertEquals(created.version, 1);
  });
});

Deno.test("JSON Patch: removing, failing and malformed patches are refused and write nothing", async () => {
  await withEngine(async (engine) => {
    const base = await engine.append(event("t", "1", { name: "Jane", address: { city: "Oslo" } }));
    const patchOf = (patch: unknown): AppendInput => ({
      ...event("t", "1"),
      payload: undefined,
      patch: patch as AppendInput["patch"],
    });
    const refusals: [string, unknown, string][] = [
      ["remove", [{ op: "remove", path: "/name" }], "invalid_input"],
      ["move", [{ op: "move", from: "/name", path: "/alias" }], "invalid_input"],
      ["failing test", [{ op: "test", path: "/name", value: "John" }], "conflict"],
      [
        "failing test before a replace",
        [
          { op: "test", path: "/address/city", value: "Bergen" },
          { op: "replace", path: "/address/city", value: "Trondheim" },
        ],
        "conflict",
      ],
      ["unresolvable path", [{ op: "replace", path: "/missing/deep", value: 1 }], "invalid_input"],
      ["replace of a missing key", [{ op: "replace", path: "/nope", value: 1 }], "invalid_input"],
      ["path without slash", [{ op: "add", path: "name", value: 1 }], "invalid_input"],
      ["whole document", [{ op: "replace", path: "", value: {} }], "invalid_input"],
      ["empty field name", [{ op: "add", path: "/", value: 1 }], "invalid_input"],
      ["control character in field", [{ op: "add", path: "/a\u0001b", value: 1 }], "invalid_input"],
      [
        "field over 128 bytes",
        [{ op: "add", path: `/${"f".repeat(129)}`, value: 1 }],
        "invalid_input",
      ],
      ["copy to a bad field", [{ op: "copy", from: "/name", path: "/a\nb" }], "invalid_input"],
      ["unknown op", [{ op: "frobnicate", path: "/name", value: 1 }], "invalid_input"],
      ["missing path", [{ op: "add", value: 1 }], "invalid_input"],
      ["operation not an object", ["add"], "invalid_input"],
      ["empty patch", [], "invalid_input"],
      ["not an array", { op: "add", path: "/x", value: 1 }, "invalid_input"],
    ];
    for (const [label, patch, code] of refusals) {
      const err = await assertRejects(
        () => engine.append(patchOf(patch)),
        code as "invalid_input" | "conflict",
      ).catch((e) => {
        throw new Error(`${label}: ${(e as Error).message}`);
      });
      assert(err.message.length > 0, label);
    }
    const agg = await engine.getAggregate("t", "1");
    assertEquals(agg.version, 1);
    assertEquals(agg.merkle_root, base.merkle_root);
    assertEquals(agg.state, { name: "Jane", address: { city: "Oslo" } });
    assertEquals(await engine.lastPosition(), 1);
  });
});

Deno.test("expected_version: a match appends, a mismatch is a conflict and writes nothing", async () => {
  await withEngine(async (engine) => {
    await assertRejects(
      () => engine.append(event("t", "1", { a: 1 }, { expected_version: 1 })),
      "conflict",
    );
    assertEquals(await engine.exists("t", "1"), false);
    const v1 = await engine.append(event("t", "1", { a: 1 }, { expected_version: 0 }));
    assertEquals(v1.version, 1);
    const v2 = await engine.append(event("t", "1", { a: 2 }, { expected_version: 1 }));
    assertEquals(v2.version, 2);
    for (const stale of [0, 1, 3, 100]) {
      const err = await assertRejects(
        () => engine.append(event("t", "1", { a: 9 }, { expected_version: stale })),
        "conflict",
      );
      assertEquals(err.details, { expected_version: stale, current_version: 2 });
    }
    const agg = await engine.getAggregate("t", "1");
    assertEquals(agg.version, 2);
    assertEquals(agg.state, { a: "2" });
    assertEquals(await engine.lastPosition(), 2);
    // null means "no expectation".
    const v3 = await engine.append(
      event("t", "1", { a: 3 }, { expected_version: null as unknown as number }),
    );
    assertEquals(v3.version, 3);
  });
});

Deno.test("idempotent event_id: retries return the original record, also after reopen", async () => {
  await withEngine(async (first, ctx) => {
    let engine = first;
    const eventId = crypto.randomUUID();
    const input = event("t", "1", { a: 1 }, { event_id: eventId });
    // Same tick: both requests land in one writer round.
    const [a, b] = await Promise.all([engine.append(input), engine.append(input)]);
    assertEquals(a, b);
    assertEquals(a.metadata.event_id, eventId);
    assertEquals(a.version, 1);
    assertEquals(a.position, 1);

    // Later round, different payload, upper-case spelling: still the original.
    await engine.append(event("t", "1", { a: 2 }));
    const later = await engine.append(
      event("t", "1", { a: 99 }, { event_id: eventId.toUpperCase() }),
    );
    assertEquals(later, a);
    assertEquals(await engine.lastPosition(), 2);

    engine = await ctx.reopen();
    const reopened = await engine.append(input);
    assertEquals(reopened, a);
    assertEquals(reopened.hash, a.hash);
    assertEquals(reopened.position, 1);
    // Inside a batch, a retried id is not written again either.
    const [again, fresh] = await engine.appendBatch([input, event("t", "1", { a: 3 })]);
    assertEquals(again, a);
    assertEquals(fresh.version, 3);
    assertEquals(fresh.position, 3);
    const agg = await engine.getAggregate("t", "1");
    assertEquals(agg.version, 3);
    assertEquals(agg.state, { a: "3" });
    assertEquals((await engine.listEvents("t", "1")).map((e) => e.metadata.event_id)[0], eventId);

    // The id is scoped to one aggregate.
    const other = await engine.append(event("t", "2", { a: 1 }, { event_id: eventId }));
    assertEquals(other.version, 1);
    assertEquals(other.position, 4);
    assertNotEquals(other.hash, a.hash);
  });
});

Deno.test("appendBatch is atomic across aggregates", async () => {
  await withEngine(async (engine) => {
    await engine.append(event("a", "1", { n: 1 }));
    await engine.append(event("b", "1", { n: 1 }));
    const before = {
      a: await engine.getAggregate("a", "1"),
      b: await engine.getAggregate("b", "1"),
      position: await engine.lastPosition(),
    };
    const failing: [string, AppendInput[], string][] = [
      ["bad name", [event("a", "1"), event("b", "1"), event("c", "")], "invalid_input"],
      [
        "version conflict last",
        [event("a", "1"), event("c", "1"), event("b", "1", { n: 2 }, { expected_version: 7 })],
        "conflict",
      ],
      [
        "patch test fails",
        [event("c", "1"), {
          ...event("a", "1"),
          payload: undefined,
          patch: [{ op: "test", path: "/n", value: "2" }],
        }],
        "conflict",
      ],
      [
        "second event of one aggregate conflicts",
        [
          event("a", "1", { n: 5 }, { expected_version: 1 }),
          event("a", "1", { n: 6 }, {
            expected_version: 1,
          }),
        ],
        "conflict",
      ],
    ];
    for (const [label, batch, code] of failing) {
      await assertRejects(() => engine.appendBatch(batch), code as "conflict")
        .catch((e) => {
          throw new Error(`${label}: ${(e as Error).message}`);
        });
      assertEquals(await engine.getAggregate("a", "1"), before.a, label);
      assertEquals(await engine.getAggregate("b", "1"), before.b, label);
      assertEquals(await engine.exists("c", "1"), false, label);
      assertEquals(await engine.lastPosition(), before.position, label);
      assertEquals((await engine.eventsAfter(0)).length, 2, label);
    }

    // A valid batch: several events per aggregate, consecutive versions and positions.
    const records = await engine.appendBatch([
      event("a", "1", { n: 2 }, { expected_version: 1 }),
      event("c", "1", { n: 1 }),
      event("a", "1", { n: 3 }, { expected_version: 2 }),
      event("b", "1", { n: 2 }),
    ]);
    assertEquals(records.map((r) => [r.aggregate_type, r.version, r.position]), [
      ["a", 2, 3],
      ["c", 1, 4],
      ["a", 3, 5],
      ["b", 2, 6],
    ]);
    assertEquals((await engine.getAggregate("a", "1")).state, { n: "3" });
    for (const type of ["a", "b", "c"]) assert((await engine.verify(type, "1")).verified, type);
  });
});

Deno.test("a failing request in a concurrent round leaves the others committed", async () => {
  await withEngine(async (engine) => {
    const results = await Promise.allSettled<Promise<unknown>[]>([
      engine.append(event("t", "1", { n: 1 })),
      engine.appendBatch([event("t", "2"), event("t", "3", {}, { expected_version: 5 })]),
      engine.append(event("t", "1", { n: 2 })),
    ]);
    const { ok, codes } = settle(results);
    assertEquals(codes, ["conflict"]);
    assertEquals(ok.length, 2);
    assertEquals(await engine.exists("t", "2"), false);
    assertEquals(await engine.exists("t", "3"), false);
    assertEquals((await engine.getAggregate("t", "1")).version, 2);
    assertEquals((await engine.eventsAfter(0)).map((e) => e.position), [1, 2]);
  });
});

Deno.test("positions are global and gap-free across aggregates", async () => {
  await withEngine(async (engine, ctx) => {
    const order: [string, string][] = [["a", "1"], ["b", "1"], ["a", "2"], ["a", "1"], [
      "b",
      "1",
    ], ["c", "9"]];
    for (const [type, id] of order) await engine.append(event(type, id));
    const all = await engine.eventsAfter(0);
    assertEquals(all.map((e) => e.position), range1(6));
    assertEquals(all.map((e) => [e.aggregate_type, e.aggregate_id, e.version]), [
      ["a", "1", 1],
      ["b", "1", 1],
      ["a", "2", 1],
      ["a", "1", 2],
      ["b", "1", 2],
      ["c", "9", 1],
    ]);
    assertEquals(await engine.lastPosition(), 6);
    const reopened = await ctx.reopen();
    assertEquals(await reopened.lastPosition(), 6);
    assertEquals((await reopened.append(event("a", "1"))).position, 7);
  });
});

Deno.test("archived aggregates refuse appends until restored", async () => {
  await withEngine(async (engine, ctx) => {
    await engine.append(event("t", "1", { a: 1 }));
    await assertRejects(() => engine.archive("t", "missing"), "not_found");
    await assertRejects(() => engine.restore("t", "1"), "conflict");
    assertEquals(await engine.archive("t", "1", { comment: "closed" }), 1);
    await assertRejects(() => engine.archive("t", "1"), "conflict");
    assertEquals((await engine.getAggregate("t", "1")).archived, true);
    assertEquals((await engine.listAggregates())[0].archived, true);

    await assertRejects(() => engine.append(event("t", "1", { a: 2 })), "archived");
    await assertRejects(
      () => engine.appendBatch([event("t", "2"), event("t", "1", { a: 2 })]),
      "archived",
    );
    assertEquals(await engine.exists("t", "2"), false);
    assertEquals(await engine.lastPosition(), 1);

    // Archival survives a restart.
    const reopened = await ctx.reopen();
    await assertRejects(() => reopened.append(event("t", "1", { a: 2 })), "archived");
    assertEquals(await reopened.restore("t", "1"), 1);
    const record = await reopened.append(event("t", "1", { a: 2 }));
    assertEquals(record.version, 2);
    const agg = await reopened.getAggregate("t", "1");
    assertEquals(agg.archived, false);
    assertEquals(agg.state, { a: "2" });
    assert((await reopened.verify("t", "1")).verified);
  });
});

/** Asserts getAggregate({version: n}) equals a fold of the first n listed events, for every n. */
async function assertHistoryMatchesFold(engine: Engine, type: string, id: string): Promise<void> {
  const events = await engine.listEvents(type, id, { take: 10_000 });
  assertEquals(events.map((e) => e.version), range1(events.length));
  for (const n of range1(events.length)) {
    const at = await engine.getAggregate(type, id, { version: n });
    assertEquals(at.version, n, `version ${n}`);
    assertEquals(at.state, foldEvents(events.slice(0, n)), `state at ${n}`);
    assertEquals(at.merkle_root, events[n - 1].merkle_root, `root at ${n}`);
    assertEquals(at.updated_at, events[n - 1].metadata.created_at, `updated_at at ${n}`);
  }
}

/** A payload that touches a different mix of keys each version, so folds differ. */
function varied(n: number): Record<string, unknown> {
  const payload: Record<string, unknown> = { [`k${n % 4}`]: n, last: n };
  if (n % 3 === 0) payload.nested = { at: n, list: [n, null, { deep: n % 2 === 0 }] };
  if (n % 5 === 0) payload.last = null;
  return payload;
}

Deno.test("manual snapshots: history at every version equals a full fold", async () => {
  await withEngine(async (engine) => {
    await assertRejects(() => engine.snapshot("t", "1"), "not_found");
    for (const n of range1(5)) await engine.append(event("t", "1", varied(n)));
    assertEquals(await engine.snapshot("t", "1", { comment: "five" }), 5);
    for (const n of range1(6).map((i) => i + 5)) await engine.append(event("t", "1", varied(n)));
    assertEquals(await engine.snapshot("t", "1"), 11);
    for (const n of range1(3).map((i) => i + 11)) await engine.append(event("t", "1", varied(n)));

    const snaps = await engine.listSnapshots("t", "1");
    assertEquals(snaps.map((s) => [s.version, s.comment]), [[5, "five"], [11, undefined]]);
    await assertHistoryMatchesFold(engine, "t", "1");
    // Current state equals the full fold too.
    const all = await engine.listEvents("t", "1");
    assertEquals((await engine.getAggregate("t", "1")).state, foldEvents(all));
    // A snapshot does not change the aggregate.
    assertEquals((await engine.getAggregate("t", "1")).version, 14);
    assert((await engine.verify("t", "1")).verified);
  });
});

Deno.test("automatic snapshots at the threshold; history below and between them folds right", async () => {
  await withEngine(async (engine, ctx) => {
    for (const n of range1(17)) await engine.append(event("auto", "1", varied(n)));
    for (const n of range1(4)) await engine.append(event("plain", "1", varied(n)));
    const snaps = await engine.listSnapshots("auto", "1");
    assertEquals(snaps.map((s) => [s.version, s.comment]), [[5, "automatic"], [10, "automatic"], [
      15,
      "automatic",
    ]]);
    assertEquals(await engine.listSnapshots("plain", "1"), []);
    await assertHistoryMatchesFold(engine, "auto", "1");
    await assertHistoryMatchesFold(engine, "plain", "1");

    // Concurrent appends crossing a threshold in one round still snapshot the right state.
    await Promise.all(range1(8).map((i) => engine.append(event("auto", "2", varied(i)))));
    assertEquals((await engine.listSnapshots("auto", "2")).map((s) => s.version), [5]);
    await assertHistoryMatchesFold(engine, "auto", "2");

    const reopened = await ctx.reopen();
    await assertHistoryMatchesFold(reopened, "auto", "1");
    await assertRejects(() => reopened.getAggregate("auto", "1", { version: 0 }), "invalid_input");
    await assertRejects(
      () => reopened.getAggregate("auto", "1", { version: 2.5 }),
      "invalid_input",
    );
    await assertRejects(() => reopened.getAggregate("auto", "1", { version: 18 }), "not_found");
    await assertRejects(() => reopened.getAggregate("auto", "9", { version: 1 }), "not_found");
  }, { snapshotThreshold: (type) => (type === "auto" ? 5 : undefined) });
});

Deno.test("listAggregates: key order, skip/take and a type filter that matches whole types", async () => {
  await withEngine(async (engine) => {
    for (const id of ["3", "1", "2", "5", "4"]) await engine.append(event("a", id));
    for (const id of ["2", "1"]) await engine.append(event("ab", id));
    await engine.append(event("b", "1"));
    await engine.append(event("b", "1"));

    const names = (list: { aggregate_type: string; aggregate_id: string }[]) =>
      list.map((a) => `${a.aggregate_type}/${a.aggregate_id}`);
    assertEquals(names(await engine.listAggregates({ take: 100 })), [
      "a/1",
      "a/2",
      "a/3",
      "a/4",
      "a/5",
      "ab/1",
      "ab/2",
      "b/1",
    ]);
    assertEquals(names(await engine.listAggregates({ skip: 2, take: 3 })), ["a/3", "a/4", "a/5"]);
    assertEquals(names(await engine.listAggregates({ aggregate_type: "a" })), [
      "a/1",
      "a/2",
      "a/3",
      "a/4",
      "a/5",
    ]);
    assertEquals(names(await engine.listAggregates({ aggregate_type: "a", skip: 4, take: 5 })), [
      "a/5",
    ]);
    assertEquals(names(await engine.listAggregates({ aggregate_type: "ab" })), ["ab/1", "ab/2"]);
    assertEquals(await engine.listAggregates({ aggregate_type: "zz" }), []);
    assertEquals(await engine.listAggregates({ skip: 8 }), []);
    assertEquals(await engine.listAggregates({ take: 0 }), []);
    assertEquals((await engine.listAggregates()).length, 8);

    const [b] = await engine.listAggregates({ aggregate_type: "b" });
    assertEquals(b.version, 2);
    assertEquals("state" in b, false);
    assertEquals(b.merkle_root, (await engine.getAggregate("b", "1")).merkle_root);
  });
});

Deno.test("listEvents skip/take, recentEvents and eventsAfter", async () => {
  await withEngine(async (engine) => {
    for (const n of range1(7)) {
      await engine.append(event("t", "1", { n }));
      await engine.append(event("u", "1", { n }));
    }
    const versions = (list: EventRecord[]) => list.map((e) => e.version);
    assertEquals(versions(await engine.listEvents("t", "1")), range1(7));
    assertEquals(versions(await engine.listEvents("t", "1", { skip: 2, take: 3 })), [3, 4, 5]);
    assertEquals(versions(await engine.listEvents("t", "1", { skip: 5, take: 10 })), [6, 7]);
    assertEquals(await engine.listEvents("t", "1", { skip: 7 }), []);
    assertEquals(await engine.listEvents("t", "1", { take: 0 }), []);
    await assertRejects(() => engine.listEvents("t", "2"), "not_found");
    const listed = await engine.listEvents("t", "1", { skip: 3, take: 1 });
    assertEquals(listed[0].payload, { n: 4 });
    assertEquals(listed[0].aggregate_id, "1");

    assertEquals(versions(await engine.recentEvents("t", "1", 3)), [5, 6, 7]);
    assertEquals(versions(await engine.recentEvents("t", "1", 100)), range1(7));
    assertEquals(versions(await engine.recentEvents("t", "1")), range1(7));
    assertEquals(await engine.recentEvents("t", "1", 0), []);
    await assertRejects(() => engine.recentEvents("t", "2"), "not_found");

    const after = await engine.eventsAfter(4, 5);
    assertEquals(after.map((e) => e.position), [5, 6, 7, 8, 9]);
    assertEquals(after.map((e) => `${e.aggregate_type}${e.version}`), [
      "t3",
      "u3",
      "t4",
      "u4",
      "t5",
    ]);
    assertEquals(after[0].payload, { n: 3 });
    assertEquals((await engine.eventsAfter(0)).map((e) => e.position), range1(14));
    assertEquals(await engine.eventsAfter(14), []);
    assertEquals((await engine.eventsAfter(12, 100)).map((e) => e.position), [13, 14]);
    // Every listed record is the one append returned.
    const all = await engine.eventsAfter(0);
    for (const e of all) {
      const [same] = await engine.listEvents(e.aggregate_type, e.aggregate_id, {
        skip: e.version - 1,
        take: 1,
      });
      assertEquals(same, e);
    }
  });
});

/** Every file under `dir`, recursively. */
async function* filesUnder(dir: string): AsyncIterable<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* filesUnder(path);
    else if (entry.isFile) yield path;
  }
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("encryption at rest: payloads, state and snapshots never reach disk in clear", async () => {
  await withTempDir(async (dir) => {
    const dek = randomDek();
    const marker = `secret-${crypto.randomUUID()}`;
    const typeName = `readable-${crypto.randomUUID()}`;
    const engine = await Engine.open({ dataDir: dir, dek });
    try {
      await engine.append(event(typeName, "1", { ssn: marker, nested: { deep: [marker] } }));
      await engine.append({
        ...event(typeName, "1"),
        payload: undefined,
        patch: [{ op: "add", path: "/copy", value: marker }],
      });
      await engine.snapshot(typeName, "1");
      assertEquals((await engine.getAggregate(typeName, "1")).state.ssn, marker);
    } finally {
      await engine.close();
    }
    const needle = new TextEncoder().encode(marker);
    const readable = new TextEncoder().encode(typeName);
    let files = 0;
    let typeSeen = false;
    for await (const path of filesUnder(storePath(dir))) {
      const bytes = await Deno.readFile(path);
      files++;
      assert(!contains(bytes, needle), `the marker is readable in ${path}`);
      if (contains(bytes, readable)) typeSeen = true;
    }
    assert(files > 0, "no store files found");
    // The scan really sees stored data: the (deliberately readable) type name is there.
    assert(typeSeen, "the aggregate type was not found in any store file");

    const again = await Engine.open({ dataDir: dir, dek });
    try {
      assertEquals((await again.getAggregate(typeName, "1")).state.copy, marker);
    } finally {
      await again.close();
    }
  });
});

Deno.test("a wrong DEK is refused at open; a malformed DEK too", async () => {
  await withTempDir(async (dir) => {
    const dek = randomDek();
    const engine = await Engine.open({ dataDir: dir, dek });
    await engine.append(event("t", "1"));
    await engine.close();
    const err = await assertRejects(
      () => Engine.open({ dataDir: dir, dek: randomDek() }),
      "wrong_key",
    );
    assert(!err.message.includes(btoa(String.fromCharCode(...dek))), "the message leaks the DEK");
    await assertRejects(
      () => Engine.open({ dataDir: dir, dek: randomDek(), readOnly: true }),
      "wrong_key",
    );
    await assertRejects(
      () => Engine.open({ dataDir: dir, dek: new Uint8Array(16) }),
      "invalid_input",
    );
    // The right key still opens it: a refused open left nothing behind (lock, partial state).
    const right = await Engine.open({ dataDir: dir, dek });
    try {
      assertEquals((await right.getAggregate("t", "1")).version, 1);
    } finally {
      await right.close();
    }
  });
});

Deno.test("read-only open works beside a writer and refuses writes", async () => {
  await withTempDir(async (dir) => {
    const dek = randomDek();
    const writer = await Engine.open({ dataDir: dir, dek });
    try {
      const record = await writer.append(event("t", "1", { a: 1 }));
      await assertRejects(() => Engine.open({ dataDir: dir, dek }), "unavailable");
      const reader = await Engine.open({ dataDir: dir, dek, readOnly: true });
      try {
        assertEquals(reader.readOnly, true);
        assertEquals((await reader.getAggregate("t", "1")).state, { a: "1" });
        assertEquals(await reader.listEvents("t", "1"), [record]);
        assertEquals(await reader.lastPosition(), 1);
        assert((await reader.verify("t", "1")).verified);
        await assertRejects(() => reader.append(event("t", "1")), "unavailable");
        await assertRejects(() => reader.appendBatch([event("t", "2")]), "unavailable");
        await assertRejects(() => reader.snapshot("t", "1"), "unavailable");
        await assertRejects(() => reader.archive("t", "1"), "unavailable");
      } finally {
        await reader.close();
      }
      // The writer is unaffected.
      assertEquals((await writer.append(event("t", "1"))).version, 2);
    } finally {
      await writer.close();
    }
  });
});

Deno.test("read-only open of a missing store fails cleanly", async () => {
  await withTempDir(async (dir) => {
    await assertRejects(
      () => Engine.open({ dataDir: dir, dek: randomDek(), readOnly: true }),
      "not_found",
    );
    // Nothing was created by the refused read-only open.
    assertEquals([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("onCommit listeners get every record once, in position order", async () => {
  await withEngine(async (engine) => {
    const seen: EventRecord[] = [];
    const unsubscribe = engine.onCommit((records) => seen.push(...records));
    engine.onCommit(() => {
      throw new Error("a failing listener must not fail the write");
    });
    const results = await Promise.all([
      ...range1(30).map((i) => engine.append(event(`t${i % 3}`, "1", { i }))),
      engine.appendBatch([event("x", "1"), event("y", "1")]),
    ]);
    const returned = results.flat().sort((a, b) => a.position - b.position);
    assertEquals(seen.map((r) => r.position), range1(32));
    assertEquals(seen, returned);

    // Refused appends are not announced.
    await assertRejects(() => engine.append(event("t0", "1", {}, { expected_version: 99 })));
    assertEquals(seen.length, 32);
    unsubscribe();
    await engine.append(event("t0", "1"));
    assertEquals(seen.length, 32);
  });
});

Deno.test("writes after close are refused with unavailable", async () => {
  await withTempDir(async (dir) => {
    const engine = await Engine.open({ dataDir: dir, dek: randomDek() });
    const pending = range1(20).map((i) => engine.append(event("t", "1", { i })));
    await engine.close();
    // Requests queued before close still commit.
    const committed = await Promise.all(pending);
    assertEquals(committed.map((r) => r.version), range1(20));
    await assertRejects(() => engine.append(event("t", "1")), "unavailable");
    await assertRejects(() => engine.appendBatch([event("t", "1")]), "unavailable");
    await assertRejects(() => engine.snapshot("t", "1"), "unavailable");
    await assertRejects(() => engine.restore("t", "1"), "unavailable");
    await engine.close(); // closing twice is harmless
  });
});

Deno.test("validator hook sees state and payload; its refusal writes nothing", async () => {
  const calls: { version: number; state: Record<string, unknown>; payload: unknown }[] = [];
  await withEngine(async (engine) => {
    await engine.append(event("t", "1", { a: 1 }));
    await engine.append({
      ...event("t", "1"),
      payload: undefined,
      patch: [{ op: "add", path: "/b", value: 2 }],
    });
    assertEquals(calls, [
      { version: 0, state: {}, payload: { a: 1 } },
      { version: 1, state: { a: "1" }, payload: { b: 2 } },
    ]);
    await assertRejects(
      () => engine.appendBatch([event("t", "2"), event("t", "1", { forbidden: true })]),
      "schema_violation",
    );
    assertEquals(await engine.exists("t", "2"), false);
    assertEquals((await engine.getAggregate("t", "1")).version, 2);
    assertEquals(await engine.lastPosition(), 2);
  }, {
    validator: (ctx) => {
      if ("forbidden" in ctx.payload) {
        throw new DbxError("schema_violation", "field forbidden is not allowed");
      }
      calls.push({ version: ctx.current_version, state: ctx.state, payload: ctx.payload });
    },
  });
});

Deno.test("write charge: exact under concurrency and across restarts", async () => {
  await withEngine(async (first, ctx) => {
    let engine = first;
    const charge = { key: "token-1", limit: 10 };
    const results = await Promise.allSettled(
      range1(64).map((i) => engine.append(event(`t${i % 4}`, "1", { i }), { charge })),
    );
    const { ok, codes } = settle(results);
    assertEquals(ok.length, 10);
    assertEquals(codes.length, 54);
    assert(codes.every((c) => c === "limit_reached"), codes.join());
    assertEquals(await engine.usedWrites("token-1"), 10);
    assertEquals(await engine.lastPosition(), 10);
    assertEquals(ok.map((r) => r.position).sort((a, b) => a - b), range1(10));
    assertEquals(await engine.usedWrites("other"), 0);

    engine = await ctx.reopen();
    assertEquals(await engine.usedWrites("token-1"), 10);
    const err = await assertRejects(
      () => engine.append(event("t", "x"), { charge }),
      "limit_reached",
    );
    assertEquals(err.details, { limit: 10, used: 10 });
    assertEquals(await engine.exists("t", "x"), false);

    // A batch counts each event; all of it fits or none of it is written.
    const bigger = { key: "token-1", limit: 12 };
    await assertRejects(
      () =>
        engine.appendBatch([event("t", "x"), event("t", "y"), event("t", "z")], { charge: bigger }),
      "limit_reached",
    );
    assertEquals(await engine.exists("t", "x"), false);
    assertEquals(await engine.usedWrites("token-1"), 10);
    await engine.appendBatch([event("t", "x"), event("t", "y")], { charge: bigger });
    assertEquals(await engine.usedWrites("token-1"), 12);
    // Idempotent retries are free.
    const eventId = crypto.randomUUID();
    const loose = { key: "token-2", limit: 5 };
    await engine.append(event("t", "1", {}, { event_id: eventId }), { charge: loose });
    await engine.append(event("t", "1", {}, { event_id: eventId }), { charge: loose });
    assertEquals(await engine.usedWrites("token-2"), 1);
    // Uncharged appends do not count.
    await engine.append(event("t", "1"));
    assertEquals(await engine.usedWrites("token-2"), 1);

    engine = await ctx.reopen();
    assertEquals(await engine.usedWrites("token-1"), 12);
    assertEquals(await engine.usedWrites("token-2"), 1);
  });
});

Deno.test("reads of a missing aggregate are not_found", async () => {
  await withEngine(async (engine) => {
    await assertRejects(() => engine.getAggregate("t", "1"), "not_found");
    await assertRejects(() => engine.verify("t", "1"), "not_found");
    await assertRejects(() => engine.listEvents("t", "1"), "not_found");
    assertEquals(await engine.listSnapshots("t", "1"), []);
    assertEquals(await engine.exists("t", "1"), false);
  });
});

Deno.test("check validates an event as an append would, writes nothing, and works read-only", async () => {
  // The validator sees the payload after the patch is applied to the current state.
  const seen: Record<string, unknown>[] = [];
  const validator = (ctx: { payload: Record<string, unknown> }) => {
    seen.push(ctx.payload);
    if (ctx.payload.status === "bad") throw new DbxError("schema_violation", "status is bad");
  };
  await withEngine(async (engine, ctx) => {
    await engine.append(event("patient", "p-1", { status: "ok" }));
    const before = await engine.lastPosition();

    await engine.check(event("patient", "p-1", { status: "fine" }));
    await engine.check(event("patient", "p-2", { status: "new aggregate" }));
    await engine.check(
      event("patient", "p-1", undefined, {
        payload: undefined,
        patch: [{ op: "replace", path: "/status", value: "patched" }],
      }),
    );
    assertEquals(seen.at(-1), { status: "patched" });

    await assertRejects(
      () => engine.check(event("patient", "p-1", { status: "bad" })),
      "schema_violation",
    );
    await assertRejects(() => engine.check(event("patient", "bad\u0001id")), "invalid_input");
    await assertRejects(
      () => engine.check(event("patient", "p-1", {}, { note: "n".repeat(129) })),
      "invalid_input",
    );
    await assertRejects(
      () =>
        engine.check(
          event("patient", "p-1", undefined, {
            payload: undefined,
            patch: [{ op: "remove", path: "/status" }],
          }),
        ),
      "invalid_input",
    );
    assertEquals(await engine.lastPosition(), before);
    assertEquals(await engine.exists("patient", "p-2"), false);

    // While another engine holds the lock, a read-only one can still check.
    const reader = await Engine.open({ dataDir: ctx.dir, dek: ctx.dek, readOnly: true, validator });
    try {
      await reader.check(event("patient", "p-1", { status: "fine" }));
      await assertRejects(
        () => reader.check(event("patient", "p-1", { status: "bad" })),
        "schema_violation",
      );
    } finally {
      await reader.close();
    }
  }, { validator });
});
