/**
 * JSON Patch conformance: the public RFC 6902 vectors of json-patch/json-patch-tests (npm
 * `json-patch-test-suite`: tests.json and spec_tests.json) run through payloadFromPatch, and
 * the RFC 6901 pointer rules the vectors do not cover.
 *
 * A vector agrees when an expected document is matched (the payload's keys are the touched
 * top-level keys of the expected document, and the doc under the payload is the expected
 * document) and an expected error is an error (invalid_input or conflict, never another
 * exception). Vectors the append-only model refuses on purpose are listed in REFUSED with the
 * reason; each must be refused for that reason. Every other vector must agree.
 */
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import specTests from "json-patch-test-suite/spec_tests.json" with { type: "json" };
import tests from "json-patch-test-suite/tests.json" with { type: "json" };
import { payloadFromPatch } from "../../src/engine/patch.ts";
import { DbxError } from "../../src/errors.ts";

interface Vector {
  comment?: string;
  doc?: unknown;
  patch?: unknown;
  expected?: unknown;
  error?: string;
  disabled?: boolean;
}

/** Why a vector is refused on purpose, and what the refusal's message says. */
const REASONS = {
  notObject: {
    why: "the document is not an object, and an aggregate's state always is",
    message: /^$/, // never run as is
  },
  removes: {
    why: "remove and move take data away, and events are append-only",
    message: /would remove data; events are append-only/,
  },
  wholeDocument: {
    why: 'it replaces the whole document (path ""), and a patch may only add or change fields',
    message: /replaces the whole document/,
  },
  emptyPatch: {
    why: "the patch is empty, and an append must carry at least one operation",
    message: /patch must be a non-empty JSON array/,
  },
  fieldName: {
    why: 'its top-level key "" is not a field name (names are non-empty)',
    message: /field name must be a non-empty string/,
  },
} as const;
type Reason = keyof typeof REASONS;

/**
 * The vectors refused on purpose, by file and index, with the vector's comment (or its patch,
 * for vectors without one) so that a changed file cannot move an entry silently. A vector whose
 * doc is not an object is also run wrapped in an object (doc under "/d", pointers prefixed with
 * "/d"), where it must agree, or be refused for the reason `wrapped` names.
 */
