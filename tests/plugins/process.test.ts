/**
 * Process plugins end to end with the example plugin (`scripts/example-plugin/`): bundled
 * here with a launcher, installed, configured, enabled (which starts it once), then fed
 * Cap'n Proto messages (event, state, schema) it acknowledges one by one. Killing the
 * plugin process restarts it and delivery goes on without losing or repeating an event;
 * a refusal (ok = false) puts the event in the retry queue; a binary that is missing,
 * exits at once or writes garbage fails `plugin enable` with a clear message.
 */
import { join } from "node:path";
import { runDbx, runDbxOk } from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { isDbxError } from "../../src/errors.ts";
import { installBundle } from "../../src/plugins/process/install.ts";
import {
  decodeAck,
  decodePluginMessage,
  encodeAck,
  encodeEvent,
  MAX_ACK_BYTES,
} from "../../src/plugins/process/messages.ts";
import {
  DAEMON_TEST_OPTS,
  dbx,
  generateToken,
  ok,
  startDaemon,
  withDataDir,
} from "../server/lifecycle_helpers.ts";
import { append, assert, assertEquals, eventually, withNode } from "./_setup.ts";
import { exampleBundle, platformDir, tarGz } from "./_bundles.ts";

interface Line {
  kind: "hello" | "event";
  pid: number;
  instance?: string;
  position?: number;
  version?: number;
  aggregate_id?: string;
  event_type?: string;
  event_id?: string;
  payload?: Record<string, unknown>;
  state?: Record<string, unknown>;
  schema?: { events?: Record<string, unknown> } | null;
}

