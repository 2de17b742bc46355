import assert from "node:assert/strict";
import { canonicalJson } from "../../src/integrity/canonical_json.ts";

Deno.test("canonicalJson sorts object keys and drops whitespace", () => {
  assert.equal(
    canonicalJson({ b: 1, a: 2, c: { z: true, y: null } }),
    '{"a":2,"b":1,"c":{"y":null,"z":true}}',
  );
});

Deno.test("canonicalJson gives equal bytes for equal values in any insertion order", () => {
  const one = { event_type: "x", payload: { n: 1, list: [{ b: 2, a: 1 }] }, metadata: { id: "u" } };
  const two = { metadata: { id: "u" }, payload: { list: [{ a: 1, b: 2 }], n: 1 }, event_type: "x" };
  assert.equal(canonicalJson(one), canonicalJson(two));
});

Deno.test("canonicalJson keeps array order and sorts objects nested inside arrays", () => {
  assert.equal(
    canonicalJson([3, 1, { b: [{ d: 1, c: 2 }], a: "x" }, []]),
    '[3,1,{"a":"x","b":[{"c":2,"d":1}]},[]]',
  );
  assert.equal(canonicalJson({}), "{}");
  assert.equal(canonicalJson([]), "[]");
});

Deno.test("canonicalJson sorts keys by UTF-16 code units, not code points (RFC 8785 §3.2.3)", () => {
  const value = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
  };
  // The emoji's lead surrogate 0xD83D sorts before U+FB33 although its code point is larger.
  // (Compared as text: parsing back would reorder the integer-like key "1".)
  const order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"];
  const expected = `{${
    order.map((k) => `${JSON.stringify(k)}:${JSON.stringify(value[k as keyof typeof value])}`)
      .join(",")
  }}`;
  assert.equal(canonicalJson(value), expected);
});

Deno.test("canonicalJson formats numbers like ECMAScript", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "0"],
    [1, "1"],
    [-42, "-42"],
    [0.1, "0.1"],
    [1.5e-7, "1.5e-7"],
    [1e21, "1e+21"],
    [123456789012345680000, "123456789012345680000"],
    [9007199254740991, "9007199254740991"],
    [4.35, "4.35"],
    [Number.MIN_VALUE, "5e-324"],
    [Number.MAX_VALUE, "1.7976931348623157e+308"],
  ];
  for (const [n, text] of cases) assert.equal(canonicalJson(n), text, `number ${n}`);
  assert.equal(canonicalJson({ n: 1.0 }), '{"n":1}');
});

Deno.test("canonicalJson encodes scalars and escapes strings", () => {
  assert.equal(canonicalJson(null), "null");
  assert.equal(canonicalJson(true), "true");
  assert.equal(canonicalJson(false), "false");
  assert.equal(canonicalJson('a"b\\c\n\u0001é😀'), '"a\\"b\\\\c\\n\\u0001é😀"');
  assert.equal(canonicalJson({ 'k"ey': 1 }), '{"k\\"ey":1}');
});

Deno.test("canonicalJson drops undefined object members", () => {
  assert.equal(canonicalJson({ a: undefined, b: 1, c: { d: undefined } }), '{"b":1,"c":{}}');
});

Deno.test("canonicalJson rejects values without a JSON form", () => {
  const bad: unknown[] = [
    NaN,
    Infinity,
    -Infinity,
    () => 1,
    Symbol("s"),
    10n,
    { nested: { n: NaN } },
    [1, Infinity],
    { f() {} },
    [() => 1],
  ];
  for (const value of bad) {
    assert.throws(() => canonicalJson(value), TypeError, `should reject ${String(value)}`);
  }
});
