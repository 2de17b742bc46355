/**
 * Push and pull between two nodes on loopback, through the real CLI and a real server:
 * events arrive with their original ids, times, issuers, hashes and roots under the
 * receiver's own positions and DEK; a second run moves nothing; dry runs write nothing;
 * filters narrow what moves; a diverged aggregate is refused naming both roots.
 */
import {
  appendMany,
  assert,
  assertEquals,
  eventsOf,
  pair,
  runDbx,
  withCliNode,
  withLocalApi,
  withServerNode,
} from "./_nodes.ts";

/** Pin each node's key on the other. */

/** `dbx push|pull … --json`, parsed; exit code checked. */
async function transferJson(dir: string, args: string[], code = 0) {
  const r = await runDbx(dir, [...args, "--json"]);
  assertEquals(r.code, code, `dbx ${args.join(" ")}: ${r.stderr}`);
  return { summary: JSON.parse(r.stdout), stderr: r.stderr };
}

Deno.test("push copies every event with its metadata, hash and root; a second push moves nothing", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      await withLocalApi(local, async (api) => {
        await appendMany(api, "patient", "p-1", 3);
        await appendMany(api, "order", "o-1", 2);
        // A position on the receiver must not depend on the sender's: shift the sender's.
        await appendMany(api, "noise", "n-1", 1);
      });
      await appendMany(remote.api, "other", "x-1", 4); // receiver positions 1..4 are taken
      await pair(local, remote);

      const first = await transferJson(local, [
        "push",
        "standby",
        "--aggregate",
        "patient",
        "--aggregate",
        "order",
      ]);
      assertEquals(first.summary.events, 5);
      assertEquals(first.summary.moved_aggregates, 2);
      assertEquals(first.summary.diverged, []);

      const sent = await withLocalApi(local, async (api) => ({
        patient: await eventsOf(api, "patient", "p-1"),
        order: await eventsOf(api, "order", "o-1"),
      }));
      const got = {
        patient: await eventsOf(remote.api, "patient", "p-1"),
        order: await eventsOf(remote.api, "order", "o-1"),
      };
      for (const kind of ["patient", "order"] as const) {
        assertEquals(got[kind].length, sent[kind].length);
        for (const [i, e] of sent[kind].entries()) {
          const { position: _p, ...original } = e;
          const { position, ...copy } = got[kind][i];
          assertEquals(copy, original, `${kind} v${e.version} is copied exactly`);
          assert(position > 4, "the receiver assigns its own positions");
        }
      }
      assertEquals(await eventsOf(remote.api, "noise", "n-1"), [], "filters hold");
      const verified = await remote.api.call("verifyAggregate", {
        aggregate_type: "patient",
        aggregate_id: "p-1",
      });
      assertEquals(verified.verified, true);

      const second = await transferJson(local, ["push", "standby"]);
      assertEquals(second.summary.events, 1, "only the aggregate left out before moves");
      const third = await transferJson(local, ["push", "standby"]);
      assertEquals(third.summary.events, 0);
      assertEquals(third.summary.up_to_date, 3);
    })
  );
});

Deno.test("push --dry-run reports what would move and writes nothing; --aggregate-id narrows", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      await withLocalApi(local, async (api) => {
        await appendMany(api, "patient", "p-1", 2);
        await appendMany(api, "patient", "p-2", 3);
      });
      await pair(local, remote);
      const dry = await transferJson(local, ["push", "standby", "--dry-run"]);
      assertEquals(dry.summary.dry_run, true);
      assertEquals(dry.summary.events, 5);
      assertEquals(await eventsOf(remote.api, "patient", "p-1"), []);

      const one = await transferJson(local, [
        "push",
        "standby",
        "--aggregate-id",
        "patient:p-2",
        "--batch-size",
        "2",
      ]);
      assertEquals(one.summary.events, 3);
      assertEquals((await eventsOf(remote.api, "patient", "p-2")).length, 3);
      assertEquals(await eventsOf(remote.api, "patient", "p-1"), []);
    })
  );
});

