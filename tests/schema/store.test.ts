/**
 * SchemaStore: durable across reopen, corrupt files reported (never reset),
 * every mutation's bad inputs refused without touching the file, import/export.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { SCHEMA_FILE_NAME, SchemaStore } from "../../src/schema/store.ts";

async function filesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("schemas survive reopening the store", async () => {
  await withTempDir(async (dir) => {
    const store = await SchemaStore.open(dir);
    assertEquals(store.list(), []);
    await store.create("patient", {
      events: ["patient-added", "patient-updated"],
      snapshot_threshold: 50,
    });
    await store.addEvents("patient", ["patient-moved"]);
    await store.annotate("patient", "patient-added", "first visit");
    await store.alter("patient", {
      event_fields: { event: "patient-added", add: ["name", "country"] },
    });
    await store.alter("patient", {
      column: { field: "country", type: "text", rules: { format: "country_code", required: true } },
    });
    await store.alter("patient", { field_lock: { field: "ssn", locked: true } });
    const before = store.require("patient");

    const reopened = await SchemaStore.open(dir);
    assertEquals(reopened.require("patient"), before);
    assertEquals(reopened.snapshotThreshold("patient"), 50);
    assertEquals(reopened.snapshotThreshold("other"), undefined);
    assertEquals(before.events["patient-added"], {
      fields: ["country", "name"],
      notes: "first visit",
    });
    assertEquals(before.field_locks, ["ssn"]);
    assert(reopened.compiled("patient") !== undefined);
    // Only the schema file: no temp files left behind.
    assertEquals(await filesIn(dir), [SCHEMA_FILE_NAME]);
  });
});

Deno.test("returned schemas are copies", async () => {
  await withTempDir(async (dir) => {
    const store = await SchemaStore.open(dir);
    const created = await store.create("a", { events: ["e"] });
    created.locked = true;
    store.require("a").events.e.fields.push("x");
    assertEquals(store.require("a").locked, false);
    assertEquals(store.require("a").events.e.fields, []);
  });
});

Deno.test("a corrupt schema file is a clear error and is left untouched", async () => {
  const cases: [string, string][] = [
    ["{ not json", "invalid JSON"],
    ["", "the file is empty"],
    ["[]", "expected an object"],
    ['{"a": 5}', "a schema must be a JSON object"],
    ['{"a": {"aggregate": "b", "events": {"e": {}}}}', 'entry "a" holds the schema of "b"'],
    ['{"a": {"aggregate": "a", "events": {}}}', "at least one event"],
    [
      '{"a": {"aggregate": "a", "events": {"e": {}}, "columns": {"x": {"type": "varchar"}}}}',
      "unknown column type",
    ],
    ['{"a": {"aggregate": "a", "events": {"e": {"fields": [1]}}}}', "field name"],
  ];
  for (const [text, why] of cases) {
    await withTempDir(async (dir) => {
      const path = join(dir, SCHEMA_FILE_NAME);
      await Deno.writeTextFile(path, text);
      const err = await assertRejects(() => SchemaStore.open(dir), "corrupt", why);
      assert(err.message.startsWith(`schema file ${path} is corrupt: `), err.message);
      assertEquals(await Deno.readTextFile(path), text);
    });
  }
});

Deno.test("an unreadable schema path is an error, not an empty store", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, SCHEMA_FILE_NAME));
    await assertRejects(() => SchemaStore.open(dir), "unavailable", "cannot read schema file");
  });
});

Deno.test("bad inputs to each mutation are refused and change nothing", async () => {
  await withTempDir(async (dir) => {
    const store = await SchemaStore.open(dir);
    await store.create("a", { events: ["e1", "e2"] });
    const path = join(dir, SCHEMA_FILE_NAME);
    const fileBefore = await Deno.readTextFile(path);
    const schemaBefore = store.require("a");
    const long = "x".repeat(129);

    // create
    await assertRejects(() => store.create("a", { events: ["e"] }), "conflict", "already exists");
    await assertRejects(() => store.create("", { events: ["e"] }), "invalid_input");
    await assertRejects(() => store.create(long, { events: ["e"] }), "invalid_input", "128 bytes");
    await assertRejects(
      () => store.create("bad\u0007", { events: ["e"] }),
      "invalid_input",
      "control character",
    );
    await assertRejects(
      () => store.create("b", { events: [] }),
      "invalid_input",
      "at least one event",
    );
    await assertRejects(() => store.create("b", { events: [""] }), "invalid_input");
    await assertRejects(
      () => store.create("b", { events: ["e"], snapshot_threshold: -1 }),
      "invalid_input",
    );
    // add
    await assertRejects(() => store.addEvents("missing", ["e"]), "not_found", "no schema");
    await assertRejects(() => store.addEvents("a", ["e1"]), "conflict", "already declared");
    await assertRejects(() => store.addEvents("a", []), "invalid_input");
    // remove
    await assertRejects(() => store.removeEvent("missing", "e1"), "not_found");
    await assertRejects(() => store.removeEvent("a", "nope"), "not_found", "not declared");
    // annotate
    await assertRejects(() => store.annotate("a", "nope", "n"), "not_found");
    await assertRejects(() => store.annotate("a", "e1", ""), "invalid_input", "--clear");
    await assertRejects(() => store.annotate("a", "e1", "n".repeat(129)), "invalid_input", "128");
    // alter
    await assertRejects(() => store.alter("a", {}), "invalid_input", "nothing to alter");
    await assertRejects(() => store.alter("missing", { locked: true }), "not_found");
    await assertRejects(() => store.alter("a", { snapshot_threshold: 1.5 }), "invalid_input");
    await assertRejects(
      () => store.alter("a", { event_fields: { event: "nope", add: ["f"] } }),
      "not_found",
    );
    await assertRejects(() => store.alter("a", { event_fields: { event: "e1" } }), "invalid_input");
    await assertRejects(
      () => store.alter("a", { event_fields: { event: "e1", remove: ["f"] } }),
      "invalid_input",
      "not listed",
    );
    await assertRejects(
      () => store.alter("a", { field_lock: { field: "", locked: true } }),
      "invalid_input",
    );
    await assertRejects(
      () => store.alter("a", { column: { field: "f", rules: { required: true } } }),
      "invalid_input",
      "no type yet",
    );
    await assertRejects(
      () => store.alter("a", { column: { field: "f", type: "varchar" } }),
      "invalid_input",
      "unknown column type",
    );
    await assertRejects(
      () =>
        store.alter("a", { column: { field: "f", type: "integer", rules: { format: "email" } } }),
      "invalid_input",
    );
    await assertRejects(
      () => store.alter("a", { column: { field: "f", remove: true } }),
      "not_found",
      "no column",
    );
    await assertRejects(() => store.alter("a", { column: { field: "f" } }), "invalid_input");
    // delete
    await assertRejects(() => store.delete("missing"), "not_found");
    // put / import
    await assertRejects(
      () => store.put({ aggregate: "b" }),
      "invalid_input",
      "events must be an object",
    );
    await assertRejects(() => store.importJson("nope"), "invalid_input", "not valid JSON");
    await assertRejects(() => store.importJson("5"), "invalid_input");
    await assertRejects(() => store.importJson("{}"), "invalid_input", "no schemas");
    await assertRejects(
      () =>
        store.importJson(
          '[{"aggregate":"b","events":{"e":{}}},{"aggregate":"b","events":{"e":{}}}]',
        ),
      "invalid_input",
      "appears twice",
    );
    await assertRejects(
      () => store.importJson('{"b": {"aggregate": "c", "events": {"e": {}}}}'),
      "invalid_input",
      "holds the schema of",
    );
    // An import with one bad schema stores none of them.
    await assertRejects(
      () =>
        store.importJson(
          '[{"aggregate":"ok","events":{"e":{}}},{"aggregate":"bad","events":{"e":{"fieldz":[]}}}]',
        ),
      "invalid_input",
      'unknown key "fieldz"',
    );

    assertEquals(store.require("a"), schemaBefore);
    assertEquals(store.has("ok"), false);
    assertEquals(await Deno.readTextFile(path), fileBefore);
  });
});

Deno.test("the last event cannot be removed; delete removes the schema", async () => {
  await withTempDir(async (dir) => {
    const store = await SchemaStore.open(dir);
    await store.create("a", { events: ["e1", "e2"] });
    await store.removeEvent("a", "e1");
    await assertRejects(() => store.removeEvent("a", "e2"), "invalid_input", "last event");
    await store.delete("a");
    assertEquals(store.has("a"), false);
    assertEquals((await SchemaStore.open(dir)).list(), []);
  });
});

Deno.test("alter: thresholds, locks, fields and columns", async () => {
  await withTempDir(async (dir) => {
    const store = await SchemaStore.open(dir);
    await store.create("a", { events: ["e"], snapshot_threshold: 10 });
    await store.alter("a", { snapshot_threshold: 0 });
    assertEquals(store.snapshotThreshold("a"), undefined);
    await store.alter("a", { snapshot_threshold: 7, locked: true });
    assertEquals(store.snapshotThreshold("a"), 7);
    assertEquals(store.require("a").locked, true);
    await store.alter("a", { field_lock: { field: "f", locked: true } });
    await store.alter("a", { field_lock: { field: "f", locked: true } });
    assertEquals(store.require("a").field_locks, ["f"]);
    await store.alter("a", { field_lock: { field: "f", locked: false } });
    assertEquals(store.require("a").field_locks, []);
    await store.alter("a", { event_fields: { event: "e", add: ["z", "b", "z"] } });
    assertEquals(store.require("a").events.e.fields, ["b", "z"]);
    await store.alter("a", { column: { field: "n", type: "INT", rules: { range: { min: 1 } } } });
    assertEquals(store.require("a").columns.n, { type: "integer", rules: { range: { min: "1" } } });
    // Changing the type keeps rules that still fit...
    await store.alter("a", { column: { field: "n", type: "decimal(5,1)" } });
    assertEquals(store.require("a").columns.n, {
      type: "decimal(5,1)",
      rules: { range: { min: "1" } },
    });
    // ...and refuses a type the rules do not fit.
    await assertRejects(
      () => store.alter("a", { column: { field: "n", type: "text" } }),
      "invalid_input",
      "range",
    );
    await store.alter("a", { column: { field: "n", rules: null } });
    assertEquals(store.require("a").columns.n, { type: "decimal(5,1)" });
    await store.alter("a", { column: { field: "n", remove: true } });
    assertEquals(store.require("a").columns, {});
  });
});

Deno.test("export and import round-trip; replace drops the rest", async () => {
  await withTempDir(async (dir) => {
    const source = await SchemaStore.open(join(dir, "one"));
    await source.create("a", { events: ["e"] });
    await source.create("b", { events: ["f"], snapshot_threshold: 3 });
    await source.alter("b", {
      column: { field: "x", type: "date", rules: { range: { max: "2030-01-01" } } },
    });
    const all = source.exportJson();
    assertEquals(Object.keys(JSON.parse(all)), ["a", "b"]);
    // The export is exactly the stored file format.
    assertEquals(await Deno.readTextFile(source.path), all);

    const target = await SchemaStore.open(join(dir, "two"));
    await target.create("c", { events: ["g"] });
    const imported = await target.importJson(all);
    assertEquals(imported.map((s) => s.aggregate), ["a", "b"]);
    assertEquals(target.list().map((s) => s.aggregate), ["a", "b", "c"]);
    assertEquals(target.require("b"), source.require("b"));

    await target.importJson(source.exportJson("a"), { replace: true });
    assertEquals(target.list().map((s) => s.aggregate), ["a"]);
    assertEquals((await SchemaStore.open(join(dir, "two"))).list().map((s) => s.aggregate), ["a"]);

    // The map form may leave out "aggregate"; a re-import keeps created_at.
    const created = target.require("a").created_at;
    await target.importJson('{"a": {"events": {"e": {"fields": ["q"]}}}}');
    assertEquals(target.require("a").events.e.fields, ["q"]);
    assertEquals(target.require("a").created_at, created);
  });
});

Deno.test("concurrent mutations are serialized and all persisted", async () => {
  await withTempDir(async (dir) => {
    const store = await SchemaStore.open(dir);
    await store.create("a", { events: ["e0"] });
    const names = Array.from({ length: 20 }, (_, i) => `e${i + 1}`);
    await Promise.all(names.map((n) => store.addEvents("a", [n])));
    const reopened = await SchemaStore.open(dir);
    assertEquals(Object.keys(reopened.require("a").events).length, 21);
  });
});

Deno.test("reload picks up changes made by another store", async () => {
  await withTempDir(async (dir) => {
    const first = await SchemaStore.open(dir);
    const second = await SchemaStore.open(dir);
    await second.create("a", { events: ["e"] });
    assertEquals(first.has("a"), false);
    await first.reload();
    assertEquals(first.has("a"), true);
  });
});
