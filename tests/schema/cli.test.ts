/**
 * `dbx schema …` through the real CLI in a subprocess: every command working,
 * and bad inputs to every command failing with one clear line and no change.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import {
  assertHelp,
  type CliResult as Result,
  runDbx as dbx,
  runDbxOk as ok,
} from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";

/** Run many CLI calls, a few at a time. */
async function dbxAll(dir: string, calls: string[][]): Promise<Result[]> {
  const results: Result[] = new Array(calls.length);
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const i = next++;
      results[i] = await dbx(dir, calls[i]);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return results;
}

async function showJson(dir: string, name: string) {
  return JSON.parse(await ok(dir, ["schema", "show", name, "--json"]));
}

Deno.test("schema commands: create, add, annotate, alter, show, list, remove, delete", async () => {
  await withTempDir(async (dir) => {
    assert(
      (await ok(dir, [
        "schema",
        "create",
        "patient",
        "--events",
        "patient-added, patient-updated",
        "--snapshot-threshold",
        "100",
      ]))
        .includes("created schema patient"),
    );
    await ok(dir, [
      "schema",
      "add",
      "patient",
      "--events",
      "patient-moved",
      "--events",
      "patient-merged",
    ]);
    await ok(dir, ["schema", "annotate", "patient", "patient-added", "--note", "first visit"]);
    await ok(dir, [
      "schema",
      "alter",
      "patient",
      "--event",
      "patient-added",
      "--add",
      "name,amount,country",
    ]);
    await ok(dir, [
      "schema",
      "alter",
      "patient",
      "--event",
      "patient-added",
      "--remove",
      "country",
    ]);
    await ok(dir, [
      "schema",
      "alter",
      "patient",
      "--field",
      "amount",
      "--type",
      "decimal(10,2)",
      "--rules",
      '{"range":{"min":"0"}}',
    ]);
    await ok(dir, [
      "schema",
      "alter",
      "patient",
      "--field",
      "name",
      "--type",
      "text",
      "--rules",
      '{"required":true,"length":{"max":64}}',
    ]);
    await ok(dir, ["schema", "alter", "patient", "--field", "ssn", "--lock", "true"]);
    await ok(dir, ["schema", "alter", "patient", "--snapshot-threshold", "25", "--lock", "true"]);

    let schema = await showJson(dir, "patient");
    assertEquals(Object.keys(schema.events), [
      "patient-added",
      "patient-merged",
      "patient-moved",
      "patient-updated",
    ]);
    assertEquals(schema.events["patient-added"], {
      fields: ["amount", "name"],
      notes: "first visit",
    });
    assertEquals(schema.columns, {
      amount: { type: "decimal(10,2)", rules: { range: { min: "0" } } },
      name: { type: "text", rules: { required: true, length: { max: 64 } } },
    });
    assertEquals(schema.field_locks, ["ssn"]);
    assertEquals(schema.locked, true);
    assertEquals(schema.snapshot_threshold, 25);

    await ok(dir, ["schema", "alter", "patient", "--lock", "false", "--clear-snapshot-threshold"]);
    await ok(dir, ["schema", "alter", "patient", "--field", "ssn", "--lock", "false"]);
    await ok(dir, ["schema", "alter", "patient", "--field", "name", "--clear-rules"]);
    await ok(dir, ["schema", "alter", "patient", "--field", "amount", "--clear-type"]);
    await ok(dir, ["schema", "annotate", "patient", "patient-added", "--clear"]);
    await ok(dir, ["schema", "remove", "patient", "patient-merged"]);
    schema = await showJson(dir, "patient");
    assertEquals(schema.locked, false);
    assertEquals(schema.snapshot_threshold, undefined);
    assertEquals(schema.field_locks, []);
    assertEquals(schema.columns, { name: { type: "text" } });
    assertEquals(schema.events["patient-added"], { fields: ["amount", "name"] });
    assertEquals("patient-merged" in schema.events, false);

    const text = await ok(dir, ["schema", "show", "patient"]);
    assert(text.includes("patient-added") && text.includes("amount, name"), text);
    const table = await ok(dir, ["schema", "list"]);
    assert(table.startsWith("AGGREGATE") && table.includes("patient"), table);
    const listed = JSON.parse(await ok(dir, ["schema", "list", "--json"]));
    assertEquals(listed.map((s: { aggregate: string }) => s.aggregate), ["patient"]);

    await ok(dir, ["schema", "delete", "patient"]);
    assertEquals(JSON.parse(await ok(dir, ["schema", "list", "--json"])), []);
    assertEquals((await ok(dir, ["schema", "list"])).trim(), "no schemas");
  });
});

