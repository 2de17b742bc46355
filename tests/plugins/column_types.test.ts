/**
 * The typed values of the table kinds: each type's canonical text, the values refused (with
 * the field named), and the stored mappings' checks (canonical names, limits, bad input).
 */
import { checkColumnTypes, MAX_COLUMN_TYPES } from "../../src/plugins/plugin.ts";
import {
  binaryBytes,
  columnTyping,
  ColumnValueError,
  typedText,
} from "../../src/plugins/delivery/sinks/column_types.ts";
import { parseColumnType } from "../../src/schema/definition.ts";
import { assertThrows } from "../_helpers/assert.ts";
import { assert, assertEquals } from "./_setup.ts";

const typed = (type: string, value: string) => typedText("f", parseColumnType(type), value);

function refused(type: string, value: string): void {
  try {
    typed(type, value);
  } catch (err) {
    assert(err instanceof ColumnValueError, String(err));
    assert(err.message.startsWith("field f: "), err.message);
    return;
  }
  throw new Error(`${type} accepted ${JSON.stringify(value)}`);
}

Deno.test("column types: canonical text of each type", () => {
  assertEquals(typed("integer", " -42 "), "-42");
  assertEquals(typed("integer", "9223372036854775807"), "9223372036854775807");
  assertEquals(typed("float", "1e3"), "1000");
  assertEquals(typed("decimal(10,2)", "12.50"), "12.50");
  assertEquals(["yes", "TRUE", "1", "f", "No"].map((v) => typed("boolean", v)), [
    "true",
    "true",
    "true",
    "false",
    "false",
  ]);
  assertEquals(typed("timestamp", "2024-01-01T10:00:00+02:00"), "2024-01-01T08:00:00.000Z");
  assertEquals(typed("date", "2024-02-29"), "2024-02-29");
  assertEquals(typed("json", '{"a":["1"]}'), '{"a":["1"]}');
  assertEquals(typed("json", "plain"), '"plain"');
  assertEquals(typed("object", "[1]"), "[1]");
  assertEquals(typed("binary", "aGk="), "aGk=");
  assertEquals([...binaryBytes("aGk=")], [104, 105]);
  assertEquals(typed("text", " as is "), " as is ");
});

Deno.test("column types: values that do not fit are refused, naming the field", () => {
  for (const v of ["old", "1.5", "", "9223372036854775808", "1e3"]) refused("integer", v);
  for (const v of ["", "abc", "Infinity"]) refused("float", v);
  refused("decimal(4,1)", "12,5");
  refused("boolean", "maybe");
  refused("timestamp", "yesterday");
  for (const v of ["2024-02-30", "2024-2-1", "20240201"]) refused("date", v);
  refused("binary", "not base64!");
});

Deno.test("column types: mappings are checked, canonical, bounded; the schema's are the default", () => {
  assertEquals(checkColumnTypes({ patient: { age: "INT", paid: "numeric(10, 2)" }, empty: {} }), {
    patient: { age: "integer", paid: "decimal(10,2)" },
  });
  assertEquals(checkColumnTypes({ patient: {} }), {});
  assertEquals(checkColumnTypes(undefined), undefined);
  assertThrows(() => checkColumnTypes({ patient: { age: "varchar" } }), "invalid_input");
  assertThrows(() => checkColumnTypes({ patient: "integer" }), "invalid_input");
  assertThrows(() => checkColumnTypes({ patient: { "": "integer" } }), "invalid_input");
  assertThrows(() => checkColumnTypes(["patient"]), "invalid_input");
  const many = Object.fromEntries(
    Array.from({ length: MAX_COLUMN_TYPES + 1 }, (_, i) => [`f${i}`, "text"]),
  );
  assertThrows(() => checkColumnTypes({ patient: many }), "invalid_input", "at most");

  // Mapped over the schema's; a field named like a meta column keeps its state_ column.
  const typing = columnTyping(
    { patient: { age: "integer", version: "integer" } },
    (type) => type === "patient" ? { age: "text", born: "date" } : undefined,
  );
  const types = typing("patient");
  assertEquals(
    [types.get("age")?.kind, types.get("born")?.kind, types.get("state_version")?.kind],
    ["integer", "date", "integer"],
  );
  assertEquals(typing("order").size, 0);
});
