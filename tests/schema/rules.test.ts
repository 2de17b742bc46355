/**
 * Column types and rules: every type and every rule with values that pass and
 * values that fail, plus the definition checks that refuse bad rules up front.
 */
import { assert, assertEquals, assertThrows } from "../_helpers/assert.ts";
import { compareDecimal, parseDecimal } from "../../src/schema/decimal.ts";
import { normalizeColumn, normalizeRules, parseColumnType } from "../../src/schema/definition.ts";
import { checkColumn, compileColumn, type Violation } from "../../src/schema/rules.ts";

/** A compiled column named "f" of `type` with `rules`, built the way the store builds it. */
function column(type: string, rules?: unknown) {
  return compileColumn("f", normalizeColumn("f", { type, rules }));
}

function passes(type: string, rules: unknown, values: unknown[]): void {
  const col = column(type, rules);
  for (const value of values) {
    const violation = checkColumn(col, value, true);
    assertEquals(
      violation,
      undefined,
      `${type} ${JSON.stringify(rules)} should accept ${JSON.stringify(value)}`,
    );
  }
}

function fails(type: string, rules: unknown, values: unknown[], rule: string): Violation[] {
  const col = column(type, rules);
  return values.map((value) => {
    const violation = checkColumn(col, value, true);
    assert(violation, `${type} ${JSON.stringify(rules)} should refuse ${JSON.stringify(value)}`);
    assertEquals(
      violation.rule,
      rule,
      `wrong rule for ${JSON.stringify(value)}: ${violation.detail}`,
    );
    assertEquals(violation.field, "f");
    return violation;
  });
}

Deno.test("type integer: JSON integers and integer strings within 64 bits", () => {
  passes("integer", undefined, [
    0,
    42,
    -7,
    "42",
    "-9223372036854775808",
    "9223372036854775807",
    "+5",
  ]);
  fails(
    "integer",
    undefined,
    [1.5, "1.5", "abc", "", true, {}, [], "9223372036854775808", " 4"],
    "type",
  );
});

Deno.test("type float: finite numbers and numeric strings", () => {
  passes("float", undefined, [1.5, -0.25, 3, "2.5", "-1e-3", ".5", "10"]);
  fails("float", undefined, ["NaN", "Infinity", "1e999", "1,5", "abc", false, {}], "type");
});

Deno.test("type decimal(p,s): digits before and after the point are limited", () => {
  passes("decimal(5,2)", undefined, ["123.45", 123.4, "-999.99", "0.1", "00012.50", 7]);
  const [tooPrecise, tooLarge] = fails(
    "decimal(5,2)",
    undefined,
    ["1.234", "1234.5", "abc", true],
    "type",
  );
  assert(tooPrecise.detail.includes("2 after the point"), tooPrecise.detail);
  assert(tooLarge.detail.includes("3 digits before"), tooLarge.detail);
  passes("decimal(3)", undefined, ["999"]);
  fails("decimal(3)", undefined, ["1000", "1.5"], "type");
});

Deno.test("type boolean: true/false as JSON or text", () => {
  passes("boolean", undefined, [true, false, "true", "false", "TRUE"]);
  fails("boolean", undefined, ["yes", 1, 0, "1", {}], "type");
});

Deno.test("type text: strings only", () => {
  passes("text", undefined, ["", "hello", "42"]);
  fails("text", undefined, [42, true, {}, ["a"]], "type");
});

Deno.test("type timestamp: RFC 3339 with a time zone", () => {
  passes("timestamp", undefined, [
    "2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00.123456789+02:00",
    "2024-02-29t00:00:00z",
  ]);
  fails("timestamp", undefined, [
    "2024-05-01",
    "2024-05-01T12:00:00",
    "2023-02-29T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-05-01T24:00:00Z",
    1714557600,
  ], "type");
});

Deno.test("type date: YYYY-MM-DD calendar dates", () => {
  passes("date", undefined, ["2024-02-29", "1999-12-31"]);
  fails("date", undefined, ["2023-02-29", "2024-1-5", "2024-05-01T00:00:00Z", 20240101], "type");
});

Deno.test("type json: any value", () => {
  passes("json", undefined, [{ a: [1, { b: null }] }, [1, 2], "text", 5, false]);
});

Deno.test("type binary: standard padded base64", () => {
  passes("binary", undefined, ["aGVsbG8=", "", "AAAA"]);
  fails("binary", undefined, ["not base64!", "aGVsbG8", 42], "type");
});

Deno.test("type object: JSON objects (or JSON object text) with nested properties", () => {
  passes("object", undefined, [{ city: "Oslo" }, '{"city":"Oslo"}', {}]);
  fails("object", undefined, [[1], "not json", "[1]", 5], "type");
  const col = compileColumn(
    "address",
    normalizeColumn("address", {
      type: "object",
      properties: { zip: { type: "text", rules: { required: true, regex: "^\\d{4}$" } } },
    }),
  );
  assertEquals(checkColumn(col, { zip: "0150" }, false), undefined);
  assertEquals(checkColumn(col, { city: "Oslo" }, false)?.rule, "required");
  const bad = checkColumn(col, { zip: "15" }, false);
  assertEquals(bad?.field, "address.zip");
  assertEquals(bad?.rule, "regex");
});

