/**
 * Restriction modes through a real Engine: single appends, patches and atomic
 * batches are validated by the writer; a refused event writes nothing.
 */
import { assert, assertEquals, assertRejects } from "../_helpers/assert.ts";
import { randomDek, withTempDir } from "../_helpers/temp.ts";
import type { RestrictMode } from "../../src/config/types.ts";
import { Engine } from "../../src/engine/engine.ts";
import type { AppendInput } from "../../src/engine/types.ts";
import { SchemaStore } from "../../src/schema/store.ts";
import { createValidator } from "../../src/schema/validator.ts";

interface Ctx {
  engine: Engine;
  store: SchemaStore;
  setMode(mode: RestrictMode): void;
}

/** A real engine whose validator reads a real SchemaStore and a switchable mode. */
async function withRestrictedEngine(fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const store = await SchemaStore.open(dir);
    await store.create("patient", {
      events: ["patient-added", "patient-updated"],
      snapshot_threshold: 3,
    });
    await store.alter("patient", {
      event_fields: { event: "patient-added", add: ["name", "age", "country"] },
    });
    await store.alter("patient", {
      column: { field: "name", type: "text", rules: { required: true } },
    });
    await store.alter("patient", {
      column: { field: "age", type: "integer", rules: { range: { min: 0 } } },
    });
    await store.alter("patient", {
      column: { field: "country", type: "text", rules: { format: "country_code" } },
    });
    await store.alter("patient", { field_lock: { field: "ssn", locked: true } });
    let mode: RestrictMode = "default";
    const engine = await Engine.open({
      dataDir: dir,
      dek: randomDek(),
      validator: createValidator(store, () => mode),
      snapshotThreshold: (type) => store.snapshotThreshold(type),
    });
    try {
      await fn({ engine, store, setMode: (m) => (mode = m) });
    } finally {
      await engine.close();
    }
  });
}

function added(id: string, payload: Record<string, unknown>): AppendInput {
  return { aggregate_type: "patient", aggregate_id: id, event_type: "patient-added", payload };
}

function untyped(id: string): AppendInput {
  return { aggregate_type: "free", aggregate_id: id, event_type: "anything", payload: { x: 1 } };
}

Deno.test("default mode: schema-backed types are validated, others accepted", async () => {
  await withRestrictedEngine(async ({ engine }) => {
    const record = await engine.append(added("p1", { name: "Jane", age: "42", country: "NO" }));
    assertEquals(record.version, 1);
    await engine.append(untyped("f1"));
    await assertRejects(
      () => engine.append(added("p2", { name: "Bob", age: -1 })),
      "schema_violation",
      'field "age": violates rule "range"',
    );
    await assertRejects(
      () => engine.append(added("p2", { age: 1 })),
      "schema_violation",
      "required",
    );
    await assertRejects(
      () => engine.append({ ...added("p2", {}), event_type: "patient-deleted" }),
      "schema_violation",
      'rule "events"',
    );
    assertEquals(await engine.exists("patient", "p2"), false);
    assertEquals(await engine.lastPosition(), 2);
  });
});

Deno.test("off mode: nothing is validated", async () => {
  await withRestrictedEngine(async ({ engine, setMode }) => {
    setMode("off");
    await engine.append(added("p1", { age: "not a number", ssn: "123" }));
    await engine.append({ ...added("p1", {}), event_type: "undeclared" });
    await engine.append(untyped("f1"));
    assertEquals(await engine.lastPosition(), 3);
  });
});

Deno.test("strict mode: aggregate types without a schema are refused", async () => {
  await withRestrictedEngine(async ({ engine, store, setMode }) => {
    setMode("strict");
    await assertRejects(
      () => engine.append(untyped("f1")),
      "schema_violation",
      "restriction mode strict requires one",
    );
    await engine.append(added("p1", { name: "Jane" }));
    await assertRejects(
      () => engine.append(added("p2", { name: 5 })),
      "schema_violation",
      'rule "type"',
    );
    await store.create("free", { events: ["anything"] });
    await engine.append(untyped("f1"));
    assertEquals(await engine.lastPosition(), 2);
  });
});

Deno.test("locks apply to appends and to patches touching a locked field", async () => {
  await withRestrictedEngine(async ({ engine, store }) => {
    await engine.append({ ...added("p1", { name: "Jane" }), event_type: "patient-updated" });
    await assertRejects(
      () => engine.append({ ...added("p1", { ssn: "1" }), event_type: "patient-updated" }),
      "schema_violation",
      'field "ssn": violates rule "field_locks"',
    );
    await assertRejects(
      () =>
        engine.append({
          aggregate_type: "patient",
          aggregate_id: "p1",
          event_type: "patient-updated",
          patch: [{ op: "add", path: "/ssn", value: "1" }],
        }),
      "schema_violation",
      "field_locks",
    );
    await store.alter("patient", { locked: true });
    await assertRejects(
      () => engine.append({ ...added("p1", { name: "x" }), event_type: "patient-updated" }),
      "schema_violation",
      'rule "locked"',
    );
    await store.alter("patient", { locked: false });
    await engine.append({ ...added("p1", { name: "x" }), event_type: "patient-updated" });
    assertEquals((await engine.getAggregate("patient", "p1")).version, 2);
  });
});

Deno.test("a batch with one invalid event commits nothing", async () => {
  await withRestrictedEngine(async ({ engine, setMode }) => {
    for (const mode of ["default", "strict"] as const) {
      setMode(mode);
      const batch = [
        added("b1", { name: "A" }),
        added("b2", { name: "B", age: "7" }),
        added("b3", { name: "C", country: "Narnia" }),
      ];
      await assertRejects(() => engine.appendBatch(batch), "schema_violation", 'field "country"');
      assertEquals(await engine.lastPosition(), 0);
      for (const id of ["b1", "b2", "b3"]) assertEquals(await engine.exists("patient", id), false);
    }
    setMode("strict");
    await assertRejects(
      () => engine.appendBatch([added("b1", { name: "A" }), untyped("f1")]),
      "schema_violation",
    );
    assertEquals(await engine.lastPosition(), 0);
    const records = await engine.appendBatch([
      added("b1", { name: "A" }),
      added("b2", { name: "B" }),
    ]);
    assertEquals(records.map((r) => r.position), [1, 2]);
  });
});

Deno.test("a refused event does not disturb concurrent valid appends", async () => {
  await withRestrictedEngine(async ({ engine }) => {
    const inputs = Array.from(
      { length: 20 },
      (_, i) =>
        i % 4 === 0 ? added(`p${i}`, { name: "x", age: "-5" }) : added(`p${i}`, { name: "ok" }),
    );
    const results = await Promise.allSettled(inputs.map((i) => engine.append(i)));
    const refused = results.filter((r) => r.status === "rejected");
    assertEquals(refused.length, 5);
    for (const r of refused) {
      assertEquals((r as PromiseRejectedResult).reason.code, "schema_violation");
    }
    assertEquals(await engine.lastPosition(), 15);
  });
});

Deno.test("the schema's snapshot threshold drives automatic snapshots", async () => {
  await withRestrictedEngine(async ({ engine }) => {
    for (let i = 0; i < 7; i++) {
      await engine.append({ ...added("p1", { name: `v${i}` }), event_type: "patient-updated" });
    }
    const versions = (await engine.listSnapshots("patient", "p1")).map((s) => s.version);
    assertEquals(versions, [3, 6]);
    const atFive = await engine.getAggregate("patient", "p1", { version: 5 });
    assert(atFive.state.name === "v4", JSON.stringify(atFive.state));
  });
});
