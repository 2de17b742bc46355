/**
 * The real `dbx plugin …` and `dbx queue …` commands (subprocesses, no server): configure
 * each kind (and the older short forms), list, test, enable only once the target answers,
 * disable, remove, replay into the queue, retry and clear it; and every class of bad input
 * answered with a one-line error, a non-zero exit, and configuration and data untouched.
 */
import { join } from "node:path";
import { runDbx, runDbxOk } from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { assert, assertEquals } from "./_setup.ts";

/** A command that must fail with a one-line error matching `pattern`. */
async function refused(dir: string, args: string[], pattern: RegExp): Promise<void> {
  const r = await runDbx(dir, args);
  assert(r.code !== 0, `dbx ${args.join(" ")} should fail: ${r.stdout}`);
  assert(pattern.test(r.stderr), `dbx ${args.join(" ")}: ${r.stderr}`);
  assert(!/\n\s+at /.test(r.stderr), `no stack trace: ${r.stderr}`);
}

Deno.test("cli: plugin config, list, test, enable (checked), disable, remove", async () => {
  await withTempDir(async (dir) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const accepting = (async () => {
      try {
        for await (const conn of listener) conn.close();
      } catch { /* closed */ }
    })();
    try {
      const file = join(dir, "out", "events.jsonl");
      assert(
        (await runDbxOk(dir, [
          "plugin",
          "config",
          "tcp",
          "--name",
          "sock",
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
          "--disable",
        ])).includes("added tcp plugin sock (disabled)"),
      );
      await runDbxOk(dir, [
        "plugin",
        "config",
        "http",
        "--name",
        "hook",
        "--endpoint",
        `127.0.0.1:${port}/in`,
        "--header",
        "X-Key=abc",
        "--disable",
      ]);
      await runDbxOk(dir, ["plugin", "json", "--path", file, "--pretty"]);
      await runDbxOk(dir, [
        "plugin",
        "config",
        "log",
        "--name",
        "audit",
        "--level",
        "debug",
        "--template",
        "{aggregate} {event} {id}",
      ]);
      const listed = JSON.parse(await runDbxOk(dir, ["plugin", "list", "--json"]));
      assertEquals(listed.map((p: { name: string }) => p.name), ["audit", "hook", "json", "sock"]);
      const byName = Object.fromEntries(listed.map((p: { name: string }) => [p.name, p]));
      assertEquals(byName.hook.endpoint, `http://127.0.0.1:${port}/in`);
      assertEquals(byName.hook.headers, { "X-Key": "abc" });
      assertEquals([byName.json.kind, byName.json.pretty, byName.json.enabled], [
        "json",
        true,
        true,
      ]);
      assertEquals(byName.audit.template, "{aggregate} {event} {id}");
      assert((await runDbxOk(dir, ["plugin", "list"])).includes(`127.0.0.1:${port}`));

      // test: every enabled plugin (json made its directory and file).
      const tested = JSON.parse(await runDbxOk(dir, ["plugin", "test", "--json"]));
      assertEquals(tested.map((c: { name: string; ok: boolean }) => [c.name, c.ok]), [
        ["audit", true],
        ["json", true],
      ]);
      assert((await Deno.stat(file)).isFile);
      assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);

      // enable checks the target first.
      await runDbxOk(dir, ["plugin", "enable", "sock"]);
      assertEquals(JSON.parse(await runDbxOk(dir, ["plugin", "list", "--json"]))[3].enabled, true);
      await runDbxOk(dir, ["plugin", "disable", "sock"]);
      listener.close();
      await accepting;
      await refused(dir, ["plugin", "enable", "sock"], /not reachable: cannot connect/);
      const r = await runDbx(dir, ["plugin", "test", "sock"]);
      assertEquals(r.code, 1, "a failed check fails the command");
      assert(/sock\s+tcp\s+failed: cannot connect/.test(r.stdout), r.stdout);
      assertEquals(JSON.parse(await runDbxOk(dir, ["plugin", "list", "--json"]))[3].enabled, false);

      // remove: only once disabled.
      await refused(dir, ["plugin", "remove", "json"], /disable it before removing it/);
      await runDbxOk(dir, ["plugin", "disable", "json"]);
      assert((await runDbxOk(dir, ["plugin", "remove", "json"])).includes("removed plugin json"));
      assertEquals(JSON.parse(await runDbxOk(dir, ["plugin", "list", "--json"])).length, 3);
    } finally {
      try {
        listener.close();
      } catch { /* closed */ }
      await accepting;
    }
  });
});

