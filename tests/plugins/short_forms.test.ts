/**
 * The older seed's plugin commands, through the real CLI (subprocesses, no server):
 * `dbx plugin postgres|sqlite|csv|json|tcp|http|log …` are `plugin config <kind> …` with
 * the kind as the default name, and `dbx plugin map --aggregate … --field … --datatype …
 * [--plugin postgres]` records a column type in the plugin's configuration; bad input is
 * refused with a one-line error and the configuration left as it was.
 */
import { join } from "node:path";
import { runDbx, runDbxOk } from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { pluginsPath } from "../../src/plugins/store.ts";
import { assert, assertEquals } from "./_setup.ts";

type Listed = Record<string, unknown> & { name: string; kind: string; enabled: boolean };

async function listed(dir: string): Promise<Record<string, Listed>> {
  const plugins = JSON.parse(await runDbxOk(dir, ["plugin", "list", "--json"])) as Listed[];
  return Object.fromEntries(plugins.map((p) => [p.name, p]));
}

/** The settings of a plugin, without what differs between two equal configurations. */
function settings(p: Listed): Record<string, unknown> {
  const { name: _n, created_at: _c, updated_at: _u, ...rest } = p;
  return rest;
}

Deno.test("short forms: plugin <kind> … is plugin config <kind> …, named after the kind", async () => {
  await withTempDir(async (dir) => {
    const connection = "postgres://dbx@127.0.0.1:1/state";
    const file = join(dir, "out", "state.db");
    const out = join(dir, "out", "csv");
    const events = join(dir, "out", "events.jsonl");
    const forms: string[][] = [
      ["postgres", "--connection", connection, "--disable"],
      ["sqlite", "--path", file],
      ["csv", "--output-dir", out, "--disable"],
      ["json", "--path", events, "--pretty"],
      ["tcp", "--host", "127.0.0.1", "--port", "9", "--disable"],
      ["log", "--level", "warn", "--template", "{aggregate} {id}"],
    ];
    for (const args of forms) {
      const printed = await runDbxOk(dir, ["plugin", ...args]);
      assert(printed.includes(`added ${args[0]} plugin ${args[0]}`), printed);
    }
    // The same through `plugin config`, under other names: equal settings.
    for (const args of forms) {
      await runDbxOk(dir, [
        "plugin",
        "config",
        args[0],
        "--name",
        `long-${args[0]}`,
        ...args.slice(1),
      ]);
    }
    const all = await listed(dir);
    for (const [kind] of forms) {
      assertEquals(all[kind].kind, kind);
      assertEquals(settings(all[kind]), settings(all[`long-${kind}`]), kind);
    }
    assertEquals([all.postgres.connection, all.postgres.enabled], [connection, false]);
    assertEquals([all.sqlite.path, all.sqlite.enabled], [file, true]);
    assertEquals(all.csv.output_dir, out);
    assertEquals(all.json.pretty, true);
    // Run again, a short form replaces its plugin; --name picks another one.
    assert(
      (await runDbxOk(dir, ["plugin", "sqlite", "--path", `${file}2`, "--disable"])).includes(
        "updated sqlite plugin sqlite (disabled)",
      ),
    );
    await runDbxOk(dir, ["plugin", "http", "--name", "hook", "--endpoint", "127.0.0.1:9/in"]);
    const after = await listed(dir);
    assertEquals([after.sqlite.path, after.sqlite.enabled], [`${file}2`, false]);
    assertEquals([after.hook.kind, after.hook.endpoint], ["http", "http://127.0.0.1:9/in"]);

    // A short form without its required option is refused.
    const missing = await runDbx(dir, ["plugin", "postgres"]);
    assert(missing.code !== 0 && /--connection/.test(missing.stderr), missing.stderr);
  });
});

Deno.test("short forms: plugin map records column types; bad ones change nothing", async () => {
  await withTempDir(async (dir) => {
    await runDbxOk(dir, ["plugin", "postgres", "--connection", "postgres://dbx@127.0.0.1:1/x"]);
    await runDbxOk(dir, ["plugin", "csv", "--output-dir", join(dir, "csv")]);
    await runDbxOk(dir, ["plugin", "tcp", "--host", "127.0.0.1", "--port", "9"]);
    const mapped = await runDbxOk(dir, [
      "plugin",
      "map",
      "--aggregate",
      "patient",
      "--field",
      "age",
      "--datatype",
      "Int",
      "--plugin",
      "postgres",
    ]);
    assert(mapped.includes("mapped patient.age to integer for postgres plugin postgres"), mapped);
    const everywhere = JSON.parse(
      await runDbxOk(dir, [
        "plugin",
        "map",
        "--aggregate",
        "patient",
        "--field",
        "paid",
        "--datatype",
        "decimal(10,2)",
        "--json",
      ]),
    );
    assertEquals(everywhere.plugins.map((p: Listed) => p.name), ["csv", "postgres"]);
    const all = await listed(dir);
    assertEquals(all.postgres.column_types, {
      patient: { age: "integer", paid: "decimal(10,2)" },
    });
    assertEquals(all.csv.column_types, { patient: { paid: "decimal(10,2)" } });
    assertEquals(all.tcp.column_types, undefined);

    const before = await Deno.readTextFile(pluginsPath(dir));
    const base = ["plugin", "map", "--aggregate", "patient", "--field", "age"];
    for (
      const [args, pattern] of [
        [[...base, "--datatype", "varchar"], /unknown column type "varchar"/],
        [[...base, "--datatype", "integer", "--plugin", "tcp"], /tcp plugin; column types apply/],
        [[...base, "--datatype", "integer", "--plugin", "ghost"], /no plugin named "ghost"/],
        [["plugin", "map", "--aggregate", "patient", "--datatype", "integer"], /--field/],
      ] as [string[], RegExp][]
    ) {
      const r = await runDbx(dir, args);
      assert(r.code !== 0, `dbx ${args.join(" ")} should fail`);
      assert(pattern.test(r.stderr), `dbx ${args.join(" ")}: ${r.stderr}`);
      assert(!/\n\s+at /.test(r.stderr), `no stack trace: ${r.stderr}`);
    }
    assertEquals(await Deno.readTextFile(pluginsPath(dir)), before);
  });
});
