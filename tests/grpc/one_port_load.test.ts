/**
 * REST, GraphQL and gRPC served on the one port at once, under concurrent load: the real
 * server with all three surfaces on one loopback port (HTTP on the engine's thread, and in a
 * worker isolate), REST and GraphQL clients in this process and a separate Node process
 * making gRPC calls (@grpc/grpc-js), all appending to the same aggregates at the same time
 * (REST and GraphQL commits land between gRPC's first and last). Every append is
 * acknowledged once; positions and each aggregate's versions are gap-free and unique
 * whichever surface wrote them; every surface then reads the same state.
 */
import { defaultConfig } from "../../src/config/defaults.ts";
import {
  appendRequest,
  assert,
  assertEquals,
  expectOk,
  GRPC_TEST_OPTS,
  withGrpcServer,
} from "./_grpc_setup.ts";

const AGGREGATES = 4;
const HTTP_CLIENTS = 8;
const HTTP_ROUNDS = 12;
const GRPC_CALLS = 120;

interface Ack {
  surface: string;
  id: string;
  version: number;
  position: number;
}

for (const httpWorkers of [0, 1]) {
  Deno.test(
    `one port (${
      httpWorkers ? "HTTP in a worker" : "HTTP in-thread"
    }): REST, GraphQL and gRPC appends at once all land, gap-free`,
    GRPC_TEST_OPTS,
    async () => {
      const base = defaultConfig("/");
      await withGrpcServer(async (s) => {
        // All three on the one port.
        const served = s.server.served.filter((x) => x.surface !== "socket");
        assertEquals(served.map((x) => x.surface).sort(), ["graphql", "grpc", "rest"]);
        for (const { url } of served) assertEquals(new URL(url).port, String(s.port), url);

        const token = await s.token({ group: "load", user: "all" });
        const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
        const acks: Ack[] = [];
        // The HTTP clients keep appending until the gRPC process is done too, so that the
        // three surfaces overlap whatever the Node process's start-up takes.
        let grpcDone = false;
        const more = (i: number) => i < HTTP_ROUNDS || !grpcDone;
        const rest = async (n: number) => {
          for (let i = 0; more(i); i++) {
            const response = await fetch(
              `${s.base}/v1/aggregates/load/a-${(n + i) % AGGREGATES}/events`,
              {
                method: "POST",
                headers,
                body: JSON.stringify({ event_type: "rest", payload: { n, i } }),
              },
            );
            const text = await response.text();
            assertEquals(response.status, 201, text);
            const event = JSON.parse(text);
            acks.push({
              surface: "rest",
              id: event.aggregate_id,
              version: event.version,
              position: event.position,
            });
          }
        };
        const graphql = async (n: number) => {
          for (let i = 0; more(i); i++) {
            const response = await fetch(`${s.base}/graphql`, {
              method: "POST",
              headers,
              body: JSON.stringify({
                query:
                  "mutation($i: AppendEventInput!) { appendEvent(input: $i) { aggregateId version position } }",
                variables: {
                  i: {
                    aggregateType: "load",
                    aggregateId: `a-${(n + i) % AGGREGATES}`,
                    eventType: "graphql",
                    payload: { n, i },
                  },
                },
              }),
            });
            const text = await response.text();
            assertEquals(response.status, 200, text);
            const reply = JSON.parse(text);
            assertEquals(reply.errors, undefined, text);
            const event = reply.data.appendEvent;
            acks.push({
              surface: "graphql",
              id: event.aggregateId,
              version: event.version,
              position: event.position,
            });
          }
        };
        const grpc = async () => {
          const requests = Array.from(
            { length: GRPC_CALLS },
            (_, i) => appendRequest("load", `a-${i % AGGREGATES}`, { grpc: i }),
          );
          const [load] = await s.client([
            { load: "AppendEvent", requests, concurrency: 16, token },
          ]).finally(() => grpcDone = true);
          assertEquals(load.failed, [], "no gRPC call failed");
          assertEquals(load.ok, GRPC_CALLS);
          for (const ack of load.acks) {
            acks.push({
              surface: "grpc",
              id: ack.aggregate_id,
              version: ack.version,
              position: ack.position,
            });
          }
        };
        await Promise.all([
          grpc(),
          ...Array.from({ length: HTTP_CLIENTS }, (_, n) => rest(n)),
          ...Array.from({ length: HTTP_CLIENTS }, (_, n) => graphql(n)),
        ]);

        const total = acks.length;
        assert(total >= GRPC_CALLS + 2 * HTTP_CLIENTS * HTTP_ROUNDS, `${total} appends`);
        // The surfaces wrote at the same time: REST and GraphQL appends were committed
        // between the first and the last gRPC append.
        const grpcPositions = acks.filter((a) => a.surface === "grpc").map((a) => a.position);
        const [first, last] = [Math.min(...grpcPositions), Math.max(...grpcPositions)];
        for (const surface of ["rest", "graphql"]) {
          assert(
            acks.some((a) => a.surface === surface && a.position > first && a.position < last),
            `${surface} appends interleave with gRPC's (${first}…${last})`,
          );
        }
        // Every position once, no gaps; per aggregate every version once, no gaps.
        assertEquals(
          acks.map((a) => a.position).sort((a, b) => a - b),
          Array.from({ length: total }, (_, i) => i + 1),
        );
        const byAggregate = Map.groupBy(acks, (a) => a.id);
        assertEquals(byAggregate.size, AGGREGATES);
        for (const [id, events] of byAggregate) {
          const versions = events.map((e) => e.version).sort((a, b) => a - b);
          assertEquals(versions, Array.from({ length: versions.length }, (_, i) => i + 1), id);
        }

        // Each surface reads what all of them wrote.
        for (const [id, events] of byAggregate) {
          const response = await fetch(`${s.base}/v1/aggregates/load/${id}`, { headers });
          const record = await response.json();
          assertEquals(response.status, 200);
          assertEquals(record.version, events.length, `REST ${id}`);
          const [got] = await s.client([{
            call: "GetAggregate",
            token,
            request: { aggregate_type: "load", aggregate_id: id },
          }]);
          assertEquals(
            expectOk(got, "GetAggregate").aggregate.version,
            events.length,
            `gRPC ${id}`,
          );
        }
        const listed = await fetch(`${s.base}/graphql`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            query: '{ aggregates(aggregateType: "load") { aggregateId version } }',
          }),
        }).then((r) => r.json());
        const versions = Object.fromEntries(
          listed.data.aggregates.map((a: { aggregateId: string; version: number }) => [
            a.aggregateId,
            a.version,
          ]),
        );
        for (const [id, events] of byAggregate) {
          assertEquals(versions[id], events.length, `GraphQL ${id}`);
        }
      }, {
        surfaces: ["rest", "graphql", "grpc"],
        config: { server: { ...base.server, http_workers: httpWorkers } },
      });
    },
  );
}