Deno.test("cli: queue shows replayed events; retry and clear (with --yes)", async () => {
  await withTempDir(async (dir) => {
    await runDbxOk(dir, [
      "aggregate",
      "apply",
      "--aggregate",
      "patient",
      "--aggregate-id",
      "p-1",
      "--event",
      "added",
      "--field",
      "name=Jane",
    ]);
    await runDbxOk(dir, ["plugin", "config", "log", "--name", "audit", "--level", "info"]);
    let report = JSON.parse(await runDbxOk(dir, ["queue", "--json"]));
    // Configured after the event: its cursor starts past it.
    assertEquals(report.plugins, [
      { name: "audit", kind: "log", enabled: true, cursor: 1, lag: 0, pending: 0, dead: 0 },
    ]);
    assert((await runDbxOk(dir, ["queue"])).includes("the queue is empty"));
    assert(
      (await runDbxOk(dir, ["plugin", "replay", "audit", "patient", "p-1"])).includes(
        "queued 1 event for plugin audit",
      ),
    );
    report = JSON.parse(await runDbxOk(dir, ["queue", "list", "--json", "--status", "pending"]));
    assertEquals(report.entries.length, 1);
    const entry = report.entries[0];
    assertEquals(
      [entry.plugin, entry.aggregate_type, entry.aggregate_id, entry.version, entry.attempts],
      ["audit", "patient", "p-1", 1, 0],
    );
    const text = await runDbxOk(dir, ["queue"]);
    assert(text.includes(entry.event_id) && text.includes("patient/p-1"), text);
    assertEquals(
      JSON.parse(await runDbxOk(dir, ["queue", "retry", "--event-id", entry.event_id, "--json"])),
      { retried: 1 },
    );
    assertEquals(
      JSON.parse(await runDbxOk(dir, ["queue", "retry", "--plugin", "audit", "--json"])),
      { retried: 1 },
    );
    // clear asks; without a terminal it needs --yes; it removes dead events only.
    await refused(dir, ["queue", "clear"], /without confirmation: pass --yes/);
    assertEquals(JSON.parse(await runDbxOk(dir, ["queue", "clear", "--yes", "--json"])), {
      cleared: 0,
    });
    assertEquals(JSON.parse(await runDbxOk(dir, ["queue", "--json"])).entries.length, 1);
    // Removing the plugin removes its queue and cursor.
    await runDbxOk(dir, ["plugin", "disable", "audit"]);
    await runDbxOk(dir, ["plugin", "remove", "audit"]);
    assertEquals(JSON.parse(await runDbxOk(dir, ["queue", "--json"])), {
      plugins: [],
      entries: [],
      truncated: false,
    });
  });
});

Deno.test("cli: bad input is refused with a clear error; configuration and data untouched", async () => {
  await withTempDir(async (dir) => {
    await runDbxOk(dir, [
      "aggregate",
      "apply",
      "--aggregate",
      "patient",
      "--aggregate-id",
      "p-1",
      "--event",
      "added",
      "--field",
      "name=Jane",
    ]);
    await runDbxOk(dir, ["plugin", "config", "log", "--name", "audit"]);
    const plugins = join(dir, "plugins.json");
    const before = await Deno.readTextFile(plugins);
    const cases: [string[], RegExp][] = [
      [["plugin", "config", "tcp", "--name", "t", "--host", "h", "--port", "99999"], /port number/],
      [["plugin", "config", "tcp", "--name", "t", "--host", "h"], /--port/],
      [["plugin", "config", "ftp", "--name", "t"], /unknown command 'ftp'/],
      [["plugin", "config", "log", "--name", "bad name!"], /plugin name/],
      [["plugin", "config", "log", "--name", "x".repeat(65)], /plugin name/],
      [["plugin", "config", "log", "--name", "l", "--level", "loud"], /level must be one of/],
      [["plugin", "config", "log", "--name", "l", "--template", "{who}"], /placeholders are/],
      [["plugin", "config", "http", "--name", "h", "--endpoint", "ftp://x"], /http:\/\/ or https/],
      [
        ["plugin", "config", "http", "--name", "h", "--endpoint", "x", "--header", "novalue"],
        /KEY=VALUE/,
      ],
      [
        ["plugin", "config", "http", "--name", "h", "--endpoint", "x", "--header", "Host=a"],
        /set by the delivery itself/,
      ],
      [["plugin", "config", "postgres", "--name", "p", "--connection", "mysql://x"], /postgres/],
      [["plugin", "enable", "ghost"], /no plugin named "ghost"/],
      [["plugin", "remove", "audit"], /disable it before removing it/],
      [["plugin", "replay", "ghost", "patient"], /no plugin named "ghost"/],
      [["plugin", "replay", "audit", "nobody"], /no aggregates of type nobody/],
      [["plugin", "replay", "audit", "patient", "p-404"], /not found/],
      [["queue", "retry", "--event-id", "not-a-uuid"], /event_id must be a UUID/],
      [["queue", "retry", "--plugin", "ghost"], /no plugin named "ghost"/],
      [["queue", "--status", "stuck"], /pending or dead/],
      [["queue", "--take", "0"], /at least 1/],
      [["queue", "clear", "--plugin", "ghost", "--yes"], /no plugin named "ghost"/],
    ];
    for (const [args, pattern] of cases) await refused(dir, args, pattern);
    assertEquals(await Deno.readTextFile(plugins), before, "plugins.json untouched");
    const events = JSON.parse(
      await runDbxOk(dir, [
        "aggregate",
        "get",
        "--aggregate",
        "patient",
        "--aggregate-id",
        "p-1",
        "--json",
      ]),
    );
    assertEquals([events.version, events.state.name], [1, "Jane"]);
  });
});
