/**
 * A write-limited token used by the CLI while no server runs: the command opens the
 * store itself, and the token's write limit must still be exact and survive from one
 * CLI run to the next (each run is a new process). Limit 3: exactly three events are
 * written, a batch that would go over is refused whole, the fourth append fails with one
 * clear line, and nothing beyond the three is stored.
 */
import { assert, assertEquals } from "../_helpers/assert.ts";
import { applyArgs, runDbx as dbx, runDbxOk as ok } from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";

const DEK = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

async function json(dir: string, args: string[]) {
  return JSON.parse(await ok(dir, [...args, "--json"]));
}

Deno.test("offline --token with --limit 3: exactly 3 writes across CLI runs, then a clear refusal", async () => {
  await withTempDir(async (dir) => {
    await ok(dir, ["config", "--dek", DEK()]);
    const token = (await ok(dir, [
      "token",
      "generate",
      "--group",
      "clinic",
      "--user",
      "nurse",
      "--limit",
      "3",
    ])).trim();
    const apply = (id: string, n: number) => [
      ...applyArgs("patient", id, "seen", `n=${n}`),
      "--token",
      token,
    ];

    // Two writes, each in its own CLI process.
    const first = await json(dir, apply("p-1", 1));
    assertEquals(first.metadata.issued_by, { group: "clinic", user: "nurse" });
    await ok(dir, apply("p-1", 2));

    // A staged batch of two needs two writes, only one is left: refused whole.
    await ok(dir, [...applyArgs("order", "o-1", "placed", "total=1"), "--stage"]);
    await ok(dir, [...applyArgs("order", "o-2", "placed", "total=2"), "--stage"]);
    const commit = await dbx(dir, ["aggregate", "commit", "--token", token]);
    assertEquals(commit.code, 1, `commit over the limit: ${commit.stderr}`);
    assert(/write limit of 3/.test(commit.stderr), commit.stderr);
    assertEquals((await json(dir, ["aggregate", "list", "--stage"])).length, 2, "still staged");

    // The third write fits.
    await ok(dir, apply("p-2", 3));

    // The fourth fails with one clear line that does not echo the token.
    const fourth = await dbx(dir, apply("p-3", 4));
    assertEquals(fourth.code, 1, `fourth write: exit ${fourth.code}, ${fourth.stderr}`);
    assert(!fourth.stderr.includes("\n"), `one line: ${fourth.stderr}`);
    assert(/write limit of 3 is reached/.test(fourth.stderr), fourth.stderr);
    assert(!fourth.stderr.includes(token), "the error never echoes the token");

    // Exactly the three writes are stored, all issued by the token's group and user.
    const listed = await json(dir, ["aggregate", "list"]);
    assertEquals(
      listed.map((a: { aggregate_type: string; aggregate_id: string; version: number }) =>
        `${a.aggregate_type}/${a.aggregate_id}@${a.version}`
      ),
      ["patient/p-1@2", "patient/p-2@1"],
    );
    const replay = (id: string) =>
      json(dir, ["aggregate", "replay", "--aggregate", "patient", "--aggregate-id", id]);
    const events = [...(await replay("p-1")), ...(await replay("p-2"))];
    assertEquals(events.map((e: { payload: { n: string } }) => e.payload.n), ["1", "2", "3"]);
    for (const e of events) assertEquals(e.metadata.issued_by, { group: "clinic", user: "nurse" });
    assertEquals(
      events.map((e: { position: number }) => e.position).sort(),
      [1, 2, 3],
      "no position was used by a refused write",
    );

    // The store's counter says the same, so the next run is refused as well.
    const [info] = await json(dir, ["token", "list"]);
    assertEquals([info.used_writes, info.remaining_writes, info.status], [3, 0, "exhausted"]);
  });
});