Deno.test("schema commands accept the older --aggregate/--event spelling", async () => {
  await withTempDir(async (dir) => {
    await ok(dir, ["schema", "create", "--aggregate", "order", "--events", "placed,shipped"]);
    await ok(dir, ["schema", "add", "--aggregate", "order", "--events", "cancelled"]);
    await ok(dir, ["schema", "remove", "--aggregate", "order", "--event", "shipped"]);
    const schema = JSON.parse(await ok(dir, ["schema", "show", "--aggregate", "order", "--json"]));
    assertEquals(Object.keys(schema.events), ["cancelled", "placed"]);
  });
});

Deno.test("schema dump and load move schemas between data dirs", async () => {
  await withTempDir(async (dir) => {
    const one = join(dir, "one");
    const two = join(dir, "two");
    await ok(one, ["schema", "create", "a", "--events", "e"]);
    await ok(one, ["schema", "create", "b", "--events", "f", "--snapshot-threshold", "3"]);
    await ok(one, [
      "schema",
      "alter",
      "b",
      "--field",
      "x",
      "--type",
      "integer",
      "--rules",
      '{"range":{"max":9}}',
    ]);
    const file = join(dir, "all.json");
    assert((await ok(one, ["schema", "dump", "--output", file])).includes("wrote 2 schemas"));
    assertEquals(await Deno.readTextFile(file), await ok(one, ["schema", "dump"]));

    assert((await ok(two, ["schema", "load", file])).includes("loaded 2 schemas: a, b"));
    assertEquals(await showJson(two, "b"), await showJson(one, "b"));

    // One schema from stdin, replacing everything else.
    const single = await ok(one, ["schema", "dump", "a"]);
    await ok(two, ["schema", "load", "-", "--replace"], single);
    assertEquals(JSON.parse(await ok(two, ["schema", "list", "--json"])).length, 1);
  });
});