Deno.test("pull fast-forwards the local node, resuming from what it has", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      await appendMany(remote.api, "patient", "p-1", 4);
      await appendMany(remote.api, "order", "o-1", 1);
      await pair(local, remote);
      const first = await transferJson(local, ["pull", "standby", "--batch-size", "3"]);
      assertEquals(first.summary.events, 5);
      await appendMany(remote.api, "patient", "p-1", 2, 5);
      const second = await transferJson(local, ["pull", "standby"]);
      assertEquals(second.summary.events, 2, "only the new events move");
      const again = await transferJson(local, ["pull", "standby"]);
      assertEquals(again.summary.events, 0);
      const remoteEvents = await eventsOf(remote.api, "patient", "p-1");
      await withLocalApi(local, async (api) => {
        const mine = await eventsOf(api, "patient", "p-1");
        assertEquals(mine.map((e) => e.hash), remoteEvents.map((e) => e.hash));
        const verified = await api.call("verifyAggregate", {
          aggregate_type: "patient",
          aggregate_id: "p-1",
        });
        assertEquals(verified.verified, true);
        assertEquals(verified.merkle_root, remoteEvents[5].merkle_root);
      });
      // The two nodes do not share a DEK, and each reads its own store.
      const { config } = await (await import("../../src/config/mod.ts")).loadConfig(
        { dataDir: local },
        { create: false },
      );
      assert(config.dek !== remote.config.dek, "the nodes have different DEKs");
    })
  );
});

Deno.test("a diverged aggregate is refused naming both roots; others still move", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      await withLocalApi(local, async (api) => {
        await appendMany(api, "patient", "p-1", 2);
        await appendMany(api, "order", "o-1", 1);
      });
      await pair(local, remote);
      await transferJson(local, ["push", "standby", "--aggregate", "patient"]);
      // Both sides now write version 3 of patient/p-1, differently.
      await appendMany(remote.api, "patient", "p-1", 1, 100);
      await withLocalApi(local, (api) => appendMany(api, "patient", "p-1", 1, 200));
      const remoteBefore = await eventsOf(remote.api, "patient", "p-1");
      const localRoot = await withLocalApi(
        local,
        async (api) => (await eventsOf(api, "patient", "p-1"))[2].merkle_root,
      );

      const dry = await transferJson(local, ["push", "standby", "--dry-run"], 1);
      assertEquals(dry.summary.diverged.length, 1);
      const pushed = await transferJson(local, ["push", "standby"], 1);
      const [d] = pushed.summary.diverged;
      assertEquals([d.aggregate_type, d.aggregate_id], ["patient", "p-1"]);
      assert(pushed.stderr.includes("patient/p-1"), pushed.stderr);
      assert(pushed.stderr.includes(localRoot), "the message names the local root");
      assert(pushed.stderr.includes(remoteBefore[2].merkle_root), "and the remote root");
      assertEquals(pushed.summary.events, 1, "order/o-1 still moved");
      assertEquals(await eventsOf(remote.api, "patient", "p-1"), remoteBefore);

      // Pulling is refused the same way (the remote's history is not a continuation).
      const pulled = await transferJson(local, ["pull", "standby", "--aggregate", "patient"], 1);
      assertEquals(pulled.summary.diverged.length, 1);
    })
  );
});

Deno.test("--schema copies schemas with the events, --schema-only without; once", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      await withLocalApi(local, async (api) => {
        await api.call("createSchema", { aggregate: "patient", events: ["changed"] });
        await api.call("createSchema", { aggregate: "order", events: ["changed"] });
        await appendMany(api, "patient", "p-1", 2);
      });
      await pair(local, remote);
      const only = await transferJson(local, [
        "push",
        "standby",
        "--schema-only",
        "--aggregate",
        "patient",
      ]);
      assertEquals([only.summary.schemas, only.summary.events], [1, 0]);
      assertEquals(await eventsOf(remote.api, "patient", "p-1"), [], "no events moved");
      const mine = await withLocalApi(local, (api) =>
        api.call("getSchema", { aggregate: "patient" }));
      assertEquals(await remote.api.call("getSchema", { aggregate: "patient" }), mine);
      assertEquals(
        (await remote.api.call("listSchemas", {})).map((s) =>
          s.aggregate
        ),
        ["patient"],
      );

      const both = await transferJson(local, ["push", "standby", "--schema"]);
      assertEquals([both.summary.schemas, both.summary.events], [1, 2]);
      const again = await transferJson(local, ["push", "standby", "--schema"]);
      assertEquals([again.summary.schemas, again.summary.events], [0, 0]);
    })
  );
});
