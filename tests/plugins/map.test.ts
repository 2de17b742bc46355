/**
 * `plugin map` (the API's mapPluginField): column types for the table kinds, stored in the
 * plugins' configuration, defaulting to the schema's column types. Against a real
 * PostgreSQL 15 the columns get real types (BIGINT, DOUBLE PRECISION, BOOLEAN, TIMESTAMPTZ,
 * DATE, JSONB); SQLite and CSV follow. A value that does not fit its type fails its event
 * (listed with the reason), and after a new mapping a retry delivers it, the column
 * converted in place. Bad mappings are refused with a clear error and change nothing.
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { startPostgres } from "../../scripts/bench/postgres.ts";
import { HttpApi } from "../../src/client/http_api.ts";
import { createRestApp } from "../../src/rest/app.ts";
import { pluginsPath } from "../../src/plugins/store.ts";
import { assertRejects } from "../_helpers/assert.ts";
import { append, assert, assertEquals, eventually, type TestNode, withNode } from "./_setup.ts";

/** The cells of one CSV line (quoted cells with doubled quotes). */
function csvCells(line: string): string[] {
  return [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)]
    .filter((m) => m.index! < line.length || m[0] !== "")
    .map((m) => m[1].startsWith('"') ? m[1].slice(1, -1).replaceAll('""', '"') : m[1]);
}

async function settled(t: TestNode, name: string, want = { pending: 0, dead: 0 }) {
  await eventually(`${name} settled with ${JSON.stringify(want)}`, async () => {
    const p = (await t.db.call("pluginQueue", { name })).plugins[0];
    return p.lag === 0 && p.pending === want.pending && p.dead === want.dead;
  });
}

