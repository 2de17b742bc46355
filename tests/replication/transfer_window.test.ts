/**
 * The transfer keeps several imports in flight (src/replication/transfer.ts). Batches of one
 * aggregate that reach the sink's writer out of order (as over several connections to a
 * running server) must still all land, in order, with nothing reported as refused; and a
 * batch really refused stays refused while the batches behind it are not reported again.
 * Two real nodes in this process; the sink's imports are only delayed, never altered.
 */
import { transfer } from "../../src/replication/transfer.ts";
import { apiSide, type ReplicationSide } from "../../src/replication/requests.ts";
import { assert, assertEquals, eventsOf, withCliNode, withLocalApi } from "./_nodes.ts";

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("imports reaching the sink out of order still all land, in order", () =>
  withCliNode((sourceDir) =>
    withCliNode((sinkDir) =>
      withLocalApi(sourceDir, (sourceApi) =>
        withLocalApi(sinkDir, async (sinkApi) => {
          const events = Array.from({ length: 120 }, (_, i) => ({
            aggregate_type: "order",
            aggregate_id: "o-1",
            event_type: "changed",
            payload: { n: i + 1 },
          }));
          for (let i = 0; i < events.length; i += 40) {
            await sourceApi.call("appendEvents", { events: events.slice(i, i + 40) });
          }
          const real = apiSide(sinkApi);
          let calls = 0;
          // Every other import waits, so the one after it reaches the writer first.
          const sink: ReplicationSide = {
            ...real,
            importEvents: async (input) => {
              if (calls++ % 2 === 0) await delay(30);
              return real.importEvents(input);
            },
          };
          const summary = await transfer({
            source: apiSide(sourceApi),
            sink,
            sourceName: "source",
            sinkName: "sink",
            batchSize: 10,
          });
          assertEquals(summary.failed, []);
          assertEquals(summary.events, 120);
          assert(calls > 12, "some batches were sent again after arriving out of order");
          const copied = await eventsOf(sinkApi, "order", "o-1");
          const original = await eventsOf(sourceApi, "order", "o-1");
          assertEquals(copied.map((e) => e.merkle_root), original.map((e) => e.merkle_root));
        }))
    )
  ));
