/**
 * Write limits end to end: the authority hands out the charge, the real engine
 * (RocksDB in a temp dir) enforces it atomically and persists the count.
 */
import assert from "node:assert/strict";
import { aggregateResource, TokenAuthority } from "../../src/auth/authority.ts";
import { Engine } from "../../src/engine/engine.ts";
import { isDbxError } from "../../src/errors.ts";
import { freshDek, withTempDir } from "./helpers.ts";

const resource = aggregateResource("patient", "p-001");

function appendWith(engine: Engine, auth: TokenAuthority, token: string, n: number) {
  const who = auth.authorize(token, "aggregate.append", resource);
  return engine.append(
    {
      aggregate_type: "patient",
      aggregate_id: "p-001",
      event_type: "patient-updated",
      payload: { n },
    },
    { issued_by: who.issued_by, charge: who.charge },
  );
}

Deno.test("limit: 64 concurrent appends with a limit of 10 -> exactly 10, also after restart", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const auth = await TokenAuthority.open({ dataDir: dir, dek });
    let engine = await Engine.open({ dataDir: dir, dek });
    try {
      const { token, info } = await auth.generate({ group: "clinic", user: "dr-who", limit: 10 });
      const results = await Promise.allSettled(
        Array.from({ length: 64 }, (_, n) => appendWith(engine, auth, token, n)),
      );
      const ok = results.filter((r) => r.status === "fulfilled");
      const refused = results.filter((r) => r.status === "rejected");
      assert.equal(ok.length, 10);
      assert.equal(refused.length, 54);
      for (const r of refused) {
        assert.ok(isDbxError(r.reason, "limit_reached"), String(r.reason));
        assert.match(r.reason.message, /write limit of 10/);
      }
      assert.equal(await engine.usedWrites(info.id), 10);

      // Every committed event names the token's group and user.
      const events = await engine.listEvents("patient", "p-001", { take: 100 });
      assert.equal(events.length, 10);
      for (const e of events) {
        assert.deepEqual(e.metadata.issued_by, { group: "clinic", user: "dr-who" });
      }

      // Restart: the count is durable, the token stays exhausted.
      await engine.close();
      engine = await Engine.open({ dataDir: dir, dek });
      await assert.rejects(
        () => appendWith(engine, auth, token, 99),
        (err: unknown) => isDbxError(err, "limit_reached"),
      );
      const [listed] = await auth.list((id) => engine.usedWrites(id));
      assert.equal(listed.used_writes, 10);
      assert.equal(listed.remaining_writes, 0);
      assert.equal(listed.status, "exhausted");

      // refresh --limit 3 grants three more writes from now.
      await auth.refresh(token, { limit: 3 }, (id) => engine.usedWrites(id));
      const again = await Promise.allSettled(
        Array.from({ length: 8 }, (_, n) => appendWith(engine, auth, token, 100 + n)),
      );
      assert.equal(again.filter((r) => r.status === "fulfilled").length, 3);
      assert.equal(await engine.usedWrites(info.id), 13);
    } finally {
      await engine.close();
      await auth.close();
    }
  });
});

Deno.test("limit: separate tokens count separately; unlimited tokens are not charged", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const auth = await TokenAuthority.open({ dataDir: dir, dek });
    const engine = await Engine.open({ dataDir: dir, dek });
    try {
      const a = await auth.generate({ group: "g", user: "a", limit: 2 });
      const b = await auth.generate({ group: "g", user: "b", limit: 3 });
      const free = await auth.generate({ group: "g", user: "free" });
      const run = (token: string, n: number) =>
        Promise.allSettled(Array.from({ length: n }, (_, i) => appendWith(engine, auth, token, i)));
      const [ra, rb, rf] = await Promise.all([
        run(a.token, 5),
        run(b.token, 5),
        run(free.token, 5),
      ]);
      const count = (rs: PromiseSettledResult<unknown>[]) =>
        rs.filter((r) => r.status === "fulfilled").length;
      assert.deepEqual([count(ra), count(rb), count(rf)], [2, 3, 5]);
      assert.equal(await engine.usedWrites(free.info.id), 0);
    } finally {
      await engine.close();
      await auth.close();
    }
  });
});