Deno.test("map: column types for postgres, sqlite and csv, over the schema's", async () => {
  const server = await startPostgres();
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    database: server.database,
  });
  try {
    await client.connect();
    await withNode(async (t) => {
      const connection =
        `postgres://${server.user}@${server.host}:${server.port}/${server.database}`;
      const csvDir = join(t.dir, "csv");
      const sqliteFile = join(t.dir, "state.db");
      await t.db.call("upsertPlugin", { name: "postgres", kind: "postgres", connection });
      await t.db.call("upsertPlugin", { name: "sq", kind: "sqlite", path: sqliteFile });
      await t.db.call("upsertPlugin", { name: "cs", kind: "csv", output_dir: csvDir });
      await t.db.call("upsertPlugin", { name: "hook", kind: "tcp", host: "127.0.0.1", port: 9 });
      await t.db.call("disablePlugin", { name: "hook" });
      // The schema gives `born` a date type and `visits` an integer: the default types.
      await t.db.call("createSchema", { aggregate: "patient", events: ["changed"] });
      for (const [field, type] of [["born", "date"], ["visits", "integer"]]) {
        await t.db.call("alterSchema", {
          aggregate: "patient",
          changes: { column: { field, type } },
        });
      }

      // --plugin postgres: the plugin of that name (the older seed's form).
      const one = await t.db.call("mapPluginField", {
        aggregate_type: "patient",
        field: "age",
        datatype: "INT",
        plugin: "postgres",
      });
      assertEquals([one.datatype, one.plugins.map((p) => p.name)], ["integer", ["postgres"]]);
      // No plugin: every table plugin.
      for (
        const [field, datatype] of [["score", "float"], ["active", "boolean"], [
          "seen_at",
          "timestamp",
        ], ["meta", "json"]]
      ) {
        const all = await t.db.call("mapPluginField", {
          aggregate_type: "patient",
          field,
          datatype,
        });
        assertEquals(all.plugins.map((p) => p.name), ["cs", "postgres", "sq"]);
      }
      await t.db.call("mapPluginField", {
        aggregate_type: "patient",
        field: "age",
        datatype: "integer",
        plugin: "sq",
      });
      const typesOf = async (name: string) =>
        ((await t.db.call("getPlugin", { name })) as { column_types?: unknown }).column_types;
      const stored = await typesOf("postgres") as Record<string, Record<string, string>>;
      assertEquals(stored, {
        patient: {
          age: "integer",
          score: "float",
          active: "boolean",
          seen_at: "timestamp",
          meta: "json",
        },
      });
      // Configuring the plugin again keeps its mapping; an empty one clears it.
      await t.db.call("upsertPlugin", { name: "postgres", kind: "postgres", connection });
      assertEquals(await typesOf("postgres"), stored);
      await t.db.call("upsertPlugin", {
        name: "cs",
        kind: "csv",
        output_dir: csvDir,
        column_types: {},
      });
      assertEquals(await typesOf("cs"), {});
      for (const [field, datatype] of Object.entries(stored.patient)) {
        if (field !== "age") {
          await t.db.call("mapPluginField", {
            aggregate_type: "patient",
            field,
            datatype,
            plugin: "cs",
          });
        }
      }

      // Refused, with a clear error, and plugins.json untouched.
      const before = await Deno.readTextFile(pluginsPath(t.dir));
      const refusals: [Record<string, unknown>, string, string][] = [
        [{ datatype: "varchar" }, "invalid_input", 'unknown column type "varchar"'],
        [{ datatype: "decimal(2,5)" }, "invalid_input", "scale must not exceed precision"],
        [{ plugin: "hook" }, "invalid_input", "hook is a tcp plugin"],
        [{ plugin: "nobody" }, "not_found", 'no plugin named "nobody"'],
        [{ field: "" }, "invalid_input", "field must be a non-empty string"],
        [{ extra: 1 }, "invalid_input", "extra"],
      ];
      for (const [change, code, message] of refusals) {
        await assertRejects(
          () =>
            t.db.call("mapPluginField", {
              aggregate_type: "patient",
              field: "age",
              datatype: "integer",
              ...change,
            } as never),
          code as "invalid_input",
          message,
        );
      }
      assertEquals(await Deno.readTextFile(pluginsPath(t.dir)), before);

      await t.startDelivery();
      await append(t.db, "patient", "p-1", {
        name: "Jane",
        age: 42,
        score: 1.5,
        active: true,
        born: "1980-02-03",
        visits: 3,
        seen_at: "2024-01-01T10:00:00+02:00",
        meta: { a: 1, tags: ["x"] },
      });
      for (const name of ["postgres", "sq", "cs"]) await settled(t, name);

      const { rows: columns } = await client.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = " +
          "'patient' ORDER BY column_name",
      );
      assertEquals(
        Object.fromEntries(
          columns.map((c: Record<string, unknown>) => [c.column_name, c.data_type]),
        ),
        {
          active: "boolean",
          age: "bigint",
          aggregate_id: "text",
          born: "date",
          event_id: "text",
          event_type: "text",
          meta: "jsonb",
          name: "text",
          score: "double precision",
          seen_at: "timestamp with time zone",
          updated_at: "timestamp with time zone",
          version: "bigint",
          visits: "bigint",
        },
      );
      const { rows } = await client.query(
        "SELECT age + 1 AS next_age, score * 2 AS double_score, active, " +
          "to_char(born, 'YYYY-MM-DD') AS born, visits, meta->'tags'->>0 AS tag, " +
          "extract(epoch FROM seen_at)::bigint AS seen FROM patient",
      );
      assertEquals(rows[0], {
        next_age: "43",
        double_score: 3,
        active: true,
        born: "1980-02-03",
        visits: "3",
        tag: "x",
        seen: String(Date.parse("2024-01-01T08:00:00Z") / 1000),
      });

      const db = new DatabaseSync(sqliteFile, { readOnly: true });
      try {
        const info = db.prepare("PRAGMA table_info(patient)").all() as {
          name: string;
          type: string;
        }[];
        const types = Object.fromEntries(info.map((c) => [c.name, c.type]));
        assertEquals(
          [types.age, types.score, types.active, types.visits, types.born, types.name],
          ["INTEGER", "REAL", "INTEGER", "INTEGER", "TEXT", "TEXT"],
        );
        const row = db.prepare(
          "SELECT typeof(age) AS t, age, score, active, seen_at FROM patient",
        ).get() as Record<string, unknown>;
        assertEquals({ ...row }, {
          t: "integer",
          age: 42,
          score: 1.5,
          active: 1,
          seen_at: "2024-01-01T08:00:00.000Z",
        });
      } finally {
        db.close();
      }
      const csv = await Deno.readTextFile(join(csvDir, "patient.csv"));
      const [header, line] = csv.trim().split("\n").map(csvCells);
      const cells = Object.fromEntries(header.map((h, i) => [h, line[i]] as const));
      assertEquals([cells.active, cells.seen_at, cells.age, cells.meta], [
        "true",
        "2024-01-01T08:00:00.000Z",
        "42",
        '{"a":"1","tags":["x"]}',
      ]);

      // A value that does not fit fails its event, with the reason, where age is an integer
      // (csv has no mapping for it: text).
      const late = await append(t.db, "patient", "p-2", { age: "old" });
      await settled(t, "cs");
      for (const name of ["postgres", "sq"]) {
        await eventually(`${name} refused p-2`, async () => {
          const q = await t.db.call("pluginQueue", { name });
          const e = q.entries.find((x) => x.position === late.position);
          return e?.last_error && e;
        });
      }
      const queue = await t.db.call("pluginQueue", { name: "postgres" });
      assert(
        /field age: "old" is not a valid integer/.test(queue.entries[0].last_error ?? ""),
        queue.entries[0].last_error!,
      );
      // Mapped to text instead: the column is converted, and a retry delivers it.
      await t.db.call("mapPluginField", {
        aggregate_type: "patient",
        field: "age",
        datatype: "text",
        plugin: "postgres",
      });
      await t.db.call("retryPluginQueue", { name: "postgres" });
      await settled(t, "postgres");
      const ages = await client.query("SELECT aggregate_id, age FROM patient ORDER BY 1");
      assertEquals(ages.rows, [{ aggregate_id: "p-1", age: "42" }, {
        aggregate_id: "p-2",
        age: "old",
      }]);
      const { rows: [ageType] } = await client.query(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'patient' " +
          "AND column_name = 'age'",
      );
      assertEquals(ageType.data_type, "text");
    });
  } finally {
    await client.end().catch(() => {});
    await server.stop();
  }
});

