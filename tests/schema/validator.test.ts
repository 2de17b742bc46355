/**
 * The validator hook on a real SchemaStore: check order, message contents,
 * `required` semantics and each restriction mode.
 */
import { assert, assertEquals, assertThrows } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/temp.ts";
import type { RestrictMode } from "../../src/config/types.ts";
import type { ValidationContext } from "../../src/engine/types.ts";
import { SchemaStore } from "../../src/schema/store.ts";
import { createValidator } from "../../src/schema/validator.ts";

function ctx(
  event_type: string,
  payload: Record<string, unknown>,
  aggregate_type = "invoice",
): ValidationContext {
  return {
    aggregate_type,
    aggregate_id: "i-1",
    event_type,
    payload,
    current_version: 0,
    state: {},
  };
}

/** A store with an "invoice" schema exercising every kind of check. */
async function invoiceStore(dir: string): Promise<SchemaStore> {
  const store = await SchemaStore.open(dir);
  await store.create("invoice", { events: ["invoice-issued", "invoice-paid", "invoice-noted"] });
  await store.alter("invoice", {
    event_fields: { event: "invoice-paid", add: ["amount", "paid_at", "ref"] },
  });
  await store.alter("invoice", {
    column: {
      field: "amount",
      type: "decimal(10,2)",
      rules: { required: true, range: { min: "0" } },
    },
  });
  await store.alter("invoice", { column: { field: "paid_at", type: "timestamp" } });
  await store.alter("invoice", { field_lock: { field: "customer_id", locked: true } });
  return store;
}

Deno.test("a valid event passes; fields without a column are not type-checked", async () => {
  await withTempDir(async (dir) => {
    const validate = createValidator(await invoiceStore(dir), () => "default");
    validate(ctx("invoice-paid", { amount: "10.50", paid_at: "2024-05-01T12:00:00Z", ref: 7 }));
    validate(ctx("invoice-paid", { amount: 10 }));
    // invoice-issued lists no fields: any field is permitted, amount is not required there.
    validate(ctx("invoice-issued", { anything: true, nested: { a: 1 } }));
  });
});

Deno.test("each violation names aggregate, event, field and rule", async () => {
  await withTempDir(async (dir) => {
    const validate = createValidator(await invoiceStore(dir), () => "default");
    const cases: [ValidationContext, string, string | undefined][] = [
      [ctx("invoice-issued", { customer_id: "c" }), "field_locks", "customer_id"],
      [ctx("invoice-void", {}), "events", undefined],
      [ctx("invoice-paid", { paid_at: "2024-05-01T12:00:00Z" }), "required", "amount"],
      [ctx("invoice-paid", { amount: "1", tip: "2" }), "fields", "tip"],
      [ctx("invoice-paid", { amount: "abc" }), "type", "amount"],
      [ctx("invoice-paid", { amount: "-1" }), "range", "amount"],
      [ctx("invoice-paid", { amount: "1", paid_at: "yesterday" }), "type", "paid_at"],
      // Columns apply to every event carrying the field, listed or not.
      [ctx("invoice-issued", { amount: "1.234" }), "type", "amount"],
    ];
    for (const [input, rule, field] of cases) {
      const err = assertThrows(() => validate(input), "schema_violation");
      assert(err.message.includes('aggregate "invoice"'), err.message);
      assert(err.message.includes(`event "${input.event_type}"`), err.message);
      assert(err.message.includes(`rule "${rule}"`), err.message);
      if (field) assert(err.message.includes(`field "${field}"`), err.message);
      assertEquals(err.details, {
        aggregate: "invoice",
        event: input.event_type,
        ...(field ? { field } : {}),
        rule,
      });
    }
  });
});

