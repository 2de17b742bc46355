/**
 * `dbx --remote tcp://127.0.0.1:N --token T <command>`: the real CLI as a subprocess against
 * a real server's control socket. Commands run on the server with the connection's token
 * and nothing else: its scopes are enforced, server lifecycle, destroy, secrets and the
 * server's files are out of reach whatever the token, and a bad token is refused at the
 * handshake.
 */
import { MAIN } from "../_helpers/cli.ts";
import { outputWithin, PROCESS_DEADLINE_MS } from "../_helpers/deadline.ts";
import { assert, assertEquals, officialClient, withSocketServer } from "./_socket_setup.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `dbx --remote tcp://127.0.0.1:<port> [--token token] <args>` (no data dir of its own). */
function remote(port: number, token: string | undefined, args: string[]): Promise<Run> {
  return remoteAt(`tcp://127.0.0.1:${port}`, token, args);
}

async function remoteAt(url: string, token: string | undefined, args: string[]): Promise<Run> {
  const tokenArgs = token === undefined ? [] : ["--token", token];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--remote", url, ...tokenArgs, ...args],
    env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1", EVENTDBX_TOKEN: "" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await outputWithin(child, PROCESS_DEADLINE_MS, `dbx --remote ${args.join(" ")}`);
  const decoder = new TextDecoder();
  const stderr = decoder.decode(output.stderr).split("\n")
    .filter((line) => line && !line.startsWith("Blocking waiting for file lock")).join("\n");
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr };
}

function show(r: Run): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

const applyArgs = (id: string, ...fields: string[]) => [
  "aggregate",
  "apply",
  "--aggregate",
  "order",
  "--aggregate-id",
  id,
  "--event",
  "order-updated",
  ...fields.flatMap((f) => ["--field", f]),
];

Deno.test("remote cli: aggregate apply and list run on the server, as the token's identity", async () => {
  await withSocketServer(async (s) => {
    const token = await s.token({ group: "ops", user: "ada" });
    const applied = await remote(s.port, token, applyArgs("o-1", "total=42", "status=open"));
    assertEquals(applied.code, 0, show(applied));
    const again = await remote(s.port, token, [...applyArgs("o-1", "total=43"), "--json"]);
    assertEquals(again.code, 0, show(again));
    assertEquals(JSON.parse(again.stdout).version, 2, again.stdout);

    const listed = await remote(s.port, token, ["aggregate", "list", "--json"]);
    assertEquals(listed.code, 0, show(listed));
    assert(listed.stdout.includes('"o-1"'), listed.stdout);
    const plain = await remote(s.port, token, ["aggregate", "list"]);
    assertEquals(plain.code, 0, show(plain));
    assert(plain.stdout.includes("o-1"), plain.stdout);

    // What the server holds: both events, issued by the remote token's identity.
    const client = officialClient(s.port, s.admin);
    try {
      await client.connect();
      const got = await client.get("order", "o-1");
      assertEquals([got.version, got.state.total, got.state.status], [2, 43, "open"]);
      const events = await client.events("order", "o-1", {});
      assertEquals(
        events.items.map((e: { metadata: { issuedBy: unknown } }) => e.metadata.issuedBy),
        [{ group: "ops", user: "ada" }, { group: "ops", user: "ada" }],
      );
    } finally {
      await client.disconnect().catch(() => {});
    }

    // A command's own errors come back with its exit code.
    const missing = await remote(s.port, token, [
      "aggregate",
      "get",
      "--aggregate",
      "order",
      "--aggregate-id",
      "nope",
    ]);
    assert(missing.code !== 0, show(missing));
    assert(/not found/.test(missing.stderr), show(missing));
    const help = await remote(s.port, token, ["aggregate", "--help"]);
    assertEquals(help.code, 0, show(help));
  });
});

Deno.test("remote cli: a token without the scope is refused; committed data is untouched", async () => {
  await withSocketServer(async (s) => {
    const writer = await s.token();
    assertEquals((await remote(s.port, writer, applyArgs("o-1", "total=1"))).code, 0);
    const reader = await s.token({ actions: ["aggregate.read"] });
    const refused = await remote(s.port, reader, applyArgs("o-1", "total=2"));
    assert(refused.code !== 0, show(refused));
    assert(/not allowed|forbidden|scope|permi/i.test(refused.stderr), show(refused));
    const archive = await remote(s.port, reader, [
      "aggregate",
      "archive",
      "--aggregate",
      "order",
      "--aggregate-id",
      "o-1",
    ]);
    assert(archive.code !== 0, show(archive));
    // A read within the scope works, and shows the data as it was.
    const got = await remote(s.port, reader, [
      "aggregate",
      "get",
      "--aggregate",
      "order",
      "--aggregate-id",
      "o-1",
      "--json",
    ]);
    assertEquals(got.code, 0, show(got));
    const record = JSON.parse(got.stdout);
    assertEquals([record.version, record.state.total], [1, "1"]);
    // A token limited to another aggregate type does not reach this one.
    const other = await s.token({ resources: ["aggregate:item:*"] });
    const outside = await remote(s.port, other, [
      "aggregate",
      "get",
      "--aggregate",
      "order",
      "--aggregate-id",
      "o-1",
    ]);
    assert(outside.code !== 0, show(outside));
  });
});

