/** `dbx token ...` through the real CLI, as a subprocess. */
import assert from "node:assert/strict";
import { aggregateResource, TokenAuthority } from "../../src/auth/authority.ts";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { Engine } from "../../src/engine/engine.ts";
import { type CliResult, dbx, withTempDir } from "./helpers.ts";

const JWT_LINE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/;

function assertFails(result: CliResult, code: number, stderr: RegExp, label: string): void {
  assert.equal(result.code, code, `${label}: exit code (stderr: ${result.stderr})`);
  assert.match(result.stderr, stderr, label);
  assert.equal(
    result.stderr.trim().split("\n").length,
    1,
    `${label}: one-line error: ${result.stderr}`,
  );
  assert.doesNotMatch(result.stderr, /\n\s+at /, `${label}: no stack trace`);
}

Deno.test("cli token: generate, list, refresh and revoke work end to end", async () => {
  await withTempDir(async (dir) => {
    const d = ["--data-dir", dir];
    const gen = await dbx(["token", "generate", "--group", "ops", "--user", "alice", ...d]);
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout, JWT_LINE, "stdout is the token alone on one line");
    const token = gen.stdout.trim();

    const scoped = await dbx([
      "token",
      "generate",
      "--group",
      "audit",
      "--user",
      "carol",
      "--expiration",
      "3600",
      "--limit",
      "5",
      "--keep-alive",
      "--action",
      "aggregate.read",
      "--action",
      "aggregate.append",
      "--resource",
      "aggregate:patient:p-001",
      "--json",
      ...d,
    ]);
    assert.equal(scoped.code, 0, scoped.stderr);
    const scopedInfo = JSON.parse(scoped.stdout);
    assert.match(scopedInfo.token, /^eyJ/);
    assert.equal(scopedInfo.group, "audit");
    assert.equal(scopedInfo.keep_alive, true);
    assert.equal(scopedInfo.limit, 5);
    assert.deepEqual(scopedInfo.actions, ["aggregate.read", "aggregate.append"]);
    assert.deepEqual(scopedInfo.resources, ["aggregate:patient:p-001"]);

    // Spend 2 of carol's writes through the engine, as a server would.
    const { config } = await loadConfig({ dataDir: dir }, { create: false });
    const dek = dekBytes(config);
    const auth = await TokenAuthority.open({ dataDir: dir, dek });
    const engine = await Engine.open({ dataDir: dir, dek });
    try {
      for (let i = 0; i < 2; i++) {
        const who = auth.authorize(
          scopedInfo.token,
          "aggregate.append",
          aggregateResource("patient", "p-001"),
        );
        await engine.append(
          { aggregate_type: "patient", aggregate_id: "p-001", event_type: "seen", payload: { i } },
          { issued_by: who.issued_by, charge: who.charge },
        );
      }
    } finally {
      await engine.close();
      await auth.close();
    }

    const listJson = await dbx(["token", "list", "--json", ...d]);
    assert.equal(listJson.code, 0, listJson.stderr);
    const listed = JSON.parse(listJson.stdout);
    assert.deepEqual(listed.map((t: { user: string }) => t.user), ["alice", "carol"]);
    assert.equal(listed[1].remaining_writes, 3, "remaining writes come from the store");
    assert.ok(!listJson.stdout.includes(token), "list never prints token strings");

    const listText = await dbx(["token", "list", ...d]);
    assert.equal(listText.code, 0, listText.stderr);
    assert.match(listText.stdout, /^ID\s+GROUP\s+USER\s+STATUS\s+EXPIRES\s+WRITES LEFT/);
    assert.match(listText.stdout, /carol\s+active\s+\S+ \(keep-alive\)\s+3\/5/);
    assert.match(listText.stdout, /alice\s+active\s+never\s+unlimited/);

    const refreshed = await dbx([
      "token",
      "refresh",
      "--token",
      scopedInfo.token,
      "--limit",
      "10",
      "--expiration",
      "60",
      ...d,
    ]);
    assert.equal(refreshed.code, 0, refreshed.stderr);
    assert.match(refreshed.stdout, JWT_LINE);
    const refreshedJson = await dbx(["token", "refresh", "--token", scopedInfo.id, "--json", ...d]);
    assert.equal(refreshedJson.code, 0, refreshedJson.stderr);
    const refreshedInfo = JSON.parse(refreshedJson.stdout);
    assert.equal(refreshedInfo.id, scopedInfo.id);
    assert.equal(refreshedInfo.limit, 12, "2 used + 10 granted");
    assert.equal(refreshedInfo.expiration, 60);

    const revoked = await dbx(["token", "revoke", "--token", token, ...d]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /^revoked token [0-9a-f-]{36} \(ops\/alice\)\n$/);
    const revokedById = await dbx(["token", "revoke", "--token", scopedInfo.id, "--json", ...d]);
    assert.equal(revokedById.code, 0, revokedById.stderr);
    assert.equal(JSON.parse(revokedById.stdout).status, "revoked");

    const after = JSON.parse((await dbx(["token", "list", "--json", ...d])).stdout);
    assert.deepEqual(after.map((t: { status: string }) => t.status), ["revoked", "revoked"]);

    const refreshRevoked = await dbx([
      "token",
      "refresh",
      "--token",
      token,
      "--expiration",
      "5",
      ...d,
    ]);
    assertFails(
      refreshRevoked,
      1,
      /^error: token .* is revoked and cannot be refreshed/,
      "refresh revoked",
    );
    assert.ok(!refreshRevoked.stderr.includes(token), "errors never echo the token");
  });
});