const REFUSED: Record<string, { what: string; reason: Reason; wrapped?: Reason }> = {
  "tests.json#0": { what: "empty list, empty docs", reason: "emptyPatch" },
  "tests.json#1": { what: "empty patch list", reason: "emptyPatch" },
  "tests.json#2": { what: "rearrangements OK?", reason: "emptyPatch" },
  "tests.json#3": {
    what: "rearrangements OK?  How about one level down ... array",
    reason: "notObject",
    wrapped: "emptyPatch",
  },
  "tests.json#4": { what: "rearrangements OK?  How about one level down...", reason: "emptyPatch" },
  "tests.json#6": { what: "toplevel array", reason: "notObject" },
  "tests.json#7": { what: "toplevel array, no change", reason: "notObject", wrapped: "emptyPatch" },
  "tests.json#11": { what: "Add, / target", reason: "fieldName" },
  "tests.json#21": { what: '[{"op":"add","path":"/1","value":"bar"}]', reason: "notObject" },
  "tests.json#22": { what: '[{"op":"add","path":"/1","value":"bar"}]', reason: "notObject" },
  "tests.json#23": { what: '[{"op":"add","path":"/0","value":"bar"}]', reason: "notObject" },
  "tests.json#24": { what: "push item to array via last index + 1", reason: "notObject" },
  "tests.json#25": {
    what: "add item to array at index > length should fail",
    reason: "notObject",
  },
  "tests.json#27": { what: "test with bad number should fail", reason: "notObject" },
  "tests.json#28": { what: '[{"op":"add","path":"/bar","value":42}]', reason: "notObject" },
  "tests.json#29": { what: "value in array add not flattened", reason: "notObject" },
  "tests.json#30": { what: '[{"op":"remove","path":"/bar"}]', reason: "removes" },
  "tests.json#31": { what: '[{"op":"remove","path":"/baz/0/qux"}]', reason: "removes" },
  "tests.json#34": { what: '[{"op":"replace","path":"/0","value":"bar"}]', reason: "notObject" },
  "tests.json#35": { what: '[{"op":"replace","path":"/0","value":0}]', reason: "notObject" },
  "tests.json#36": { what: '[{"op":"replace","path":"/0","value":true}]', reason: "notObject" },
  "tests.json#37": { what: '[{"op":"replace","path":"/0","value":false}]', reason: "notObject" },
  "tests.json#38": { what: '[{"op":"replace","path":"/0","value":null}]', reason: "notObject" },
  "tests.json#39": { what: "value in array replace not flattened", reason: "notObject" },
  "tests.json#40": { what: "replace whole document", reason: "wholeDocument" },
  "tests.json#44": {
    what: "null value should be valid obj property to be moved",
    reason: "removes",
  },
  "tests.json#46": {
    what: "null value should be valid obj property to be removed",
    reason: "removes",
  },
  "tests.json#55": { what: "Move to same location has no effect", reason: "removes" },
  "tests.json#56": { what: '[{"op":"move","from":"/foo","path":"/bar"}]', reason: "removes" },
  "tests.json#57": {
    what: '[{"op":"move","from":"/baz/0/qux","path":"/baz/1"}]',
    reason: "removes",
  },
  "tests.json#59": {
    what: "replacing the root of the document is possible with add",
    reason: "wholeDocument",
  },
  "tests.json#60": { what: 'Adding to "/-" adds to the end of the array', reason: "notObject" },
  "tests.json#61": {
    what: 'Adding to "/-" adds to the end of the array, even n levels down',
    reason: "notObject",
  },
  "tests.json#62": { what: "test remove with bad number should fail", reason: "removes" },
  "tests.json#63": { what: "test remove on array", reason: "notObject", wrapped: "removes" },
  "tests.json#64": { what: "test repeated removes", reason: "notObject", wrapped: "removes" },
  "tests.json#65": {
    what: "test remove with bad index should fail",
    reason: "notObject",
    wrapped: "removes",
  },
  "tests.json#66": { what: "test replace with bad number should fail", reason: "notObject" },
  "tests.json#68": { what: "test move with bad number should fail", reason: "removes" },
  "tests.json#69": { what: "test add with bad number should fail", reason: "notObject" },
  "tests.json#70": { what: "missing 'value' parameter to add", reason: "notObject" },
  "tests.json#71": { what: "missing 'value' parameter to replace", reason: "notObject" },
  "tests.json#72": { what: "missing 'value' parameter to test", reason: "notObject" },
  "tests.json#73": {
    what: "missing value parameter to test - where undef is falsy",
    reason: "notObject",
  },
  "tests.json#74": { what: "missing from parameter to copy", reason: "notObject" },
  "tests.json#75": { what: "missing from parameter to move", reason: "removes" },
  "spec_tests.json#3": { what: "A.3.  Removing an Object Member", reason: "removes" },
  "spec_tests.json#4": { what: "A.4.  Removing an Array Element", reason: "removes" },
  "spec_tests.json#6": { what: "A.6.  Moving a Value", reason: "removes" },
  "spec_tests.json#7": { what: "A.7.  Moving an Array Element", reason: "removes" },
};

const FILES: [string, Vector[]][] = [
  ["tests.json", tests as unknown as Vector[]],
  ["spec_tests.json", specTests as unknown as Vector[]],
];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

type Outcome =
  | { ok: true; payload: Record<string, unknown> }
  | { ok: false; error: unknown };

function run(doc: Record<string, unknown>, patch: unknown): Outcome {
  try {
    // Frozen: payloadFromPatch must never modify the state it is given.
    return { ok: true, payload: payloadFromPatch(deepFreeze(structuredClone(doc)), patch) };
  } catch (error) {
    return { ok: false, error };
  }
}

const describe = (error: unknown) =>
  error instanceof DbxError ? `${error.code}: ${error.message}` : `${error}`;

/** Why `outcome` disagrees with the vector, or undefined when it agrees. */
function disagreement(vector: Vector, doc: Record<string, unknown>, outcome: Outcome) {
  if (vector.error !== undefined) {
    if (outcome.ok) return `expected an error (${vector.error}), got ${JSON.stringify(outcome)}`;
    const { error } = outcome;
    if (!(error instanceof DbxError) || !["invalid_input", "conflict"].includes(error.code)) {
      return `expected invalid_input or conflict, got ${describe(error)}`;
    }
    return undefined;
  }
  if (!outcome.ok) return `expected success, got ${describe(outcome.error)}`;
  if (vector.expected === undefined) return undefined;
  if (!isObject(vector.expected)) return "expected a document that is not an object";
  const expected = vector.expected;
  for (const [key, value] of Object.entries(outcome.payload)) {
    if (!Object.hasOwn(expected, key) || !isDeepStrictEqual(value, expected[key])) {
      return `payload key ${JSON.stringify(key)} is ${JSON.stringify(value)}, expected ${
        JSON.stringify(expected[key])
      }`;
    }
  }
  const result = { ...doc, ...outcome.payload };
  if (!isDeepStrictEqual(result, expected)) {
    return `result ${JSON.stringify(result)}, expected ${JSON.stringify(expected)}`;
  }
  return undefined;
}