Deno.test("remote cli: lifecycle, destroy, secrets and the server's files are refused", async () => {
  await withSocketServer(async (s) => {
    const refusals: { args: string[]; reason: RegExp }[] = [
      { args: ["stop"], reason: /"stop" is not a command dbx runs remotely/ },
      { args: ["start", "--foreground"], reason: /"start" is not a command/ },
      { args: ["restart"], reason: /"restart" is not a command/ },
      { args: ["status"], reason: /"status" is not a command/ },
      { args: ["destroy", "--yes"], reason: /"destroy" is not a command/ },
      { args: ["config", "--dek", "x"], reason: /"config" is not a command/ },
      { args: ["token", "list"], reason: /"token" is not a command/ },
      { args: ["backup", "--output", "/tmp/x"], reason: /"backup" is not a command/ },
      {
        args: ["aggregate", "list", "--data-dir", "/tmp"],
        reason: /--data-dir is not allowed remotely/,
      },
      {
        args: ["aggregate", "list", "--config", "/etc/passwd"],
        reason: /--config is not allowed remotely/,
      },
      {
        args: ["aggregate", "list", "--token", s.admin],
        reason: /--token is not allowed remotely/,
      },
      {
        args: [...applyArgs("o-1"), "--payload", "@/etc/passwd"],
        reason: /--payload @file would read the server's files/,
      },
      { args: [...applyArgs("o-1"), "--payload", "-"], reason: /stdin/ },
      { args: ["schema", "dump", "order", "--output", "/tmp/x"], reason: /--output/ },
      {
        args: ["aggregate", "list", "--remote", "tcp://127.0.0.1:1"],
        reason: /option --remote is not allowed remotely/,
      },
    ];
    // Even the admin token cannot (a few at a time: each is a CLI process).
    for (let at = 0; at < refusals.length; at += 4) {
      const batch = refusals.slice(at, at + 4);
      const runs = await Promise.all(batch.map((r) => remote(s.port, s.admin, r.args)));
      batch.forEach((r, i) => {
        const run = runs[i];
        const what = `dbx --remote … ${r.args.join(" ").slice(0, 60)}: ${show(run)}`;
        assertEquals(run.code, 2, what);
        assert(r.reason.test(run.stderr), what);
        assert(!run.stderr.includes(s.admin), "the token is never echoed");
      });
    }
    // The server is still up and serving.
    const listed = await remote(s.port, s.admin, ["aggregate", "list"]);
    assertEquals(listed.code, 0, show(listed));
  });
});

Deno.test("remote cli: a bad token, no token and a bad address are refused", async () => {
  await withSocketServer(async (s) => {
    const [bad, none, empty, address] = await Promise.all([
      remote(s.port, "not-a-token", ["aggregate", "list"]),
      remote(s.port, undefined, ["aggregate", "list"]),
      remote(s.port, s.admin, []),
      remoteAt("http://127.0.0.1:1", s.admin, ["aggregate", "list"]),
    ]);
    assertEquals(bad.code, 1, show(bad));
    assert(/control handshake rejected: invalid control token/.test(bad.stderr), show(bad));
    assertEquals(none.code, 2, show(none));
    assert(/needs a token/.test(none.stderr), show(none));
    assertEquals(empty.code, 2, show(empty));
    assert(/no command given/.test(empty.stderr), show(empty));
    assertEquals(address.code, 2, show(address));
    assert(/--remote must be tcp:\/\/HOST\[:PORT\]/.test(address.stderr), show(address));
    const listed = await remote(s.port, s.admin, ["aggregate", "list"]);
    assertEquals(listed.code, 0, show(listed));
  });
});

Deno.test("remote cli: a server without remote commands says so", async () => {
  await withSocketServer(async (s) => {
    const run = await remote(s.port, s.admin, ["aggregate", "list"]);
    assertEquals(run.code, 1, show(run));
    assert(/remote commands are not available on this server/.test(run.stderr), show(run));
  }, { remoteCommands: false });
});
