/**
 * Replication while the local node's server runs (a real `dbx start` daemon): the CLI goes
 * through that server's API, which imports pulled events through its own writer; and a
 * push killed half-way resumes with nothing lost or duplicated.
 */
import { DAEMON_TEST_OPTS, killServer, startDaemon } from "../server/lifecycle_helpers.ts";
import { MAIN } from "../_helpers/cli.ts";
import {
  appendMany,
  assert,
  assertEquals,
  eventsOf,
  pair,
  runDbx,
  runDbxOk,
  withCliNode,
  withLocalApi,
  withServerNode,
} from "./_nodes.ts";

Deno.test({
  name: "pull and push go through the running local server",
  ...DAEMON_TEST_OPTS,
  fn: () =>
    withServerNode((remote) =>
      withCliNode(async (local) => {
        try {
          await withLocalApi(local, (api) => appendMany(api, "order", "o-1", 2));
          await startDaemon(local, ["--port", "0", "--host", "127.0.0.1"]);
          await pair(local, remote);
          await appendMany(remote.api, "patient", "p-1", 3);
          const pulled = JSON.parse(
            await runDbxOk(local, ["pull", "standby", "--aggregate", "patient", "--json"]),
          );
          assertEquals(pulled.events, 3);
          const pushed = JSON.parse(
            await runDbxOk(local, ["push", "standby", "--aggregate", "order", "--json"]),
          );
          assertEquals(pushed.events, 2);
          assertEquals((await eventsOf(remote.api, "order", "o-1")).length, 2);
          // The server imported the pulled events: read them through the CLI (and the server).
          const listed = JSON.parse(
            await runDbxOk(local, [
              "aggregate",
              "get",
              "--aggregate",
              "patient",
              "--aggregate-id",
              "p-1",
              "--json",
            ]),
          );
          const remoteEvents = await eventsOf(remote.api, "patient", "p-1");
          assertEquals(listed.version, 3);
          assertEquals(listed.merkle_root, remoteEvents[2].merkle_root);
          const again = JSON.parse(await runDbxOk(local, ["pull", "standby", "--json"]));
          assertEquals(again.events, 0);
        } finally {
          await killServer(local);
        }
      })
    ),
});

Deno.test("a push killed half-way resumes with nothing lost or duplicated", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      const total = 1500;
      await withLocalApi(local, async (api) => {
        const events = Array.from({ length: total }, (_, i) => ({
          aggregate_type: "ledger",
          aggregate_id: "l-1",
          event_type: "booked",
          payload: { n: i + 1 },
        }));
        for (let i = 0; i < total; i += 500) {
          await api.call("appendEvents", { events: events.slice(i, i + 500) });
        }
      });
      await pair(local, remote);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "push", "standby", "--batch-size", "5", "--data-dir", local],
        env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1" },
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let exited = false;
      const status = child.status.then((s) => {
        exited = true;
        return s;
      });
      // Kill it once some (not necessarily all) batches have arrived.
      let arrived = 0;
      while (arrived === 0 && !exited) {
        arrived = (await eventsOf(remote.api, "ledger", "l-1")).length;
        if (arrived === 0) await new Promise((r) => setTimeout(r, 20));
      }
      try {
        child.kill("SIGKILL");
      } catch { /* it ended already */ }
      const ended = await status;
      assert(arrived > 0, `the push ended before sending anything (exit ${ended.code})`);
      // Batches the remote had received before the kill still commit (each whole, on its
      // own): count once nothing more arrives.
      let before = (await eventsOf(remote.api, "ledger", "l-1")).length;
      for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 300));
        const now = (await eventsOf(remote.api, "ledger", "l-1")).length;
        if (now === before) break;
        before = now;
      }
      assert(before > 0 && before % 5 === 0, `whole batches only (${before})`);

      const resumed = JSON.parse(await runDbxOk(local, ["push", "standby", "--json"]));
      assertEquals(resumed.events, total - before, "only what was missing moves");
      const sent = await withLocalApi(local, async (api) => {
        const out = [];
        for (let skip = 0; skip < total; skip += 1000) {
          out.push(
            ...(await api.call("listEvents", {
              aggregate_type: "ledger",
              aggregate_id: "l-1",
              skip,
              take: 1000,
            })).items,
          );
        }
        return out;
      });
      const got = [];
      for (let skip = 0; skip < total; skip += 1000) {
        got.push(
          ...(await remote.api.call("listEvents", {
            aggregate_type: "ledger",
            aggregate_id: "l-1",
            skip,
            take: 1000,
          })).items,
        );
      }
      assertEquals(got.map((e) => e.metadata.event_id), sent.map((e) => e.metadata.event_id));
      assertEquals(got[total - 1].merkle_root, sent[total - 1].merkle_root);
      const verified = await remote.api.call("verifyAggregate", {
        aggregate_type: "ledger",
        aggregate_id: "l-1",
      });
      assertEquals([verified.verified, verified.version], [true, total]);
      const r = await runDbx(local, ["push", "standby", "--json"]);
      assertEquals(JSON.parse(r.stdout).events, 0);
    })
  );
});