/** Why a refusal on purpose did not happen as listed, or undefined when it did. */
function refusalMismatch(reason: Reason, outcome: Outcome) {
  if (outcome.ok) return `listed as refused (${reason}) but accepted`;
  const { error } = outcome;
  if (
    !(error instanceof DbxError) || error.code !== "invalid_input" ||
    !REASONS[reason].message.test(error.message)
  ) {
    return `listed as refused (${reason}) but got ${describe(error)}`;
  }
  return undefined;
}

/** The vector with its doc under "/d" and every pointer prefixed with "/d". */
function wrapped(vector: Vector): Vector {
  const prefix = (pointer: unknown) => typeof pointer === "string" ? `/d${pointer}` : pointer;
  const patch = Array.isArray(vector.patch)
    ? vector.patch.map((op) =>
      isObject(op)
        ? {
          ...op,
          ...("path" in op ? { path: prefix(op.path) } : {}),
          ...("from" in op ? { from: prefix(op.from) } : {}),
        }
        : op
    )
    : vector.patch;
  return {
    ...vector,
    doc: { d: vector.doc },
    patch,
    ...("expected" in vector ? { expected: { d: vector.expected } } : {}),
  };
}

interface Tally {
  passed: number;
  refused: Record<Reason, number>;
  disabled: number;
  wrappedPassed: number;
  wrappedRefused: number;
  problems: string[];
}

function runSuite(): Tally {
  const tally: Tally = {
    passed: 0,
    refused: { notObject: 0, removes: 0, wholeDocument: 0, emptyPatch: 0, fieldName: 0 },
    disabled: 0,
    wrappedPassed: 0,
    wrappedRefused: 0,
    problems: [],
  };
  const seen = new Set<string>();
  for (const [file, vectors] of FILES) {
    for (const [index, vector] of vectors.entries()) {
      const id = `${file}#${index}`;
      const what = vector.comment ?? JSON.stringify(vector.patch);
      const problem = (text: string) => tally.problems.push(`${id} (${what}): ${text}`);
      // The suite's own rules: a disabled record is skipped, a comment-only one is no test.
      if (vector.disabled === true || !("doc" in vector && "patch" in vector)) {
        tally.disabled++;
        if (REFUSED[id]) problem("is disabled or no test, but listed in REFUSED");
        continue;
      }
      const refused = REFUSED[id];
      if (refused) {
        seen.add(id);
        if (refused.what !== what) problem(`REFUSED names ${JSON.stringify(refused.what)}`);
        tally.refused[refused.reason]++;
      }
      if (!isObject(vector.doc)) {
        if (refused?.reason !== "notObject") problem("its doc is not an object: list it");
        // Not runnable as is; wrapped in an object it must agree (or be refused as listed).
        const inner = wrapped(vector);
        const outcome = run(inner.doc as Record<string, unknown>, inner.patch);
        const wrong = refused?.wrapped
          ? refusalMismatch(refused.wrapped, outcome)
          : disagreement(inner, inner.doc as Record<string, unknown>, outcome);
        if (wrong) problem(`wrapped: ${wrong}`);
        else if (refused?.wrapped) tally.wrappedRefused++;
        else tally.wrappedPassed++;
        continue;
      }
      const outcome = run(vector.doc, vector.patch);
      if (refused) {
        const wrong = refused.reason === "notObject"
          ? "its doc is an object"
          : refusalMismatch(refused.reason, outcome);
        if (wrong) problem(wrong);
        continue;
      }
      const wrong = disagreement(vector, vector.doc, outcome);
      if (wrong) problem(wrong);
      else tally.passed++;
    }
  }
  for (const id of Object.keys(REFUSED)) {
    if (!seen.has(id)) tally.problems.push(`${id}: listed in REFUSED but no such vector`);
  }
  return tally;
}

