/**
 * The table kinds against real targets: a SQLite file (node:sqlite), CSV files and a real
 * PostgreSQL 15 (the Debian package, started in a temp dir). Each keeps the aggregate's
 * state at the event delivered — one row per aggregate in SQLite and PostgreSQL, a row per
 * event in CSV — adds columns as fields appear, and an older event delivered late (a
 * replay, a retried dead event) never moves a row back to an older state.
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { startPostgres } from "../../scripts/bench/postgres.ts";
import { csvCell, csvFileName } from "../../src/plugins/delivery/sinks/csv.ts";
import { openSink } from "../../src/plugins/delivery/sinks/mod.ts";
import { pgName } from "../../src/plugins/delivery/sinks/postgres.ts";
import { append, assertEquals, eventually, type TestNode, withNode } from "./_setup.ts";

/** The same history for every kind: fields added later, nested values, two types. */
async function history(t: TestNode): Promise<void> {
  await append(t.db, "patient", "p-1", { name: "Jane", age: 41 });
  await append(t.db, "patient", "p-2", { name: "Bob" });
  await append(t.db, "patient", "p-1", { status: "active", tags: ["a", "b"] });
  await append(t.db, "patient", "p-1", { age: 42, version: "shadowed", 'say "hi"': "x,y" });
  await append(t.db, "../order", "o-1", { total: "=SUM(A1)" });
}

async function cursorAtEnd(t: TestNode, name: string): Promise<void> {
  await eventually(`${name} delivered everything`, async () => {
    const report = await t.db.call("pluginQueue", { name });
    const p = report.plugins[0];
    return p.lag === 0 && p.pending === 0 && p.dead === 0 && p.cursor === 5;
  });
}

async function replayAll(t: TestNode, name: string): Promise<void> {
  await t.db.call("replayPlugin", { name, aggregate_type: "patient" });
  await eventually(
    `${name} replayed`,
    async () => (await t.db.call("pluginQueue", { name })).plugins[0].pending === 0,
  );
}

/** Deliver p-1's first event again, alone and late, through a sink of `plugin`. */
async function deliverLate(t: TestNode, plugin: string): Promise<void> {
  const config = await t.db.call("getPlugin", { name: plugin });
  const engine = await t.node.engine();
  const sink = openSink(config, {
    timeoutMs: 10_000,
    stateAt: async (r) =>
      (await engine.getAggregate(r.aggregate_type, r.aggregate_id, { version: r.version })).state,
  });
  if (typeof sink === "string") throw new Error(sink);
  const first = (await t.db.call("listEvents", {
    aggregate_type: "patient",
    aggregate_id: "p-1",
    take: 1,
  })).items;
  try {
    await sink.deliver(first, new AbortController().signal);
  } finally {
    await sink.close();
  }
}

Deno.test("tables: sqlite keeps one row per aggregate with its latest state", async () => {
  await withNode(async (t) => {
    const path = join(t.dir, "out", "state.db");
    await t.db.call("upsertPlugin", { name: "lite", kind: "sqlite", path });
    await t.startDelivery();
    await history(t);
    await cursorAtEnd(t, "lite");
    await replayAll(t, "lite");
    await deliverLate(t, "lite");
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = db.prepare('SELECT * FROM "patient" ORDER BY aggregate_id').all();
      assertEquals(rows.length, 2);
      const p1 = { ...rows[0] };
      assertEquals(
        [p1.aggregate_id, p1.version, p1.name, p1.age, p1.status, p1.tags],
        ["p-1", 3, "Jane", "42", "active", '["a","b"]'],
      );
      assertEquals([p1.state_version, p1['say "hi"'], p1.event_type], [
        "shadowed",
        "x,y",
        "changed",
      ]);
      assertEquals([rows[1].aggregate_id, rows[1].version, rows[1].age], ["p-2", 1, null]);
      const order = db.prepare('SELECT total FROM "../order"').all();
      assertEquals(order.map((r) => r.total), ["=SUM(A1)"]);
    } finally {
      db.close();
    }
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  });
});

