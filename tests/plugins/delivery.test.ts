/**
 * Delivery to real targets on loopback: an HTTP server (POST of each EventRecord with the
 * configured headers), a TCP listener (one JSON line per event), a JSON file (a line per
 * event, or indented with pretty) and a log plugin (its template). Every committed event
 * arrives, whole and in order per aggregate; events from before a plugin was configured
 * do not; the cursor ends at the last position; a disabled plugin resumes where it stopped.
 */
import { join } from "node:path";
import type { EventRecord } from "../../src/api/operations.ts";
import { renderLogLine } from "../../src/plugins/delivery/sinks/log.ts";
import {
  append,
  assert,
  assertEquals,
  eventually,
  httpReceiver,
  positions,
  tcpReceiver,
  withNode,
} from "./_setup.ts";

const TYPES = ["patient", "order", "invoice"];

/** Events of each aggregate arrive in version order. */
function assertOrderedPerAggregate(records: EventRecord[], label: string): void {
  const last = new Map<string, number>();
  for (const r of records) {
    const key = `${r.aggregate_type}/${r.aggregate_id}`;
    const before = last.get(key) ?? 0;
    assert(r.version > before, `${label}: ${key} v${r.version} came after v${before}`);
    last.set(key, r.version);
  }
}

Deno.test("delivery: http, tcp, json and log plugins receive every committed event", async () => {
  const http = httpReceiver();
  const tcp = tcpReceiver();
  try {
    await withNode(async (t) => {
      // Committed before the plugins exist: not delivered (a replay would send it).
      await append(t.db, "patient", "early", { n: -1 });
      const file = join(t.dir, "out", "events.jsonl");
      const pretty = join(t.dir, "out", "pretty.json");
      await t.db.call("upsertPlugin", {
        name: "hook",
        kind: "http",
        endpoint: http.url,
        https: false,
        headers: { "x-api-key": "k-123" },
      });
      await t.db.call("upsertPlugin", {
        name: "sock",
        kind: "tcp",
        host: "127.0.0.1",
        port: tcp.port,
      });
      await t.db.call("upsertPlugin", { name: "file", kind: "json", path: file, pretty: false });
      await t.db.call("upsertPlugin", { name: "nice", kind: "json", path: pretty, pretty: true });
      await t.db.call("upsertPlugin", {
        name: "audit",
        kind: "log",
        level: "warn",
        template: "{aggregate}/{id} did {event}",
      });
      await t.startDelivery();

      const appended: EventRecord[] = [];
      for (let i = 0; i < 60; i++) {
        appended.push(await append(t.db, TYPES[i % 3], `a-${i % 5}`, { n: i, nested: { i } }));
      }
      // A batch too: its events arrive like any other.
      const batch = await t.db.call("appendEvents", {
        events: [
          { aggregate_type: "order", aggregate_id: "b", event_type: "placed", payload: { x: 1 } },
          { aggregate_type: "order", aggregate_id: "b", event_type: "paid", payload: { y: 2 } },
        ],
      });
      appended.push(...batch.events);
      const want = positions(appended);

      await eventually(() => `http got ${http.received.length}`, () => http.received.length >= 62);
      await eventually(() => `tcp got ${tcp.records.length}`, () => tcp.records.length >= 62);
      const fileRecords = async () =>
        (await Deno.readTextFile(file).catch(() => "")).split("\n").filter(Boolean).map((l) =>
          JSON.parse(l) as EventRecord
        );
      await eventually("the json file", async () => (await fileRecords()).length >= 62);
      await eventually(
        "the log lines",
        () => t.logs.filter((l) => l.includes(" did ")).length >= 62,
      );

      const byPosition = new Map(appended.map((r) => [r.position, r]));
      for (
        const [label, got] of [
          ["http", http.received],
          ["tcp", tcp.records],
          ["json", await fileRecords()],
        ] as const
      ) {
        assertEquals(positions(got), want, `${label}: every event once, nothing from before`);
        assertOrderedPerAggregate(got, label);
        for (const r of got) assertEquals(r, byPosition.get(r.position), `${label}: whole record`);
      }
      assertEquals(http.lastHeaders?.get("x-api-key"), "k-123");
      assertEquals(http.lastHeaders?.get("content-type"), "application/json");

      // Pretty: the same records, indented, one after another.
      const prettyText = await Deno.readTextFile(pretty);
      assert(prettyText.includes('\n  "aggregate_type": '), "indented");
      const prettyRecords = prettyText.split(/\n(?=\{)/).map((chunk) => JSON.parse(chunk));
      assertEquals(positions(prettyRecords), want);
      assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
      assertEquals((await Deno.stat(join(t.dir, "plugin_queue"))).mode! & 0o777, 0o700);

      const logLines = t.logs.filter((l) => l.includes(" did "));
      assertEquals(logLines[0], `WARN plugin audit: ${TYPES[0]}/a-0 did changed`);

      // Every cursor ends at the last position; nothing waits.
      const report = await t.db.call("pluginQueue", {});
      for (const p of report.plugins) {
        await eventually(`cursor of ${p.name}`, async () => {
          const now = await t.db.call("pluginQueue", { name: p.name });
          return now.plugins[0].cursor === want[want.length - 1] && now.plugins[0].lag === 0;
        });
      }
      assertEquals(report.entries, []);
    });
  } finally {
    await http.close();
    await tcp.close();
  }
});

Deno.test("delivery: a disabled plugin keeps its cursor and catches up once enabled", async () => {
  const http = httpReceiver();
  try {
    await withNode(async (t) => {
      await t.db.call("upsertPlugin", {
        name: "hook",
        kind: "http",
        endpoint: http.url,
        https: false,
        headers: {},
      });
      const delivery = await t.startDelivery();
      const first = await append(t.db, "patient", "p-1");
      await eventually("the first event", () => http.received.length === 1);
      await t.db.call("disablePlugin", { name: "hook" });
      await eventually("the worker to stop", () => !delivery.cursors().has("hook"));
      const second = await append(t.db, "patient", "p-1");
      const third = await append(t.db, "patient", "p-2");
      assertEquals(http.received.length, 1, "nothing is delivered while disabled");
      assertEquals((await t.db.call("pluginQueue", { name: "hook" })).plugins[0].lag, 2);
      await t.db.call("enablePlugin", { name: "hook", check: true });
      await eventually("the catch-up", () => http.received.length === 3);
      assertEquals(positions(http.received), [first, second, third].map((r) => r.position));
    });
  } finally {
    await http.close();
  }
});

Deno.test("delivery: the log template and its default", () => {
  const record = {
    aggregate_type: "patient",
    aggregate_id: "p-001",
    event_type: "patient-added",
  } as EventRecord;
  assertEquals(renderLogLine(undefined, record), "aggregate=patient id=p-001 event=patient-added");
  assertEquals(
    renderLogLine("{event} on {aggregate} {id} {id}", record),
    "patient-added on patient p-001 p-001",
  );
});