Deno.test("JSON Patch conformance: every json-patch-tests vector agrees or is refused on purpose", () => {
  const tally = runSuite();
  assert.deepEqual(tally.problems, []);
  const refused = Object.values(tally.refused).reduce((a, b) => a + b, 0);
  const total = FILES.reduce((n, [, vectors]) => n + vectors.length, 0);
  assert.equal(tally.passed + refused + tally.disabled, total, "every vector is accounted for");
  // The pinned package's counts: a new version of the suite must be looked at, not skipped.
  assert.deepEqual(
    { ...tally, problems: undefined },
    {
      passed: 41,
      refused: { notObject: 29, removes: 14, wholeDocument: 2, emptyPatch: 4, fieldName: 1 },
      disabled: 4,
      wrappedPassed: 24,
      wrappedRefused: 5,
      problems: undefined,
    },
  );
});

// ---------------------------------------------------------------------------------------------
// RFC 6901 pointer rules beyond the suite's vectors (and the RFC 6902 rules built on them).

const STATE = {
  name: "Jane",
  tags: ["a", "b"],
  address: { city: "Oslo", lines: [["x"]] },
  n: "2",
  "a/b": "slash",
  "m~n": "tilde",
  "~1": "tilde-one",
  "": "empty",
  nothing: null,
};

/** The payload of a patch on STATE that must succeed. */
function payloadOf(patch: unknown[]): Record<string, unknown> {
  const outcome = run(STATE, patch);
  if (!outcome.ok) assert.fail(`${JSON.stringify(patch)}: ${describe(outcome.error)}`);
  return outcome.payload;
}

function accepted(patch: unknown[], expected: Record<string, unknown>): void {
  assert.deepEqual(payloadOf(patch), expected, JSON.stringify(patch));
}

function refusedWith(
  patch: unknown[],
  code: "invalid_input" | "conflict",
  message: RegExp,
): void {
  const outcome = run(STATE, patch);
  assert.ok(!outcome.ok, `${JSON.stringify(patch)} was accepted`);
  const { error } = outcome;
  assert.ok(error instanceof DbxError, `${JSON.stringify(patch)}: ${error}`);
  assert.equal(error.code, code, `${JSON.stringify(patch)}: ${error.message}`);
  assert.match(error.message, message, JSON.stringify(patch));
}

Deno.test("JSON Pointer: array indexes are 0 or have no leading zero, for every operation", () => {
  const leading =
    /patch operation 0 \(\w+\) (path|from) "[^"]*": array index "0\d*" .*leading zero/;
  refusedWith([{ op: "add", path: "/tags/01", value: "x" }], "invalid_input", leading);
  refusedWith([{ op: "add", path: "/tags/00", value: "x" }], "invalid_input", leading);
  refusedWith([{ op: "test", path: "/tags/01", value: "b" }], "invalid_input", leading);
  refusedWith([{ op: "test", path: "/tags/00", value: "a" }], "invalid_input", leading);
  refusedWith([{ op: "replace", path: "/tags/01", value: "x" }], "invalid_input", leading);
  refusedWith([{ op: "copy", from: "/tags/01", path: "/x" }], "invalid_input", leading);
  refusedWith([{ op: "copy", from: "/name", path: "/tags/01" }], "invalid_input", leading);
  refusedWith(
    [{ op: "add", path: "/address/lines/00/0", value: "y" }],
    "invalid_input",
    /array index "00" of "\/address\/lines" has a leading zero/,
  );
  // "0" itself, and indexes without a leading zero, are fine.
  accepted([{ op: "test", path: "/tags/0", value: "a" }], {});
  accepted([{ op: "replace", path: "/tags/1", value: "c" }], { tags: ["a", "c"] });
  accepted([{ op: "add", path: "/address/lines/0/0", value: "y" }], {
    address: { city: "Oslo", lines: [["y", "x"]] },
  });
  // On an object, "01" is just a member name.
  accepted([{ op: "add", path: "/address/01", value: 1 }], {
    address: { city: "Oslo", lines: [["x"]], "01": 1 },
  });
});

Deno.test("JSON Pointer: non-numeric tokens on arrays are refused", () => {
  for (const token of ["x", "1e0", "-1", "+1", " 1", "1 ", "0x1", "1.0", "", "١"]) {
    refusedWith(
      [{ op: "add", path: `/tags/${token}`, value: "x" }],
      "invalid_input",
      /is not an index of the array "\/tags"/,
    );
    refusedWith(
      [{ op: "test", path: `/tags/${token}`, value: "a" }],
      "invalid_input",
      /is not an index of the array "\/tags"/,
    );
  }
});