Deno.test("tables: csv appends each state, widening the header as fields appear", async () => {
  await withNode(async (t) => {
    const dir = join(t.dir, "csv");
    await t.db.call("upsertPlugin", { name: "sheet", kind: "csv", output_dir: dir });
    await t.startDelivery({ pollMs: 50 });
    // One event at a time, so that each new field widens a file with rows in it.
    await append(t.db, "patient", "p-1", { name: "Jane\nDoe", age: 41 });
    await eventually(
      "row 1",
      async () => (await t.db.call("pluginQueue", { name: "sheet" })).plugins[0].lag === 0,
    );
    await append(t.db, "patient", "p-2", { name: "Bob" });
    await append(t.db, "patient", "p-1", { status: "active", tags: ["a", "b"] });
    await append(t.db, "patient", "p-1", { age: 42, version: "shadowed", 'say "hi"': "x,y" });
    await append(t.db, "../order", "o-1", { total: "=SUM(A1)" });
    await cursorAtEnd(t, "sheet");
    const text = await Deno.readTextFile(join(dir, "patient.csv"));
    const [header, ...rows] = text.split(/\n(?=p-|$)/).filter(Boolean);
    assertEquals(
      header,
      'aggregate_id,version,event_id,event_type,updated_at,age,name,status,tags,"say ""hi""",state_version',
    );
    assertEquals(rows.length, 4);
    const cells = (row: string) => row.split(",");
    assertEquals(rows[0].startsWith("p-1,1,"), true);
    // Earlier rows got empty cells for the columns that came later.
    assertEquals(rows[0].endsWith(',41,"Jane\nDoe",,,,'), true, rows[0]);
    assertEquals(rows[1].endsWith(",,Bob,,,,"), true, rows[1]);
    assertEquals(rows[2].endsWith(',41,"Jane\nDoe",active,"[""a"",""b""]",,'), true, rows[2]);
    assertEquals(
      rows[3].endsWith(',42,"Jane\nDoe",active,"[""a"",""b""]","x,y",shadowed'),
      true,
      rows[3],
    );
    assertEquals(cells(rows[3])[1], "3");
    // A type that looks like a path stays inside the directory; formulas are defused.
    const order = await Deno.readTextFile(join(dir, csvFileName("../order")));
    assertEquals(order.split("\n")[1].endsWith(",'=SUM(A1)"), true, order);
    assertEquals(csvCell("-1"), "'-1");
    assertEquals(csvCell(-1), "-1");
  });
});

Deno.test("tables: postgres 15 keeps one row per aggregate, adding columns", async () => {
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
      await t.db.call("upsertPlugin", { name: "pg", kind: "postgres", connection, enabled: false });
      await t.db.call("enablePlugin", { name: "pg", check: true });
      await t.startDelivery();
      await history(t);
      await append(t.db, "t".repeat(100), "long", { ["f".repeat(100)]: "v" });
      await eventually("pg delivered everything", async () => {
        const p = (await t.db.call("pluginQueue", { name: "pg" })).plugins[0];
        return p.lag === 0 && p.pending === 0 && p.dead === 0;
      });
      await replayAll(t, "pg");
      await deliverLate(t, "pg");
      const { rows } = await client.query('SELECT * FROM "patient" ORDER BY aggregate_id');
      assertEquals(rows.length, 2);
      assertEquals(
        [rows[0].aggregate_id, Number(rows[0].version), rows[0].name, rows[0].age, rows[0].status],
        ["p-1", 3, "Jane", "42", "active"],
      );
      assertEquals([rows[0].tags, rows[0].state_version, rows[0]['say "hi"']], [
        '["a","b"]',
        "shadowed",
        "x,y",
      ]);
      assertEquals([rows[1].aggregate_id, Number(rows[1].version), rows[1].age], ["p-2", 1, null]);
      const long = await client.query(
        `SELECT * FROM "${pgName("t".repeat(100))}" WHERE aggregate_id = 'long'`,
      );
      assertEquals(long.rows[0][pgName("f".repeat(100))], "v");
      assertEquals((await client.query('SELECT total FROM "../order"')).rows[0].total, "=SUM(A1)");
      // A wrong port: enabling is refused, and the message names no connection string.
      await t.db.call("upsertPlugin", {
        name: "nowhere",
        kind: "postgres",
        connection: "postgres://postgres:secret-pw@127.0.0.1:1/db",
        enabled: false,
      });
      const refused = await t.db.call("enablePlugin", { name: "nowhere", check: true }).then(
        () => "enabled",
        (err: Error) => err.message,
      );
      assertEquals(/not reachable/.test(refused) && !refused.includes("secret-pw"), true, refused);
    });
  } finally {
    await client.end().catch(() => {});
    await server.stop();
  }
});
