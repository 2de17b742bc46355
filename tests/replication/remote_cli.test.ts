/**
 * `dbx remote add|rm|ls|show|key` through the real CLI: the key pair is created on first use
 * with private modes and stays the same; remotes are added (a `tcp://` endpoint, default
 * port 6363), listed, shown, replaced and removed; bad input is refused with a clear message
 * and leaves the remotes as they were.
 */
import { assert, assertEquals, runDbx, runDbxOk, withCliNode } from "./_nodes.ts";

const KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

Deno.test("remote key creates the key pair once, private, and prints the public key", async () => {
  await withCliNode(async (dir) => {
    const first = (await runDbxOk(dir, ["remote", "key"])).trim();
    assert(/^[A-Za-z0-9+/]{43}=$/.test(first), first);
    assertEquals((await runDbxOk(dir, ["remote", "key"])).trim(), first, "the same key");
    const key = await Deno.stat(`${dir}/replication.key`);
    assertEquals((key.mode ?? 0) & 0o777, 0o600);
    assertEquals((await Deno.readTextFile(`${dir}/replication.pub`)).trim(), first);
    const withPath = await runDbxOk(dir, ["remote", "key", "--show-path"]);
    assert(withPath.includes(`${dir}/replication.pub`), withPath);
    const json = JSON.parse(await runDbxOk(dir, ["remote", "key", "--show-path", "--json"]));
    assertEquals(json.public_key, first);
    assertEquals(json.secret_key_path, `${dir}/replication.key`);
    // The secret never shows.
    const secret = (await Deno.readTextFile(`${dir}/replication.key`)).trim();
    assert(!withPath.includes(secret) && !JSON.stringify(json).includes(secret));
  });
});

Deno.test("remote add, ls, show, replace and rm", async () => {
  await withCliNode(async (dir) => {
    await runDbxOk(dir, ["remote", "add", "standby", "10.0.0.2", "--public-key", KEY]);
    const shown = JSON.parse(await runDbxOk(dir, ["remote", "show", "standby", "--json"]));
    assertEquals(shown.endpoint, "tcp://10.0.0.2:6363");
    assertEquals(shown.public_key, KEY);
    const replaced = JSON.parse(
      await runDbxOk(dir, [
        "remote",
        "add",
        "standby",
        "::1",
        "--port",
        "7000",
        "--public-key",
        KEY,
        "--json",
      ]),
    );
    assertEquals([replaced.endpoint, replaced.created], ["tcp://[::1]:7000", false]);
    const listed = await runDbxOk(dir, ["remote", "ls"]);
    assert(listed.includes("standby") && listed.includes("tcp://[::1]:7000"), listed);
    await runDbxOk(dir, ["remote", "rm", "standby"]);
    assertEquals(JSON.parse(await runDbxOk(dir, ["remote", "ls", "--json"])), []);
    const missing = await runDbx(dir, ["remote", "show", "standby"]);
    assert(missing.code !== 0 && /no remote named "standby"/.test(missing.stderr), missing.stderr);
  });
});

Deno.test("remote add refuses a bad key, host or port and changes nothing", async () => {
  await withCliNode(async (dir) => {
    await runDbxOk(dir, ["remote", "add", "keep", "10.0.0.9", "--public-key", KEY]);
    const cases: [string[], RegExp][] = [
      [["remote", "add", "x", "10.0.0.2", "--public-key", "AAAA"], /public_key/],
      [["remote", "add", "x", "10.0.0.2", "--public-key", "A".repeat(43) + "="], /public_key/],
      [["remote", "add", "x", "bad host!", "--public-key", KEY], /host/],
      [["remote", "add", "x", "10.0.0.2", "--port", "70000", "--public-key", KEY], /port/],
      [["remote", "add", "bad name", "10.0.0.2", "--public-key", KEY], /remote name/],
      [["push", "nowhere"], /no remote named "nowhere"/],
      [["push", "keep", "--aggregate-id", "no-colon"], /TYPE:ID/],
      [["push", "keep", "--batch-size", "0"], /batch-size/],
    ];
    for (const [args, message] of cases) {
      const r = await runDbx(dir, args);
      assert(r.code !== 0, `${args.join(" ")} must fail`);
      assert(message.test(r.stderr), `${args.join(" ")}: ${r.stderr}`);
    }
    const left = JSON.parse(await runDbxOk(dir, ["remote", "ls", "--json"]));
    assertEquals(left.map((r: { name: string }) => r.name), ["keep"]);
  });
});
