/**
 * The Admin API through the real CLI: `dbx config --admin-master-key`, the older
 * `--master-key`, `--clear-admin-master-key`, `--admin-bind`/`--admin-port` (config.toml
 * never holds the key); `dbx start` refusing an enabled Admin API without a key (foreground
 * and daemon), and a daemon serving it whose log records wrong keys without any secret.
 */
import { join } from "node:path";
import { parse } from "smol-toml";
import { verifyMasterKey } from "../../src/config/mod.ts";
import { readPidFile } from "../../src/server/pid_file.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { DAEMON_TEST_OPTS, dbx, fails, killServer, ok } from "../server/lifecycle_helpers.ts";
import { assert, assertEquals, send } from "./_setup.ts";

const DEK = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

async function configFile(dir: string) {
  const text = await Deno.readTextFile(join(dir, "config.toml"));
  return { text, file: parse(text) as { admin: Record<string, unknown> } };
}

/** A port free right now (the OS picks it; the test binds it soon after). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("cli: dbx config --admin-master-key stores only an Argon2id hash and enables the API", async () => {
  await withTempDir(async (dir) => {
    const key = "cli-secret-key-81c2";
    const set = await dbx([
      "config",
      "--dek",
      DEK,
      "--admin-master-key",
      key,
      "--admin-bind",
      "0.0.0.0",
      "--admin-port",
      "7272",
      "--data-dir",
      dir,
    ]);
    const out = ok(set, "config --admin-master-key");
    assert(!out.includes(key) && !set.stderr.includes(key), out);
    assert(/admin\.master_key_hash: \(unset\) -> \*{8}/.test(out), out);
    const { text, file } = await configFile(dir);
    assert(!text.includes(key), "config.toml never holds the key");
    assertEquals(file.admin.enabled, true);
    assertEquals(file.admin.bind, "0.0.0.0");
    assertEquals(file.admin.port, 7272);
    assert(String(file.admin.master_key_hash).startsWith("$argon2id$v=19$"));
    assertEquals(await verifyMasterKey(key, String(file.admin.master_key_hash)), true);
    const shown = ok(await dbx(["config", "--data-dir", dir]), "config");
    assert(!shown.includes(key) && !shown.includes("$argon2id$"), shown);

    // The older seed's --master-key is the same setting.
    const older = "older-spelling-key";
    ok(await dbx(["config", "--master-key", older, "--data-dir", dir]), "config --master-key");
    const after = await configFile(dir);
    assert(!after.text.includes(older));
    assertEquals(await verifyMasterKey(older, String(after.file.admin.master_key_hash)), true);
    assertEquals(await verifyMasterKey(key, String(after.file.admin.master_key_hash)), false);

    // Both spellings at once, or with --clear-admin-master-key, are usage errors.
    fails(
      await dbx(["config", "--master-key", "a", "--admin-master-key", "b", "--data-dir", dir]),
      2,
      /cannot be used with/,
      "both spellings",
    );
    fails(
      await dbx(["config", "--master-key", "a", "--clear-admin-master-key", "--data-dir", dir]),
      2,
      /cannot be used with/,
      "--master-key with --clear",
    );
    // A key that cannot travel in a header is refused, without echoing it.
    const spaced = " spaced-key ";
    const refused = await dbx(["config", "--admin-master-key", spaced, "--data-dir", dir]);
    fails(refused, 1, /--admin-master-key must be printable ASCII/, "spaced key");
    assert(!refused.stderr.includes("spaced-key"));
    assertEquals((await configFile(dir)).text, after.text);

    const cleared = ok(
      await dbx(["config", "--clear-admin-master-key", "--data-dir", dir]),
      "clear",
    );
    assert(/admin\.master_key_hash: \*{8} -> \(unset\)/.test(cleared), cleared);
    assertEquals((await configFile(dir)).file.admin.master_key_hash, undefined);
  });
});

Deno.test(
  "cli: dbx start refuses an enabled Admin API without a key, and says why",
  DAEMON_TEST_OPTS,
  async () => {
    await withTempDir(async (dir) => {
      ok(
        await dbx(["config", "--dek", DEK, "--admin-enabled", "true", "--data-dir", dir]),
        "config",
      );
      const why =
        /Admin API is enabled .* no master key is set: set one with `dbx config --admin-master-key <secret>`/;
      try {
        fails(
          await dbx([
            "start",
            "--foreground",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--data-dir",
            dir,
          ]),
          1,
          why,
          "start --foreground",
        );
        const daemon = await dbx([
          "start",
          "--port",
          "0",
          "--host",
          "127.0.0.1",
          "--data-dir",
          dir,
        ]);
        assert(daemon.code !== 0, `the daemon started: ${daemon.stdout}`);
        assert(why.test(daemon.stderr), daemon.stderr);
        assertEquals(await readPidFile(dir), undefined);
      } finally {
        await killServer(dir);
      }
    });
  },
);

Deno.test(
  "cli: a daemon serves the Admin API on its own port; its log names wrong keys, never secrets",
  DAEMON_TEST_OPTS,
  async () => {
    await withTempDir(async (dir) => {
      const key = "daemon-master-key-5d1e";
      const port = freePort();
      ok(
        await dbx([
          "config",
          "--dek",
          DEK,
          "--admin-master-key",
          key,
          "--admin-port",
          String(port),
          "--data-dir",
          dir,
        ]),
        "config",
      );
      try {
        ok(await dbx(["start", "--port", "0", "--host", "127.0.0.1", "--data-dir", dir]), "start");
        const status = JSON.parse(ok(await dbx(["status", "--json", "--data-dir", dir]), "status"));
        const admin = status.served.find((s: { surface: string }) => s.surface === "admin");
        assertEquals(admin?.url, `http://127.0.0.1:${port}/admin`);

        const issued = await send(`${admin.url}/tokens`, "POST", {
          key,
          body: { group: "ops", user: "robot" },
        });
        assertEquals(issued.status, 201, issued.text);
        const token: string = issued.json.token;
        const wrong = ["wrong-guess-one-77", "wrong-guess-two-88"];
        for (const guess of wrong) {
          assertEquals((await send(`${admin.url}/tokens`, "GET", { key: guess })).status, 401);
        }
        assertEquals((await send(`${admin.url}/tokens`, "GET", { key, bearer: true })).status, 200);
        // The token the Admin API issued works on REST.
        const rest = await fetch(`${status.url}/v1/aggregates`, {
          headers: { Authorization: `Bearer ${token}` },
        });
        assertEquals(rest.status, 200);
        await rest.body?.cancel();

        ok(await dbx(["stop", "--data-dir", dir]), "stop");
        const log = await Deno.readTextFile(join(dir, "dbx.log"));
        assert(/admin: GET \/admin\/tokens from 127\.0\.0\.1: wrong master key/.test(log), log);
        for (const secret of [key, ...wrong, token, DEK]) {
          assert(!log.includes(secret), "a secret is in the log");
        }
        assert(!(await Deno.readTextFile(join(dir, "config.toml"))).includes(key));
      } finally {
        await killServer(dir);
      }
    });
  },
);