Deno.test("bad inputs to every schema command fail with one line and change nothing", async () => {
  await withTempDir(async (dir) => {
    await ok(dir, ["schema", "create", "a", "--events", "e1,e2"]);
    await ok(dir, ["schema", "create", "solo", "--events", "only"]);
    const schemaFile = join(dir, "schemas.json");
    const before = await Deno.readTextFile(schemaFile);
    await Deno.writeTextFile(join(dir, "bad.json"), "{ nope");
    await Deno.writeTextFile(
      join(dir, "invalid.json"),
      '{"aggregate":"z","events":{"e":{}},"columns":{"c":"varchar"}}',
    );

    const cases: [string[], string][] = [
      // create
      [["schema", "create", "--events", "e"], "missing aggregate name"],
      [["schema", "create", "b"], "--events"],
      [["schema", "create", "b", "--events", "x,,y"], "empty name"],
      [["schema", "create", "b", "--events", "e", "--snapshot-threshold", "-1"], "non-negative"],
      [["schema", "create", "b", "--events", "e", "--snapshot-threshold", "ten"], "non-negative"],
      [["schema", "create", "a", "--events", "e"], "already exists"],
      [["schema", "create", "bad\u0001name", "--events", "e"], "control character"],
      [["schema", "create", "x".repeat(129), "--events", "e"], "128 bytes"],
      [["schema", "create", "b", "--aggregate", "c", "--events", "e"], "named twice"],
      // add
      [["schema", "add", "missing", "--events", "e"], "no schema"],
      [["schema", "add", "a"], "--events"],
      [["schema", "add", "a", "--events", "e1"], "already declared"],
      // remove
      [["schema", "remove", "a"], "missing event name"],
      [["schema", "remove", "a", "nope"], "not declared"],
      [["schema", "remove", "solo", "only"], "last event"],
      [["schema", "remove", "missing", "e1"], "no schema"],
      // annotate
      [["schema", "annotate", "a", "e1"], "--note <text> or --clear"],
      [["schema", "annotate", "a", "e1", "--note", "x", "--clear"], "either --note or --clear"],
      [["schema", "annotate", "a", "nope", "--note", "x"], "not declared"],
      [["schema", "annotate", "a", "e1", "--note", "n".repeat(129)], "128"],
      [["schema", "annotate", "a"], "missing required argument"],
      // list / show
      [["schema", "list", "--bogus"], "unknown option"],
      [["schema", "show", "missing"], "no schema"],
      [["schema", "show"], "missing aggregate name"],
      // alter
      [["schema", "alter", "a"], "nothing to alter"],
      [["schema", "alter", "missing", "--lock", "true"], "no schema"],
      [["schema", "alter", "a", "--add", "f"], "give --event"],
      [["schema", "alter", "a", "--event", "e1"], "--add"],
      [["schema", "alter", "a", "--event", "nope", "--add", "f"], "not declared"],
      [["schema", "alter", "a", "--event", "e1", "--remove", "f"], "not listed"],
      [["schema", "alter", "a", "--lock", "maybe"], "must be true or false"],
      [["schema", "alter", "a", "--type", "integer"], "need --field"],
      [["schema", "alter", "a", "--field", "f"], "--field needs"],
      [["schema", "alter", "a", "--field", "f", "--type", "varchar"], "unknown column type"],
      [
        ["schema", "alter", "a", "--field", "f", "--type", "integer", "--rules", "{bad"],
        "--rules is not valid JSON",
      ],
      [[
        "schema",
        "alter",
        "a",
        "--field",
        "f",
        "--type",
        "integer",
        "--rules",
        '{"format":"email"}',
      ], "does not apply"],
      [
        ["schema", "alter", "a", "--field", "f", "--type", "text", "--rules", '{"regex":"("}'],
        "invalid regex",
      ],
      [["schema", "alter", "a", "--field", "f", "--rules", '{"required":true}'], "no type yet"],
      [
        ["schema", "alter", "a", "--field", "f", "--clear-type", "--type", "text"],
        "cannot be combined",
      ],
      [["schema", "alter", "a", "--field", "f", "--clear-type"], "no column"],
      [
        ["schema", "alter", "a", "--snapshot-threshold", "5", "--clear-snapshot-threshold"],
        "either",
      ],
      // delete
      [["schema", "delete", "missing"], "no schema"],
      [["schema", "delete"], "missing required argument"],
      // load
      [["schema", "load", join(dir, "absent.json")], "cannot read"],
      [["schema", "load", join(dir, "bad.json")], "not valid JSON"],
      [["schema", "load", join(dir, "invalid.json")], "unknown column type"],
      // dump
      [["schema", "dump", "missing"], "no schema"],
      [["schema", "dump", "--output", join(dir, "no", "such", "dir", "x.json")], "cannot write"],
    ];
    const results = await dbxAll(dir, cases.map(([args]) => args));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i];
      const what = `dbx ${args.join(" ")}`;
      assert(r.code !== 0, `${what} should fail`);
      assertEquals(r.stdout, "", `${what} printed to stdout`);
      const lines = r.stderr.trim().split("\n");
      assert(lines[0].startsWith("error:"), `${what}: ${r.stderr}`);
      assert(r.stderr.includes(message), `${what}: expected "${message}" in ${r.stderr}`);
      assertEquals(lines.length, 1, `${what} printed more than one line: ${r.stderr}`);
    }
    assertEquals(await Deno.readTextFile(schemaFile), before);
  });
});

Deno.test("usage errors exit 2, refused operations exit 1", async () => {
  await withTempDir(async (dir) => {
    assertEquals((await dbx(dir, ["schema", "alter", "a"])).code, 2);
    assertEquals((await dbx(dir, ["schema", "show", "missing"])).code, 1);
  });
});

Deno.test("a corrupt schema file makes schema commands fail, and is kept", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "schemas.json");
    await Deno.writeTextFile(path, '{"a": {"aggregate": "a"');
    for (const args of [["schema", "list"], ["schema", "create", "b", "--events", "e"]]) {
      const r = await dbx(dir, args);
      assertEquals(r.code, 1);
      assert(r.stderr.includes(`schema file ${path} is corrupt`), r.stderr);
    }
    assertEquals(await Deno.readTextFile(path), '{"a": {"aggregate": "a"');
  });
});

Deno.test("every schema command has --help", async () => {
  await withTempDir(async (dir) => {
    await assertHelp(dir, "schema", [
      "create",
      "add",
      "remove",
      "annotate",
      "list",
      "show",
      "alter",
      "delete",
      "load",
      "dump",
    ]);
  });
});