Deno.test("map: over REST (POST /v1/plugin-mappings) as through the API; scope checked", async () => {
  await withNode(async (t) => {
    const streams = new AbortController();
    const app = createRestApp({ api: t.api, signal: streams.signal });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
    try {
      const http = new HttpApi({ baseUrl: `http://127.0.0.1:${server.addr.port}` });
      const tokens = await t.node.tokens();
      const admin = {
        kind: "token",
        token: (await tokens.generate({ group: "admin", user: "root" })).token,
      } as const;
      await t.db.call("upsertPlugin", { name: "lite", kind: "sqlite", path: join(t.dir, "s.db") });
      const r = await http.call(admin, "mapPluginField", {
        aggregate_type: "patient",
        field: "age",
        datatype: "bool",
      });
      assertEquals([r.datatype, r.plugins.map((p) => p.name)], ["boolean", ["lite"]]);
      assertEquals(
        ((await t.db.call("getPlugin", { name: "lite" })) as { column_types?: unknown })
          .column_types,
        { patient: { age: "boolean" } },
      );
      await assertRejects(
        () =>
          http.call(admin, "mapPluginField", {
            aggregate_type: "patient",
            field: "age",
            datatype: "varchar",
          }),
        "invalid_input",
        'unknown column type "varchar"',
      );
      // A token without plugin.manage is refused, and nothing changes.
      const reader = {
        kind: "token",
        token: (await tokens.generate({ group: "ops", user: "ro", actions: ["aggregate.read"] }))
          .token,
      } as const;
      await assertRejects(
        () =>
          http.call(reader, "mapPluginField", {
            aggregate_type: "patient",
            field: "age",
            datatype: "text",
            plugin: "lite",
          }),
        "forbidden",
      );
      assertEquals(
        ((await t.db.call("getPlugin", { name: "lite" })) as { column_types?: unknown })
          .column_types,
        { patient: { age: "boolean" } },
      );
    } finally {
      streams.abort();
      await server.shutdown();
    }
  });
});
