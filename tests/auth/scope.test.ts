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

Deno.test("scope: hostile patterns stay fast (no exponential backtracking)", () => {
  const pattern = "*a".repeat(200) + "b";
  const resource = "a".repeat(5000);
  assert.equal(matchResource(pattern, resource), false);
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