Deno.test('JSON Pointer: "-" is allowed only as the last token of an add or copy target', () => {
  accepted([{ op: "add", path: "/tags/-", value: "c" }], { tags: ["a", "b", "c"] });
  accepted([{ op: "copy", from: "/name", path: "/tags/-" }], { tags: ["a", "b", "Jane"] });
  const dash = /"-" names no element of the array "\/tags"/;
  refusedWith([{ op: "replace", path: "/tags/-", value: "c" }], "invalid_input", dash);
  refusedWith([{ op: "test", path: "/tags/-", value: "b" }], "invalid_input", dash);
  refusedWith([{ op: "copy", from: "/tags/-", path: "/x" }], "invalid_input", dash);
  refusedWith([{ op: "add", path: "/tags/-/x", value: 1 }], "invalid_input", dash);
  // On an object, "-" is a member name like any other.
  accepted([{ op: "add", path: "/address/-", value: 1 }], {
    address: { city: "Oslo", lines: [["x"]], "-": 1 },
  });
});

Deno.test("JSON Pointer: indexes beyond the end", () => {
  // add may insert at the length (the end), not beyond it.
  accepted([{ op: "add", path: "/tags/2", value: "c" }], { tags: ["a", "b", "c"] });
  const beyond = (index: number) =>
    new RegExp(`index ${index} is beyond the end of the array "/tags" \\(length 2\\)`);
  refusedWith([{ op: "add", path: "/tags/3", value: "c" }], "invalid_input", beyond(3));
  refusedWith([{ op: "replace", path: "/tags/2", value: "c" }], "invalid_input", beyond(2));
  refusedWith([{ op: "copy", from: "/tags/2", path: "/x" }], "invalid_input", beyond(2));
  refusedWith(
    [{ op: "add", path: "/tags/99999999999999999999", value: "c" }],
    "invalid_input",
    /beyond the end/,
  );
  // A test of an element that does not exist does not hold.
  refusedWith([{ op: "test", path: "/tags/2", value: "c" }], "conflict", beyond(2));
});

Deno.test("JSON Pointer: ~0 and ~1 escapes, decoded in one pass; any other ~ is refused", () => {
  accepted([{ op: "test", path: "/a~1b", value: "slash" }], {});
  accepted([{ op: "test", path: "/m~0n", value: "tilde" }], {});
  accepted([{ op: "test", path: "/~01", value: "tilde-one" }], {}); // "~01" is "~1", not "/"
  accepted([{ op: "replace", path: "/a~1b", value: "s" }], { "a/b": "s" });
  accepted([{ op: "add", path: "/x~0~1y", value: 1 }], { "x~/y": 1 });
  accepted([{ op: "copy", from: "/m~0n", path: "/~0" }], { "~": "tilde" });
  const escape = /has an invalid escape in "[^"]*": "~" must be followed by "0" or "1"/;
  for (const path of ["/a~2b", "/a~", "/~", "/~~0", "/tags/~", "/x~a"]) {
    refusedWith([{ op: "add", path, value: 1 }], "invalid_input", escape);
    refusedWith([{ op: "test", path, value: 1 }], "invalid_input", escape);
  }
  refusedWith([{ op: "copy", from: "/a~3", path: "/x" }], "invalid_input", /\(copy\) from/);
  refusedWith([{ op: "add", path: "a/b", value: 1 }], "invalid_input", /start with "\/"/);
  refusedWith([{ op: "copy", from: "name", path: "/x" }], "invalid_input", /start with "\/"/);
});

