/**
 * While a daemon holds the store, mutating `aggregate` commands go through its REST API
 * (token from --token, EVENTDBX_TOKEN, or one minted locally); reads keep working against
 * the store read-only; --stage keeps working. After stop, writes are local again.
 */
import assert from "node:assert/strict";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { readStaged } from "../../src/staging/staged_events.ts";
import {
  DAEMON_TEST_OPTS as OPTS,
  dbx,
  fails,
  generateToken,
  ok,
  serverUrlOf,
  startDaemon,
  withDataDir,
} from "./lifecycle_helpers.ts";

/** A token that may only read aggregates (audit/carol). */
function readOnlyToken(dir: string): Promise<string> {
  return generateToken(dir, ["--group", "audit", "--user", "carol", "--action", "aggregate.read"]);
}

function target(type: string, id: string, dir: string): string[] {
  return ["--aggregate", type, "--aggregate-id", id, "--data-dir", dir];
}

Deno.test(
  "proxy: apply goes through the server with a minted, flag or env token",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const alice = await generateToken(dir, ["--group", "ops", "--user", "alice"]);
      const bob = await generateToken(dir, ["--group", "ops", "--user", "bob"]);
      await startDaemon(dir);
      const apply = (id: string, extra: string[] = [], env?: Record<string, string>) =>
        dbx([
          "aggregate",
          "apply",
          ...target("patient", id, dir),
          "--event",
          "patient-added",
          "--field",
          "name=Jane",
          "--json",
          ...extra,
        ], { env });

      // No token anywhere: the CLI mints a short-lived one (group "system"); offline writes
      // would say group "local", so this proves the server wrote it.
      const minted = JSON.parse(ok(await apply("p-1"), "apply with a minted token"));
      assert.equal(minted.metadata.issued_by.group, "system");
      assert.equal(minted.version, 1);

      const viaEnv = JSON.parse(ok(await apply("p-2", [], { EVENTDBX_TOKEN: alice }), "env token"));
      assert.deepEqual(viaEnv.metadata.issued_by, { group: "ops", user: "alice" });

      const viaFlag = JSON.parse(
        ok(await apply("p-2", ["--token", bob], { EVENTDBX_TOKEN: alice }), "flag beats env"),
      );
      assert.deepEqual(viaFlag.metadata.issued_by, { group: "ops", user: "bob" });
      assert.equal(viaFlag.version, 2);

      // The server checks the token: a read-only token is refused with its message.
      const reader = await readOnlyToken(dir);
      fails(
        await apply("p-3", ["--token", reader]),
        1,
        /the token does not permit aggregate\.append on aggregate:patient:p-3/,
        "read-only token",
      );
      fails(await apply("p-3", ["--token", "not-a-token"]), 1, /token/, "garbage token");

      // Server-side checks come back as one-line errors: optimistic concurrency, patch.
      fails(
        await apply("p-2", ["--expected-version", "7"]),
        1,
        /version/,
        "expected-version conflict",
      );
      const patched = await dbx([
        "aggregate",
        "apply",
        ...target("patient", "p-2", dir),
        "--event",
        "renamed",
        "--patch",
        '[{"op":"replace","path":"/name","value":"Janet"}]',
        "--json",
      ]);
      assert.equal(JSON.parse(ok(patched, "patch")).payload.name, "Janet");

      // Reads work while the server holds the lock, and see what it wrote.
      const got = JSON.parse(
        ok(await dbx(["aggregate", "get", ...target("patient", "p-2", dir), "--json"]), "get"),
      );
      assert.equal(got.version, 3);
      assert.equal(got.state.name, "Janet");
      const list = JSON.parse(
        ok(await dbx(["aggregate", "list", "--data-dir", dir, "--json"]), "list"),
      );
      assert.deepEqual(list.map((a: { aggregate_id: string }) => a.aggregate_id).sort(), [
        "p-1",
        "p-2",
      ]);
      const events = JSON.parse(
        ok(
          await dbx(["aggregate", "replay", ...target("patient", "p-2", dir), "--json"]),
          "replay",
        ),
      );
      assert.deepEqual(events.map((e: { version: number }) => e.version), [1, 2, 3]);
      ok(await dbx(["aggregate", "verify", ...target("patient", "p-2", dir)]), "verify");

      // After stop the same command writes locally (group "local").
      ok(await dbx(["stop", "--data-dir", dir]), "stop");
      const local = JSON.parse(ok(await apply("p-4"), "apply offline"));
      assert.equal(local.metadata.issued_by.group, "local");
    });
  },
);

