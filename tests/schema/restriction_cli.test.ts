/**
 * Restriction end to end through the real CLI: `dbx config --restrict` persists
 * the mode, every write path honours it, and staged events are validated again
 * when they are committed.
 */
import { assert, assertEquals } from "../_helpers/assert.ts";
import { applyArgs, runDbx as dbx, runDbxOk as ok } from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";

async function refused(dir: string, args: string[], message: string): Promise<void> {
  const r = await dbx(dir, args);
  assertEquals(r.code, 1, `dbx ${args.join(" ")} should be refused: ${r.stdout}`);
  assert(r.stderr.includes(message), `expected "${message}" in: ${r.stderr}`);
}

const apply = applyArgs;

async function exists(dir: string, type: string, id: string): Promise<boolean> {
  const r = await dbx(dir, [
    "aggregate",
    "get",
    "--aggregate",
    type,
    "--aggregate-id",
    id,
    "--json",
  ]);
  return r.code === 0;
}

/** A `patient` schema with one event, `added`, and an integer `age` of at least 0. */
async function patientWithAgeRule(dir: string): Promise<void> {
  await ok(dir, ["schema", "create", "patient", "--events", "added"]);
  await ok(dir, [
    "schema",
    "alter",
    "patient",
    "--field",
    "age",
    "--type",
    "integer",
    "--rules",
    '{"range":{"min":0}}',
  ]);
}

Deno.test("config --restrict modes apply to CLI appends", async () => {
  await withTempDir(async (dir) => {
    await patientWithAgeRule(dir);

    // default (the initial mode)
    await ok(dir, apply("patient", "p1", "added", "age=42"));
    await refused(
      dir,
      apply("patient", "p2", "added", "age=-1"),
      'field "age": violates rule "range"',
    );
    await ok(dir, apply("free", "f1", "anything", "x=1"));

    await ok(dir, ["config", "--restrict", "strict"]);
    await refused(
      dir,
      apply("free", "f2", "anything", "x=1"),
      "restriction mode strict requires one",
    );
    await refused(dir, apply("patient", "p2", "removed"), 'rule "events"');

    await ok(dir, ["config", "--restrict", "false"]);
    await ok(dir, apply("patient", "p2", "removed", "age=-1"));
    await ok(dir, apply("free", "f2", "anything", "x=1"));

    await ok(dir, ["config", "--restrict", "true"]);
    await refused(dir, apply("patient", "p3", "added", "age=x"), 'rule "type"');
    await ok(dir, apply("free", "f3", "anything", "x=1"));

    assertEquals(await exists(dir, "patient", "p3"), false);
    assertEquals(await exists(dir, "patient", "p2"), true);
  });
});

Deno.test("staged events are validated again at commit time; a bad one commits nothing", async () => {
  await withTempDir(async (dir) => {
    await patientWithAgeRule(dir);
    await ok(dir, [...apply("patient", "p1", "added", "age=50"), "--stage"]);
    await ok(dir, [...apply("patient", "p2", "added", "age=5"), "--stage"]);
    // Staging already validates...
    await refused(dir, [...apply("patient", "p3", "added", "age=-5"), "--stage"], "violates rule");
    // ...and the schema changes before the commit: p2 no longer passes.
    await ok(dir, [
      "schema",
      "alter",
      "patient",
      "--field",
      "age",
      "--rules",
      '{"range":{"min":10}}',
    ]);
    await refused(dir, ["aggregate", "commit"], 'violates rule "range": must be >= 10, got 5');
    assertEquals(await exists(dir, "patient", "p1"), false);
    assertEquals(await exists(dir, "patient", "p2"), false);

    await ok(dir, ["config", "--restrict", "off"]);
    await ok(dir, ["aggregate", "commit"]);
    assertEquals(await exists(dir, "patient", "p1"), true);
    assertEquals(await exists(dir, "patient", "p2"), true);
  });
});