Deno.test("cli token: bad input to every token command is refused clearly", async () => {
  await withTempDir(async (dir) => {
    const d = ["--data-dir", dir];
    const gen = (...args: string[]) => dbx(["token", "generate", ...args, ...d]);
    const never = (await gen("--group", "g", "--user", "u")).stdout.trim();
    const cases: [Promise<CliResult>, number, RegExp, string][] = [
      // generate: usage errors exit 2
      [gen("--user", "u"), 2, /required option '--group <name>' not specified/, "missing --group"],
      [gen("--group", "g"), 2, /required option '--user <name>' not specified/, "missing --user"],
      [
        gen("--group", "g", "--user", "u", "--expiration", "abc"),
        2,
        /--expiration.*invalid/,
        "expiration abc",
      ],
      [
        gen("--group", "g", "--user", "u", "--expiration", "0"),
        2,
        /--expiration.*at least 1/,
        "expiration 0",
      ],
      [
        gen("--group", "g", "--user", "u", "--expiration", "-5"),
        2,
        /--expiration/,
        "expiration -5",
      ],
      [
        gen("--group", "g", "--user", "u", "--expiration", "99999999999"),
        2,
        /at most/,
        "expiration huge",
      ],
      [gen("--group", "g", "--user", "u", "--limit", "ten"), 2, /--limit.*invalid/, "limit ten"],
      [
        gen("--group", "g", "--user", "u", "--bogus"),
        2,
        /unknown option '--bogus'/,
        "unknown flag",
      ],
      // generate: semantic errors exit 1
      [gen("--group", "", "--user", "u"), 1, /^error: --group is required/, "empty group"],
      [
        gen("--group", "g", "--user", "u", "--keep-alive"),
        1,
        /--keep-alive needs --expiration/,
        "keep-alive",
      ],
      [
        gen("--group", "g", "--user", "u", "--action", "aggregate.delete"),
        1,
        /unknown action/,
        "action",
      ],
      [
        gen("--group", "g", "--user", "u", "--resource", "patient:1"),
        1,
        /must look like/,
        "resource",
      ],
      // list
      [dbx(["token", "list", "--bogus", ...d]), 2, /unknown option '--bogus'/, "list flag"],
      [
        dbx(["token", "list", "extra", ...d]),
        2,
        /too many arguments|unknown command|excess/,
        "list arg",
      ],
      // revoke
      [dbx(["token", "revoke", ...d]), 2, /required option '--token <value>'/, "revoke no token"],
      [
        dbx(["token", "revoke", "--token", "garbage", ...d]),
        1,
        /^error: the token is malformed$/m,
        "revoke garbage",
      ],
      [
        dbx(["token", "revoke", "--token", "", ...d]),
        1,
        /^error: --token is required/,
        "revoke empty",
      ],
      [
        dbx(["token", "revoke", "--token", "00000000-0000-4000-8000-000000000000", ...d]),
        1,
        /^error: no token with id/,
        "revoke unknown id",
      ],
      [
        dbx(["token", "revoke", "--token", `${never.slice(0, -3)}AAA`, ...d]),
        1,
        /^error: the token (signature is invalid|is malformed)/,
        "revoke tampered",
      ],
      // refresh
      [dbx(["token", "refresh", ...d]), 2, /required option '--token <value>'/, "refresh no token"],
      [
        dbx(["token", "refresh", "--token", never, "--expiration", "x", ...d]),
        2,
        /--expiration/,
        "refresh exp",
      ],
      [
        dbx(["token", "refresh", "--token", never, "--limit", "-1", ...d]),
        2,
        /--limit/,
        "refresh limit",
      ],
      [
        dbx(["token", "refresh", "--token", never, ...d]),
        1,
        /never expires; give --expiration/,
        "refresh nothing",
      ],
      [
        dbx(["token", "refresh", "--token", "junk", "--expiration", "5", ...d]),
        1,
        /^error: the token is malformed/,
        "refresh junk",
      ],
      // the group itself
      [dbx(["token", "frobnicate", ...d]), 2, /unknown command/, "unknown sub-command"],
    ];
    const results = await Promise.all(cases.map(([p]) => p));
    results.forEach((result, i) => {
      const [, code, stderr, label] = cases[i];
      assertFails(result, code, stderr, label);
      assert.equal(result.stdout, "", `${label}: nothing on stdout`);
    });
    // None of the refused generates recorded a token.
    const listed = JSON.parse((await dbx(["token", "list", "--json", ...d])).stdout);
    assert.equal(listed.length, 1);
  });
});

Deno.test("cli token: --help works on every command and states the default scope", async () => {
  const helps = await Promise.all(
    [["token"], ["token", "generate"], ["token", "list"], ["token", "revoke"], ["token", "refresh"]]
      .map((args) => dbx([...args, "--help"])),
  );
  for (const h of helps) assert.equal(h.code, 0, h.stderr);
  assert.match(helps[1].stdout, /Without --action\/--resource the token may do every action/);
  for (const h of helps.slice(1)) {
    assert.match(h.stdout, /--data-dir/);
    assert.match(h.stdout, /--config/);
  }
  assert.match(helps[2].stdout, /--json/);
});