Deno.test("rule required: missing or null fails only when enforced", () => {
  const col = column("text", { required: true });
  assertEquals(checkColumn(col, undefined, true)?.rule, "required");
  assertEquals(checkColumn(col, null, true)?.rule, "required");
  assertEquals(checkColumn(col, undefined, false), undefined);
  assertEquals(checkColumn(col, "x", true), undefined);
  // Not required: null passes (it clears the field).
  assertEquals(checkColumn(column("integer"), null, true), undefined);
});

Deno.test("rule length: characters for text, bytes for binary", () => {
  passes("text", { length: { min: 2, max: 4 } }, ["ab", "abcd", "😀😀"]);
  const [short, long] = fails("text", { length: { min: 2, max: 4 } }, ["a", "abcde"], "length");
  assert(short.detail.includes("at least 2"), short.detail);
  assert(long.detail.includes("at most 4"), long.detail);
  passes("binary", { length: { max: 5 } }, ["aGVsbG8="]);
  fails("binary", { length: { max: 4 } }, ["aGVsbG8="], "length");
});

Deno.test("rule length is checked together with the other text rules", () => {
  const rules = { length: { max: 5 }, contains: "@", format: "email" };
  fails("text", rules, ["jane@example.com"], "length");
  passes("text", { length: { max: 20 }, contains: "@", format: "email" }, ["jane@example.com"]);
});

Deno.test("rule range: integers, floats and decimals compare exactly", () => {
  passes("integer", { range: { min: 0, max: "100" } }, [0, "100", 50]);
  const [low, high] = fails("integer", { range: { min: 0, max: "100" } }, [-1, "101"], "range");
  assert(low.detail.includes(">= 0"), low.detail);
  assert(high.detail.includes("<= 100"), high.detail);
  passes("integer", { range: { max: "9223372036854775806" } }, ["9223372036854775806"]);
  fails("integer", { range: { max: "9223372036854775806" } }, ["9223372036854775807"], "range");
  passes("float", { range: { min: "0.1" } }, [0.1, "0.10000000000000001"]);
  fails("float", { range: { min: "0.1" } }, [0.09999, "-1e3"], "range");
  passes("decimal(10,2)", { range: { min: "0", max: "999.99" } }, ["0.00", "999.99"]);
  fails("decimal(10,2)", { range: { min: "0", max: "999.99" } }, ["-0.01", "1000.00"], "range");
});

Deno.test("rule range: timestamps by instant, dates by day", () => {
  const rules = { range: { min: "2024-01-01T00:00:00Z", max: "2024-12-31T23:59:59Z" } };
  passes("timestamp", rules, ["2024-01-01T01:00:00+01:00", "2024-06-01T00:00:00Z"]);
  fails("timestamp", rules, ["2023-12-31T23:59:59.999Z", "2024-01-01T00:59:59+01:00"], "range");
  passes("date", { range: { min: "2024-01-01" } }, ["2024-01-01", "2025-03-04"]);
  fails("date", { range: { min: "2024-01-01" } }, ["2023-12-31"], "range");
});

Deno.test("rule regex: every pattern must match (unanchored)", () => {
  passes("text", { regex: ["^[A-Z]", "\\d$"] }, ["A1", "Abc9"]);
  const [v] = fails("text", { regex: ["^[A-Z]", "\\d$"] }, ["a1", "Abc"], "regex");
  assert(v.detail.includes("/^[A-Z]/"), v.detail);
});

Deno.test("rule contains and does_not_contain", () => {
  passes("text", { contains: ["@", "."] }, ["a@b.c"]);
  fails("text", { contains: ["@", "."] }, ["a@b", "a.b"], "contains");
  passes("text", { does_not_contain: "DROP" }, ["select"]);
  fails("text", { does_not_contain: "DROP" }, ["x DROP y"], "does_not_contain");
});

Deno.test("rule format email", () => {
  passes("text", { format: "email" }, ["jane@example.com", "a.b+c@sub.example.org"]);
  fails(
    "text",
    { format: "email" },
    ["jane", "jane@", "@example.com", "ja ne@example.com"],
    "format",
  );
});

Deno.test("rule format url", () => {
  passes("text", { format: "url" }, ["https://example.com", "http://localhost:7070/v1?x=1"]);
  fails(
    "text",
    { format: "url" },
    ["example.com", "https://", "not a url", "mailto:x@y.z"],
    "format",
  );
});

Deno.test("rule format credit_card uses the Luhn check", () => {
  passes("text", { format: "credit_card" }, [
    "4111111111111111",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
  ]);
  const [v] = fails("text", { format: "credit_card" }, [
    "4111111111111112",
    "1234",
    "4111x1111111111111",
  ], "format");
  // The number itself is never echoed back.
  assert(!v.detail.includes("4111111111111112"), v.detail);
});