Deno.test("checks run in order: locked aggregate, locked field, event, fields, types", async () => {
  await withTempDir(async (dir) => {
    const store = await invoiceStore(dir);
    const validate = createValidator(store, () => "default");
    // This payload breaks every check at once; each unlock reveals the next one.
    const bad = ctx("invoice-paid", { customer_id: "c", tip: 1, amount: "x" });
    await store.alter("invoice", { locked: true });
    assertEquals(assertThrows(() => validate(bad)).details?.rule, "locked");
    assertEquals(assertThrows(() => validate(ctx("invoice-void", {}))).details?.rule, "locked");
    await store.alter("invoice", { locked: false });
    assertEquals(assertThrows(() => validate(bad)).details?.rule, "field_locks");
    assertEquals(
      assertThrows(() => validate(ctx("invoice-void", { customer_id: 1 }))).details?.rule,
      "field_locks",
    );
    assertEquals(
      assertThrows(() => validate(ctx("invoice-void", { tip: 1 }))).details?.rule,
      "events",
    );
    assertEquals(
      assertThrows(() => validate(ctx("invoice-paid", { tip: 1 }))).details?.rule,
      "required",
    );
    assertEquals(
      assertThrows(() => validate(ctx("invoice-paid", { tip: 1, amount: "x" }))).details?.rule,
      "fields",
    );
    assertEquals(
      assertThrows(() => validate(ctx("invoice-paid", { amount: "x" }))).details?.rule,
      "type",
    );
  });
});

Deno.test("a column's required applies only to events that list the field", async () => {
  await withTempDir(async (dir) => {
    const store = await invoiceStore(dir);
    const validate = createValidator(store, () => "default");
    validate(ctx("invoice-noted", { note: "hi" })); // does not list amount
    assertThrows(() => validate(ctx("invoice-paid", { ref: "r" })), "schema_violation", "required");
    assertThrows(
      () => validate(ctx("invoice-paid", { amount: null })),
      "schema_violation",
      "required",
    );
    // After the field is no longer listed, it is no longer required there.
    await store.alter("invoice", { event_fields: { event: "invoice-paid", remove: ["amount"] } });
    validate(ctx("invoice-paid", { ref: "r" }));
  });
});

Deno.test("restriction off: nothing is validated", async () => {
  await withTempDir(async (dir) => {
    const validate = createValidator(await invoiceStore(dir), () => "off");
    validate(ctx("invoice-void", { customer_id: "c", amount: "x" }));
    validate(ctx("anything", {}, "no-schema"));
  });
});

Deno.test("restriction default: validates types with a schema, allows types without", async () => {
  await withTempDir(async (dir) => {
    const validate = createValidator(await invoiceStore(dir), () => "default");
    validate(ctx("anything", { x: 1 }, "no-schema"));
    assertThrows(() => validate(ctx("invoice-void", {})), "schema_violation");
  });
});

Deno.test("restriction strict: a schema must exist", async () => {
  await withTempDir(async (dir) => {
    const validate = createValidator(await invoiceStore(dir), () => "strict");
    const err = assertThrows(() => validate(ctx("anything", {}, "no-schema")), "schema_violation");
    assertEquals(
      err.message,
      'aggregate type "no-schema" has no schema; restriction mode strict requires one',
    );
    validate(ctx("invoice-paid", { amount: "1" }));
    assertThrows(() => validate(ctx("invoice-void", {})), "schema_violation", 'rule "events"');
  });
});

Deno.test("the mode is read for every event and schema changes apply at once", async () => {
  await withTempDir(async (dir) => {
    const store = await SchemaStore.open(dir);
    let mode: RestrictMode = "strict";
    const validate = createValidator(store, () => mode);
    assertThrows(() => validate(ctx("e", {}, "late")), "schema_violation");
    mode = "default";
    validate(ctx("e", {}, "late"));
    mode = "strict";
    await store.create("late", { events: ["e"] });
    validate(ctx("e", {}, "late"));
    await store.delete("late");
    assertThrows(() => validate(ctx("e", {}, "late")), "schema_violation", "has no schema");
  });
});
