/**
 * While a daemon runs, `dbx schema` and `dbx token` changes go through its REST API:
 * the server applies them at once, and the caller's token (EVENTDBX_TOKEN, else a
 * minted one) is checked by the server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
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

async function getJson(url: string, token: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}

Deno.test("proxy: schema changes go through the server and take effect at once", OPTS, async () => {
  await withDataDir(async (dir) => {
    const d = ["--data-dir", dir];
    const admin = await generateToken(dir, ["--group", "ops", "--user", "alice"]);
    await startDaemon(dir, ["--restrict=strict"]);
    const base = await serverUrlOf(dir);
    const apply = (event: string, fields: string[] = []) =>
      dbx([
        "aggregate",
        "apply",
        "--aggregate",
        "patient",
        "--aggregate-id",
        "p-1",
        "--event",
        event,
        ...fields.flatMap((f) => ["--field", f]),
        ...d,
      ]);

    fails(await apply("patient-added"), 1, /schema/, "strict mode without a schema");

    ok(
      await dbx(["schema", "create", "patient", "--events", "patient-added,patient-updated", ...d]),
      "schema create",
    );
    // The server validates with it immediately: its own store was changed.
    ok(await apply("patient-added", ["name=Jane"]), "apply after schema create");
    const shown = await getJson(`${base}/v1/schemas/patient`, admin);
    assert.equal(shown.status, 200);
    assert.deepEqual(
      Object.keys((shown.body as { events: object }).events).sort(),
      ["patient-added", "patient-updated"],
    );

    ok(await dbx(["schema", "add", "patient", "--events", "patient-moved", ...d]), "schema add");
    ok(await apply("patient-moved"), "apply a newly added event");
    ok(await dbx(["schema", "remove", "patient", "patient-moved", ...d]), "schema remove");
    fails(await apply("patient-moved"), 1, /patient-moved/, "removed event refused at once");

    ok(
      await dbx(["schema", "annotate", "patient", "patient-added", "--note", "first visit", ...d]),
      "annotate",
    );
    ok(
      await dbx([
        "schema",
        "alter",
        "patient",
        "--event",
        "patient-updated",
        "--add",
        "name",
        ...d,
      ]),
      "alter",
    );
    fails(
      await apply("patient-updated", ["age=3"]),
      1,
      /age/,
      "alter applies at once (age is not a permitted field)",
    );
    const after = (await getJson(`${base}/v1/schemas/patient`, admin)).body as {
      events: Record<string, { fields: string[]; notes?: string }>;
    };
    assert.equal(after.events["patient-added"].notes, "first visit");
    assert.deepEqual(after.events["patient-updated"].fields, ["name"]);

    // load (import) and delete.
    const file = join(dir, "..", "schemas.json");
    await Deno.writeTextFile(
      file,
      JSON.stringify([{ aggregate: "order", events: { placed: { fields: [] } } }]),
    );
    ok(await dbx(["schema", "load", file, ...d]), "schema load");
    assert.equal((await getJson(`${base}/v1/schemas/order`, admin)).status, 200);
    ok(await dbx(["schema", "delete", "order", ...d]), "schema delete");
    assert.equal((await getJson(`${base}/v1/schemas/order`, admin)).status, 404);

    // Reads stay local and work while the server runs.
    const listed = JSON.parse(ok(await dbx(["schema", "list", "--json", ...d]), "schema list"));
    assert.deepEqual(listed.map((s: { aggregate: string }) => s.aggregate), ["patient"]);

    // The server checks the caller's token: a read-only one may not change schemas.
    const reader = await generateToken(dir, [
      "--group",
      "audit",
      "--user",
      "carol",
      "--action",
      "schema.read",
    ]);
    fails(
      await dbx(["schema", "add", "patient", "--events", "patient-left", ...d], {
        env: { EVENTDBX_TOKEN: reader },
      }),
      1,
      /does not permit schema\.write on schema:patient/,
      "schema add with a read-only token",
    );
  });
});

Deno.test("proxy: token generate, revoke and refresh go through the server", OPTS, async () => {
  await withDataDir(async (dir) => {
    const d = ["--data-dir", dir];
    await startDaemon(dir);
    const base = await serverUrlOf(dir);

    // Minted credentials: the new token works against the server at once.
    const token = ok(
      await dbx(["token", "generate", "--group", "ops", "--user", "alice", ...d]),
      "generate",
    ).trim();
    assert.equal((await getJson(`${base}/v1/aggregates`, token)).status, 200);

    const scoped = JSON.parse(ok(
      await dbx([
        "token",
        "generate",
        "--group",
        "audit",
        "--user",
        "carol",
        "--expiration",
        "600",
        "--action",
        "aggregate.read",
        "--json",
        ...d,
      ]),
      "generate --json",
    ));
    assert.equal(scoped.group, "audit");
    assert.deepEqual(scoped.actions, ["aggregate.read"]);

    // A caller without token.manage is refused by the server.
    fails(
      await dbx(["token", "generate", "--group", "x", "--user", "y", ...d], {
        env: { EVENTDBX_TOKEN: scoped.token },
      }),
      1,
      /does not permit token\.manage/,
      "generate with an auditor's token",
    );

    const refreshed = ok(
      await dbx(["token", "refresh", "--token", scoped.token, "--expiration", "1200", ...d]),
      "refresh",
    ).trim();
    assert.match(refreshed, /^eyJ/);
    assert.equal((await getJson(`${base}/v1/aggregates`, refreshed)).status, 200);

    const listed = JSON.parse(ok(await dbx(["token", "list", "--json", ...d]), "list"));
    assert.equal(listed.length, 2);

    const revoked = ok(await dbx(["token", "revoke", "--token", token, "--json", ...d]), "revoke");
    assert.equal(JSON.parse(revoked).status, "revoked");
    const refused = await getJson(`${base}/v1/aggregates`, token);
    assert.equal(refused.status, 401, "revoked token refused at once");
  });
});