Deno.test("rule format iso8601", () => {
  passes("text", { format: "iso8601" }, [
    "2024-05-01",
    "2024-05-01T12:30",
    "2024-05-01T12:30:00.5Z",
    "2024-05-01T12:30:00+0200",
  ]);
  fails("text", { format: "iso8601" }, [
    "2024-02-30",
    "01/05/2024",
    "2024-05-01T25:00",
    "yesterday",
  ], "format");
});

Deno.test("rule format country_code: ISO 3166-1 alpha-2", () => {
  passes("text", { format: "country_code" }, ["US", "NO", "GB", "ZW", "AX"]);
  fails("text", { format: "country_code" }, ["XX", "us", "USA", "UK", ""], "format");
});

Deno.test("column types parse case-insensitively with aliases; bad ones are refused", () => {
  assertEquals(parseColumnType("Decimal( 10 , 2 )"), { kind: "decimal", precision: 10, scale: 2 });
  assertEquals(parseColumnType("INT"), { kind: "integer" });
  assertEquals(parseColumnType("numeric(4)"), { kind: "decimal", precision: 4, scale: 0 });
  assertEquals(normalizeColumn("x", "string"), { type: "text" });
  for (
    const bad of [
      "varchar",
      "decimal(2,3)",
      "decimal(0,0)",
      "decimal(300,1)",
      "decimal",
      "",
      "constructor",
    ]
  ) {
    assertThrows(() => parseColumnType(bad), "invalid_input");
  }
  assertThrows(() => parseColumnType(5), "invalid_input");
});

Deno.test("rules that do not fit the column type or are malformed are refused", () => {
  const cases: [string, unknown, string][] = [
    ["integer", { length: { min: 1 } }, "rule length does not apply"],
    ["text", { range: { min: 1 } }, "rule range does not apply"],
    ["integer", { regex: "x" }, "rule regex does not apply"],
    ["boolean", { format: "email" }, "rule format does not apply"],
    ["json", { contains: "x" }, "rule contains does not apply"],
    ["text", { regex: "(" }, "invalid regex"],
    ["text", { format: "phone" }, "unknown format"],
    ["text", { length: { min: 5, max: 2 } }, "min 5 is greater than max 2"],
    ["text", { length: { min: -1 } }, "non-negative integer"],
    ["text", { length: {} }, "needs min and/or max"],
    ["integer", { range: { min: "abc" } }, "is not a decimal number"],
    ["integer", { range: { min: 5, max: 1 } }, "greater than max"],
    ["date", { range: { min: "2024-02-30" } }, "is not a date"],
    ["timestamp", { range: { max: "tomorrow" } }, "is not an RFC 3339 timestamp"],
    ["text", { required: "yes" }, "required must be a boolean"],
    ["text", { requried: true }, 'unknown key "requried"'],
    ["text", { contains: [""] }, "empty string"],
    ["text", { contains: 5 }, "string or a list of strings"],
    ["text", [1], "rules must be a JSON object"],
  ];
  for (const [type, rules, message] of cases) {
    assertThrows(
      () => normalizeRules("column f", parseColumnType(type), rules),
      "invalid_input",
      message,
    );
  }
  assertThrows(
    () => normalizeColumn("f", { type: "text", properties: {} }),
    "invalid_input",
    "only apply to type object",
  );
  assertThrows(() => normalizeColumn("f", { rules: {} }), "invalid_input", "has no type");
  assertThrows(() => normalizeColumn("f", 5), "invalid_input");
});

Deno.test("rules are stored in normalized form", () => {
  assertEquals(
    normalizeRules("c", parseColumnType("decimal(10,2)"), {
      range: { min: 0, max: "010.50" },
      required: false,
    }),
    { range: { min: "0", max: "10.5" } },
  );
  assertEquals(normalizeRules("c", parseColumnType("text"), { regex: "a", contains: ["b", "b"] }), {
    regex: ["a"],
    contains: ["b"],
  });
  assertEquals(normalizeRules("c", parseColumnType("text"), {}), undefined);
});

Deno.test("decimals compare by value, not by float", () => {
  const d = (s: string) => parseDecimal(s)!;
  assert(compareDecimal(d("0.5"), d("0.49")) > 0);
  assert(compareDecimal(d("-0.5"), d("-0.49")) < 0);
  assertEquals(compareDecimal(d("1.50"), d("1.5")), 0);
  assertEquals(compareDecimal(d("-0"), d("0")), 0);
  assertEquals(compareDecimal(d("1e2"), d("100")), 0);
  assert(compareDecimal(d("9007199254740993"), d("9007199254740992")) > 0);
  assertEquals(parseDecimal("1e99999"), undefined);
  assertEquals(parseDecimal("."), undefined);
});
