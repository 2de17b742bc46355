import assert from "node:assert/strict";
import {
  aggregateResource,
  matchResource,
  permits,
  schemaResource,
  tokenResource,
  validateActions,
  validateResources,
} from "../../src/auth/scope.ts";
import { DbxError } from "../../src/errors.ts";

Deno.test("scope: wildcard matching table", () => {
  const table: [string, string, boolean][] = [
    ["*", "aggregate:patient:p-001", true],
    ["*", "", true],
    ["", "", true],
    ["", "a", false],
    ["aggregate:patient:p-001", "aggregate:patient:p-001", true],
    ["aggregate:patient:p-001", "aggregate:patient:p-0011", false],
    ["aggregate:patient:p-001", "aggregate:patient:p-00", false],
    ["aggregate:patient:*", "aggregate:patient:p-001", true],
    ["aggregate:patient:*", "aggregate:patient:", true],
    ["aggregate:patient:*", "aggregate:patients:p-001", false],
    ["aggregate:patient:*", "aggregate:order:o-1", false],
    ["aggregate:*:p-001", "aggregate:patient:p-001", true],
    ["aggregate:*:p-001", "aggregate:patient:p-002", false],
    ["aggregate:*", "schema:patient", false],
    ["aggregate:patient:p-00?", "aggregate:patient:p-001", true],
    ["aggregate:patient:p-00?", "aggregate:patient:p-00", false],
    ["aggregate:patient:p-00?", "aggregate:patient:p-0010", false],
    ["aggregate:patient:p-??1", "aggregate:patient:p-001", true],
    ["a*b*c", "aXXbYYc", true],
    ["a*b*c", "aXXbYY", false],
    ["a*b*c", "abcabc", true],
    ["*p-001", "aggregate:patient:p-001", true],
    ["**", "anything", true],
    ["?", "", false],
    ["Aggregate:patient:*", "aggregate:patient:p-001", false], // case-sensitive
  ];
  for (const [pattern, resource, expected] of table) {
    assert.equal(matchResource(pattern, resource), expected, `${pattern} vs ${resource}`);
  }
});

/**
 * How long each hostile match may take. The linear-space matcher takes about a millisecond
 * for each of these (at most pattern × resource steps, ~2 million); a backtracking one
 * takes longer than the age of the universe. Noise (a loaded CI machine) stays far below.
 */
const HOSTILE_MATCH_MS = 1_000;
/** The worker's start (a type check and module load) plus all matches. */
const HOSTILE_DEADLINE_MS = 20_000;

Deno.test("scope: hostile patterns stay fast (no exponential backtracking)", async () => {
  const cases = [
    { pattern: "*a".repeat(200) + "b", resource: "a".repeat(5000), expected: false },
    { pattern: "a*".repeat(200) + "b", resource: "a".repeat(5000), expected: false },
    { pattern: "*?".repeat(100) + "*b", resource: "a".repeat(5000), expected: false },
    { pattern: "*a*a*a*a*a*a*a*a*a*a*a*a*b", resource: "a".repeat(5000), expected: false },
    { pattern: "*a".repeat(200) + "*", resource: "a".repeat(5000), expected: true },
  ];
  // In a worker, so that a match that never ends fails the test instead of hanging it.
  const worker = new Worker(new URL("./fixtures/match_worker.ts", import.meta.url), {
    type: "module",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const results = await new Promise<{ matched: boolean; ms: number }[]>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `hostile patterns took over ${HOSTILE_DEADLINE_MS} ms (exponential backtracking?)`,
            ),
          ),
        HOSTILE_DEADLINE_MS,
      );
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`match worker failed: ${e.message}`));
      };
      worker.postMessage(cases.map(({ pattern, resource }) => ({ pattern, resource })));
    });
    for (const [i, { matched, ms }] of results.entries()) {
      assert.equal(matched, cases[i].expected, `case ${i}`);
      assert.ok(ms < HOSTILE_MATCH_MS, `case ${i} took ${ms.toFixed(1)} ms`);
    }
  } finally {
    clearTimeout(timer);
    worker.terminate();
  }
});

Deno.test("scope: resource strings escape separators and wildcards", () => {
  assert.equal(aggregateResource("patient", "p-001"), "aggregate:patient:p-001");
  assert.equal(schemaResource("patient"), "schema:patient");
  assert.equal(tokenResource(), "token:*");
  // A ':' in a type cannot let `aggregate:a:*` reach type "a:b".
  const tricky = aggregateResource("a:b", "c");
  assert.equal(tricky, "aggregate:a%3Ab:c");
  assert.equal(matchResource("aggregate:a:*", tricky), false);
  assert.equal(aggregateResource("t", "x*?%"), "aggregate:t:x%2A%3F%25");
});

Deno.test("scope: permits needs both an action and a resource match", () => {
  const auditor = { actions: ["aggregate.read"], resources: ["aggregate:patient:p-001"] };
  assert.ok(permits(auditor, "aggregate.read", aggregateResource("patient", "p-001")));
  assert.ok(!permits(auditor, "aggregate.read", aggregateResource("patient", "p-002")));
  assert.ok(!permits(auditor, "aggregate.append", aggregateResource("patient", "p-001")));
  assert.ok(!permits(auditor, "schema.read", schemaResource("patient")));
  const writer = { actions: ["aggregate.*"], resources: ["aggregate:order:*", "schema:order"] };
  assert.ok(permits(writer, "aggregate.archive", aggregateResource("order", "o-9")));
  assert.ok(!permits(writer, "schema.write", schemaResource("order")));
  assert.ok(permits({ actions: ["*"], resources: ["*"] }, "token.manage", tokenResource()));
});

Deno.test("scope: bad actions and resources are refused with invalid_input", () => {
  validateActions(["aggregate.read", "aggregate.*", "*", "schema.?ead"]);
  validateResources(["*", "aggregate:patient:*", "schema:patient", "token:*", "agg*"]);
  const bad: [() => void, RegExp][] = [
    [() => validateActions(["aggregate.delete"]), /unknown action "aggregate.delete"/],
    [() => validateActions([""]), /must not be empty/],
    [() => validateActions(["aggregate.read "]), /spaces or control/],
    [() => validateActions(Array(65).fill("*")), /at most 64/],
    [() => validateResources(["patient:p-001"]), /must look like aggregate:TYPE:ID/],
    [() => validateResources(["aggregate:p\u0001"]), /control/],
    [() => validateResources(["aggregate:" + "x".repeat(600)]), /longer than 512 bytes/],
  ];
  for (const [fn, message] of bad) {
    assert.throws(fn, (err: unknown) => {
      assert(err instanceof DbxError);
      assert.equal(err.code, "invalid_input");
      assert.match(err.message, message);
      return true;
    });
  }
});