Deno.test(
  "proxy: stage while running, commit through the server, remove edits the queue",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const alice = await generateToken(dir, ["--group", "ops", "--user", "alice"]);
      await startDaemon(dir);
      for (const [id, event] of [["o-1", "placed"], ["o-2", "placed"], ["o-1", "paid"]]) {
        ok(
          await dbx([
            "aggregate",
            "apply",
            ...target("order", id, dir),
            "--event",
            event,
            "--field",
            "total=5",
            "--stage",
          ]),
          `stage ${id} ${event}`,
        );
      }
      ok(
        await dbx([
          "aggregate",
          "apply",
          ...target("order", "o-9", dir),
          "--event",
          "x",
          "--payload",
          "{}",
          "--stage",
        ]),
        "stage o-9",
      );
      assert.equal((await stagedOf(dir)).length, 4);
      const staged = JSON.parse(
        ok(await dbx(["aggregate", "list", "--stage", "--data-dir", dir, "--json"]), "list staged"),
      );
      assert.equal(staged.length, 4);
      // remove only edits the staging file: o-9 has no committed events.
      ok(await dbx(["aggregate", "remove", ...target("order", "o-9", dir)]), "remove staged");
      assert.equal((await stagedOf(dir)).length, 3);

      const committed = JSON.parse(
        ok(
          await dbx(["aggregate", "commit", "--data-dir", dir, "--json"], {
            env: { EVENTDBX_TOKEN: alice },
          }),
          "commit through the server",
        ),
      );
      assert.equal(committed.committed, 3);
      for (const e of committed.events) {
        assert.deepEqual(e.metadata.issued_by, { group: "ops", user: "alice" });
      }
      assert.deepEqual(committed.events.map((e: { version: number }) => e.version), [1, 1, 2]);
      assert.equal((await stagedOf(dir)).length, 0, "staging cleared after the commit");

      // A refused batch stays staged.
      ok(
        await dbx([
          "aggregate",
          "apply",
          ...target("order", "o-3", dir),
          "--event",
          "x",
          "--payload",
          "{}",
          "--stage",
        ]),
        "stage o-3",
      );
      const reader = await readOnlyToken(dir);
      fails(
        await dbx(["aggregate", "commit", "--data-dir", dir, "--token", reader]),
        1,
        /does not permit aggregate\.append/,
        "commit with a read-only token",
      );
      assert.equal((await stagedOf(dir)).length, 1, "still staged");

      // The server sees the committed events.
      const res = await fetch(`${await serverUrlOf(dir)}/v1/aggregates/order/o-1`, {
        headers: { authorization: `Bearer ${alice}` },
      });
      assert.equal((await res.json()).version, 2);
    });
  },
);

Deno.test("proxy: snapshot, archive and restore go through the server", OPTS, async () => {
  await withDataDir(async (dir) => {
    const alice = await generateToken(dir, ["--group", "ops", "--user", "alice"]);
    const appender = await generateToken(dir, [
      "--group",
      "ops",
      "--user",
      "dave",
      "--action",
      "aggregate.append",
      "--action",
      "aggregate.read",
    ]);
    await startDaemon(dir);
    const t = target("invoice", "i-1", dir);
    ok(await dbx(["aggregate", "apply", ...t, "--event", "issued", "--field", "n=1"]), "apply");

    const snap = JSON.parse(ok(await dbx(["aggregate", "snapshot", ...t, "--json"]), "snapshot"));
    assert.equal(snap.version, 1);
    assert.equal(snap.action, "snapshot");

    // archive needs aggregate.archive: the server refuses dave's token.
    fails(
      await dbx(["aggregate", "archive", ...t, "--token", appender]),
      1,
      /does not permit aggregate\.archive/,
      "archive without the scope",
    );
    assert.match(
      ok(
        await dbx(["aggregate", "archive", ...t, "--comment", "closed"], {
          env: { EVENTDBX_TOKEN: alice },
        }),
        "archive",
      ),
      /archived invoice\/i-1 at version 1/,
    );
    fails(
      await dbx(["aggregate", "apply", ...t, "--event", "late"]),
      1,
      /archived/,
      "append to an archived aggregate",
    );
    const got = JSON.parse(ok(await dbx(["aggregate", "get", ...t, "--json"]), "get archived"));
    assert.equal(got.archived, true);
    ok(await dbx(["aggregate", "restore", ...t]), "restore");
    const again = JSON.parse(
      ok(
        await dbx(["aggregate", "apply", ...t, "--event", "late", "--json"]),
        "apply after restore",
      ),
    );
    assert.equal(again.version, 2);
    assert.equal(again.metadata.issued_by.group, "system");
  });
});

Deno.test("proxy: a running server on another data dir does not capture writes", OPTS, async () => {
  await withDataDir(async (running) => {
    await withDataDir(async (other) => {
      await startDaemon(running);
      const r = await dbx([
        "aggregate",
        "apply",
        ...target("note", "n-1", other),
        "--event",
        "written",
        "--json",
      ]);
      assert.equal(JSON.parse(ok(r, "apply elsewhere")).metadata.issued_by.group, "local");
    });
  });
});

/** The staged events of a data dir (the file is sealed with the DEK of its config). */
async function stagedOf(dir: string) {
  const { config } = await loadConfig({ dataDir: dir }, { create: false });
  return await readStaged(dir, dekBytes(config));
}