async function lines(file: string): Promise<Line[]> {
  try {
    return (await Deno.readTextFile(file)).split("\n").filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

const events = (all: Line[]) => all.filter((l) => l.kind === "event");
const hellos = (all: Line[]) => all.filter((l) => l.kind === "hello");

/** Each event exactly once, in the order of the store (positions 1..n). */
function assertInOrder(all: Line[], n: number): void {
  assertEquals(events(all).map((l) => l.position), Array.from({ length: n }, (_, i) => i + 1));
}

/** Wait until `n` events were received. */
async function receivedEvents(file: string, n: number): Promise<void> {
  let got = 0;
  await eventually(() => `${n} events, got ${got}`, async () => {
    got = events(await lines(file)).length;
    return got >= n;
  });
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test("process: messages round-trip; garbage and oversized acknowledgements are refused", () => {
  const record = {
    aggregate_type: "acct",
    aggregate_id: "a-1",
    event_type: "credited",
    payload: { amount: "5" },
    metadata: {
      event_id: "0190a0a0-0000-7000-8000-000000000001",
      created_at: "2030-01-01T00:00:00.000Z",
      issued_by: null,
    },
    version: 2,
    hash: "ab".repeat(32),
    merkle_root: "cd".repeat(32),
    position: 7,
  };
  const bytes = encodeEvent(9n, { record, state: { amount: "5" }, schema: { events: {} } });
  const decoded = decodePluginMessage(bytes);
  assert(decoded.kind === "event");
  assertEquals(decoded.sequence, 9n);
  assertEquals(decoded.record, record);
  assertEquals(decoded.state, { amount: "5" });
  assertEquals(decoded.stateVersion, 2);
  assertEquals(JSON.parse(decoded.schemaJson), { events: {} });
  assertEquals(decodeAck(encodeAck({ sequence: 9n, ok: false, error: "full" })), {
    sequence: 9n,
    ok: false,
    error: "full",
  });
  for (const bad of [new TextEncoder().encode("hello there\n"), new Uint8Array(8)]) {
    try {
      decodeAck(bad);
      throw new Error("garbage was read as an acknowledgement");
    } catch (err) {
      assert(isDbxError(err), String(err));
    }
  }
  try {
    decodeAck(encodeAck({ sequence: 1n, ok: false, error: "x".repeat(MAX_ACK_BYTES) }));
    throw new Error("an oversized acknowledgement was read");
  } catch (err) {
    assert(isDbxError(err, "too_large"), String(err));
  }
});

Deno.test("process: the example plugin gets every event in order, and comes back when killed", async () => {
  await withNode(async (t) => {
    const out = join(t.dir, "received.jsonl");
    await installBundle(t.dir, {
      plugin: "example",
      version: "1.0.0",
      bytes: exampleBundle(),
      bin: "run.sh",
    });
    await t.db.call("upsertPlugin", {
      name: "ex",
      kind: "process",
      plugin: "example",
      version: "1.0.0",
      args: [],
      env: { EXAMPLE_PLUGIN_OUTPUT: out },
      enabled: false,
    });
    await t.db.call("enablePlugin", { name: "ex", check: true });
    // The check started it once (its hello), and stopped it again.
    assertEquals(hellos(await lines(out)).length, 1);
    const checked = hellos(await lines(out))[0].pid;
    await eventually("the checked process exits", () => !alive(checked));

    await t.startDelivery();
    for (let n = 1; n <= 6; n++) await append(t.db, "acct", `a-${n % 2}`, { n, [`f${n}`]: true });
    await receivedEvents(out, 6);
    let all = await lines(out);
    assertInOrder(all, 6);
    const last = events(all)[5];
    assertEquals(last.aggregate_id, "a-0");
    assertEquals(last.version, 3);
    assertEquals(last.payload, { n: 6, f6: true });
    // The state after the event: every field the aggregate's events set, latest values
    // (the engine keeps state values as strings).
    assertEquals(last.state, { n: "6", f2: "true", f4: "true", f6: "true" });
    assertEquals(last.schema, null);
    assertEquals(hellos(all)[1].instance, "ex");

    // kill -9 the plugin once all is acknowledged: it is started again (backoff) and
    // delivery continues, repeating nothing.
    await eventually(
      "cursor at 6",
      async () => (await t.db.call("pluginQueue", { name: "ex" })).plugins[0].cursor === 6,
    );
    const first = hellos(all)[1].pid;
    Deno.kill(first, "SIGKILL");
    await eventually("a new plugin process", async () => hellos(await lines(out)).length >= 3);
    for (let n = 7; n <= 10; n++) await append(t.db, "acct", `a-${n % 2}`, { n });
    await receivedEvents(out, 10);
    all = await lines(out);
    assertInOrder(all, 10);
    const second = hellos(all)[2].pid;
    assert(second !== first, "another process");
    assert(events(all).slice(6).every((l) => l.pid === second), "delivered by the new one");
    assert(
      t.logs.some((l) =>
        /plugin ex: the plugin process was killed by SIGKILL; starting it/.test(l)
      ),
      t.logs.join("\n"),
    );
    // The plugin writes an event before it acknowledges it: the cursor follows the ack.
    await eventually(
      "cursor at 10",
      async () => (await t.db.call("pluginQueue", { name: "ex" })).plugins[0].cursor === 10,
    );
    const queue = await t.db.call("pluginQueue", { name: "ex" });
    assertEquals(queue.plugins[0].cursor, 10);
    assertEquals(queue.entries, []);
    await t.stopDelivery();
    await eventually("the plugin stops with delivery", () => !alive(second));
  });
});

Deno.test("process: a refused event goes to the retry queue; the others flow", async () => {
  await withNode(async (t) => {
    const out = join(t.dir, "received.jsonl");
    await installBundle(t.dir, {
      plugin: "example",
      version: "1.0.0",
      bytes: exampleBundle(),
      bin: "run.sh",
    });
    await t.db.call("upsertPlugin", {
      name: "ex",
      kind: "process",
      plugin: "example",
      version: "1.0.0",
      args: [],
      env: { EXAMPLE_PLUGIN_OUTPUT: out, EXAMPLE_PLUGIN_REFUSE: "closed" },
    });
    await t.startDelivery();
    await append(t.db, "acct", "a", { n: 1 });
    await t.db.call("appendEvent", {
      aggregate_type: "acct",
      aggregate_id: "b",
      event_type: "closed",
      payload: {},
    });
    await append(t.db, "acct", "c", { n: 3 });
    await eventually(
      "events 1 and 3 delivered",
      async () => events(await lines(out)).map((l) => l.position).join() === "1,3",
    );
    const queue = await eventually("the refused one queued", async () => {
      const q = await t.db.call("pluginQueue", { name: "ex" });
      return q.entries.length === 1 && q.entries[0].last_error ? q : undefined;
    });
    assertEquals(queue.entries[0].position, 2);
    assert(
      /process ex: the plugin refused it: refusing closed as configured/.test(
        queue.entries[0].last_error!,
      ),
      queue.entries[0].last_error!,
    );
  });
});

Deno.test("process: an unacknowledged event times out, is queued, and the plugin restarts", async () => {
  await withNode(async (t) => {
    const out = join(t.dir, "received.jsonl");
    await installBundle(t.dir, {
      plugin: "example",
      version: "1.0.0",
      bytes: exampleBundle(),
      bin: "run.sh",
    });
    await t.db.call("upsertPlugin", {
      name: "ex",
      kind: "process",
      plugin: "example",
      version: "1.0.0",
      args: [],
      env: { EXAMPLE_PLUGIN_OUTPUT: out, EXAMPLE_PLUGIN_HANG: "stuck" },
    });
    await t.startDelivery({ attemptTimeoutMs: 3000 });
    await append(t.db, "acct", "a", { n: 1 });
    await receivedEvents(out, 1);
    await t.db.call("appendEvent", {
      aggregate_type: "acct",
      aggregate_id: "b",
      event_type: "stuck",
      payload: {},
    });
    await append(t.db, "acct", "c", { n: 3 });
    const queue = await eventually("the unanswered one queued", async () => {
      const q = await t.db.call("pluginQueue", { name: "ex" });
      return q.entries.length === 1 && q.entries[0].last_error ? q : undefined;
    });
    assertEquals(queue.entries[0].position, 2);
    assert(
      /no acknowledgement of message \d+ within 3000 ms/.test(queue.entries[0].last_error!),
      queue.entries[0].last_error!,
    );
    // The stuck process was killed; a new one took event 3.
    await receivedEvents(out, 2);
    const all = await lines(out);
    assertEquals(events(all).map((l) => l.position), [1, 3]);
    assert(hellos(all).length >= 2, "started again");
    assert(events(all)[1].pid !== events(all)[0].pid, "by another process");
  });
});

Deno.test("process: enable refuses a plugin that is not installed, exits, or talks garbage", async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "data");
    const config = (name: string, plugin: string) =>
      runDbxOk(data, [
        "plugin",
        "config",
        "process",
        "--name",
        name,
        "--plugin",
        plugin,
        "--version",
        "1.0.0",
        "--disable",
      ]);
    const enable = async (name: string, pattern: RegExp) => {
      const r = await runDbx(data, ["plugin", "enable", name]);
      assert(r.code !== 0, `enable ${name} should fail`);
      assert(pattern.test(r.stderr), r.stderr);
    };
    await config("missing", "nothing");
    await enable("missing", /not installed for .*dbx plugin install nothing 1\.0\.0/);

    const install = async (plugin: string, script: string) => {
      const file = join(dir, `${plugin}.tar.gz`);
      await Deno.writeFile(
        file,
        tarGz([{ path: `${platformDir()}/${plugin}`, data: script, mode: 0o755 }]),
      );
      await runDbxOk(data, ["plugin", "install", plugin, "1.0.0", "--source", file]);
    };
    await install("quits", "#!/bin/sh\nexit 3\n");
    await config("quits", "quits");
    await enable("quits", /did not start: .*exited with code 3/);
    await install("noisy", "#!/bin/sh\necho hello there\nexec sleep 30\n");
    await config("noisy", "noisy");
    await enable("noisy", /did not start/);
    const list = JSON.parse(await runDbxOk(data, ["plugin", "list", "--json"]));
    assert(list.every((p: { enabled: boolean }) => !p.enabled), "none enabled");
    const test = await runDbx(data, ["plugin", "test", "quits"]);
    assert(test.code !== 0 && /exited with code 3/.test(test.stdout), test.stdout);
  });
});