Deno.test("JSON Pointer: members are own properties; scalars and null have no children", () => {
  const missing = /"\/constructor" does not exist/;
  refusedWith([{ op: "test", path: "/constructor", value: {} }], "conflict", missing);
  refusedWith([{ op: "replace", path: "/constructor", value: 1 }], "invalid_input", missing);
  refusedWith(
    [{ op: "copy", from: "/address/toString", path: "/x" }],
    "invalid_input",
    /"\/address\/toString" does not exist/,
  );
  refusedWith(
    [{ op: "add", path: "/name/first", value: "J" }],
    "invalid_input",
    /"\/name" is a string, not an object or array/,
  );
  refusedWith(
    [{ op: "add", path: "/nothing/x", value: 1 }],
    "invalid_input",
    /"\/nothing" is null, not an object or array/,
  );
  refusedWith(
    [{ op: "replace", path: "/missing/deep", value: 1 }],
    "invalid_input",
    /"\/missing" does not exist/,
  );
  refusedWith([{ op: "test", path: "/name/first", value: "J" }], "conflict", /is a string/);
  // The empty member name is a pointer "/" (a valid field only as a nested key here).
  accepted([{ op: "test", path: "/", value: "empty" }], {});
  accepted([{ op: "add", path: "/address/", value: 1 }], {
    address: { city: "Oslo", lines: [["x"]], "": 1 },
  });
  // "__proto__" is data like any other name: it never reaches a prototype.
  const payload = payloadOf([{ op: "add", path: "/__proto__", value: { polluted: true } }]);
  assert.equal(Object.getPrototypeOf(payload), Object.prototype);
  assert.deepEqual(Object.keys(payload), ["__proto__"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("JSON Patch: errors name the operation index; test failures are conflicts", () => {
  refusedWith(
    [
      { op: "test", path: "/name", value: "Jane" },
      { op: "add", path: "/tags/-", value: "c" },
      { op: "add", path: "/tags/01", value: "x" },
    ],
    "invalid_input",
    /^patch operation 2 \(add\) path "\/tags\/01"/,
  );
  // Indexes see the document as the earlier operations left it.
  accepted([
    { op: "add", path: "/tags/-", value: "c" },
    { op: "replace", path: "/tags/2", value: "d" },
    { op: "test", path: "/tags", value: ["a", "b", "d"] },
  ], { tags: ["a", "b", "d"] });
  refusedWith(
    [{ op: "test", path: "/n", value: "2" }, { op: "test", path: "/n", value: 2 }],
    "conflict",
    /^patch operation 1 \(test\) failed: the value at "\/n" is not the expected value$/,
  );
  refusedWith(
    [{ op: "test", path: "/absent", value: null }],
    "conflict",
    /^patch operation 0 \(test\) failed/,
  );
  // Every operation's form is checked before any is applied (or any test evaluated).
  refusedWith(
    [{ op: "test", path: "/n", value: "3" }, { op: "remove", path: "/n" }],
    "invalid_input",
    /^patch operation 1 \("remove"\) would remove data/,
  );
  refusedWith([{ op: "add", path: "/x" }], "invalid_input", /operation 0 \(add\) has no "value"/);
  refusedWith([{ op: "test", path: "/n" }], "invalid_input", /\(test\) has no "value"/);
  refusedWith([{ op: "copy", path: "/x" }], "invalid_input", /\(copy\) has no "from" string/);
  refusedWith([{ path: "/x", value: 1 }], "invalid_input", /operation 0 has no "op" string/);
  refusedWith([{ op: "add", value: 1 }], "invalid_input", /\(add\) has no "path" string/);
  refusedWith([{ op: "add", path: 7, value: 1 }], "invalid_input", /has no "path" string/);
  refusedWith([{ op: "spam", path: "/x", value: 1 }], "invalid_input", /unknown op "spam"/);
  refusedWith([null], "invalid_input", /operation 0 is not an object/);
  refusedWith(
    [{ op: "copy", from: "/name", path: "" }],
    "invalid_input",
    /\(copy\) replaces the whole document/,
  );
  refusedWith(
    [{ op: "add", path: "/a\u0001b", value: 1 }],
    "invalid_input",
    /operation 0 \(add\) path "[^"]*": field name contains a control character/,
  );
  // A test of the whole document compares the whole state.
  accepted([{ op: "test", path: "", value: structuredClone(STATE) }], {});
  refusedWith([{ op: "test", path: "", value: {} }], "conflict", /the value at ""/);
});

Deno.test("JSON Patch: copies never share values; copy from the whole document works", () => {
  const copied = payloadOf([
    { op: "copy", from: "/address", path: "/home" },
    { op: "replace", path: "/home/city", value: "Bergen" },
    { op: "copy", from: "", path: "/snapshot" },
  ]);
  assert.deepEqual(copied.home, { city: "Bergen", lines: [["x"]] });
  const snapshot = copied.snapshot as Record<string, unknown>;
  assert.deepEqual(snapshot.address, STATE.address);
  assert.deepEqual(snapshot.home, copied.home);
  // A value taken from the patch is copied too: the caller's patch is never modified.
  const value = { list: [1] };
  const patch = [
    { op: "add", path: "/v", value },
    { op: "add", path: "/v/list/-", value: 2 },
  ];
  assert.deepEqual(payloadOf(patch), { v: { list: [1, 2] } });
  assert.deepEqual(value, { list: [1] });
});