Deno.test(
  "process: installed, configured and enabled with the CLI, fed by a running server",
  DAEMON_TEST_OPTS,
  async () => {
    await withDataDir(async (dir) => {
      await Deno.mkdir(dir, { recursive: true });
      const bundle = join(dir, "..", "example-1.0.0.tar.gz");
      const out = join(dir, "..", "received.jsonl");
      await Deno.writeFile(bundle, exampleBundle());
      const cli = async (args: string[]) => ok(await dbx([...args, "--data-dir", dir]), args[1]);
      const installed = await cli([
        "plugin",
        "install",
        "example",
        "1.0.0",
        "--source",
        bundle,
        "--bin",
        "run.sh",
      ]);
      assert(installed.includes("installed plugin example 1.0.0"), installed);
      await cli([
        "plugin",
        "config",
        "process",
        "--name",
        "x",
        "--plugin",
        "example",
        "--version",
        "1.0.0",
        "--env",
        `EXAMPLE_PLUGIN_OUTPUT=${out}`,
        "--disable",
      ]);
      await cli(["schema", "create", "order", "--events", "placed,paid"]);
      assert((await cli(["plugin", "enable", "x"])).includes("enabled plugin x"));
      const token = await generateToken(dir, ["--group", "ops", "--user", "proc"]);
      const info = await startDaemon(dir);
      const base = `http://127.0.0.1:${info.port}`;
      const post = async (id: string, type: string, payload: Record<string, unknown>) => {
        const res = await fetch(`${base}/v1/events`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({
            aggregate_type: "order",
            aggregate_id: id,
            event_type: type,
            payload,
          }),
          signal: AbortSignal.timeout(15_000),
        });
        assertEquals(res.status, 201, await res.text());
      };
      // With the server running, install goes through it (POST /v1/plugin-installs).
      const through = await cli([
        "plugin",
        "install",
        "example",
        "1.0.1",
        "--source",
        bundle,
        "--bin",
        "run.sh",
        "--json",
      ]);
      assertEquals(JSON.parse(through).version, "1.0.1");
      const conflict = await dbx([
        "plugin",
        "install",
        "example",
        "1.0.1",
        "--source",
        bundle,
        "--bin",
        "run.sh",
        "--data-dir",
        dir,
      ]);
      assert(conflict.code !== 0 && /installed already/.test(conflict.stderr), conflict.stderr);
      for (let n = 1; n <= 5; n++) await post(`o-${n % 2}`, n % 2 ? "placed" : "paid", { n });
      await receivedEvents(out, 5);
      let all = await lines(out);
      assertInOrder(all, 5);
      assert(events(all).every((l) => l.schema?.events !== undefined), "the schema came along");
      const cursor = async () => {
        const res = await fetch(`${base}/v1/plugin-queue`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return (await res.json()).plugins[0].cursor;
      };
      await eventually("cursor at 5", async () => await cursor() === 5);
      const running = hellos(all).at(-1)!.pid;
      Deno.kill(running, "SIGKILL");
      await eventually("restarted", async () => hellos(await lines(out)).at(-1)!.pid !== running);
      for (let n = 6; n <= 8; n++) await post(`o-${n % 2}`, "paid", { n });
      await receivedEvents(out, 8);
      all = await lines(out);
      assertInOrder(all, 8);
      // Written before acknowledged: the cursor follows the ack.
      await eventually("cursor at 8", async () => await cursor() === 8);
      const queue = JSON.parse(await cli(["queue", "--json"]));
      assertEquals(queue.plugins[0].cursor, 8);
      assertEquals(queue.plugins[0].pending, 0);
      ok(await dbx(["stop", "--data-dir", dir]), "dbx stop");
      const last = hellos(all).at(-1)!.pid;
      await eventually("the plugin stops with the server", () => !alive(last));
    });
  },
);
