/**
 * GraphQL on the shared HTTP port: `/graphql*` goes to GraphQL, everything else to REST,
 * each only when `--api` serves it (REST off keeps `GET /health`; GraphQL off makes
 * `/graphql` a 404), in both HTTP modes; the server lists what it serves where; REST and
 * GraphQL appends under concurrent load on the one port all land, gap-free.
 */
import { isGraphqlUrl } from "../../src/server/http_handler.ts";
import { assert, assertEquals, MODES, SERVER_TEST, withGraphqlServer } from "./_setup.ts";

Deno.test("http handler: only /graphql and below go to GraphQL", () => {
  const base = "http://127.0.0.1:7070";
  for (
    const path of ["/graphql", "/graphql?query=x", "/graphql/", "/graphql/playground", "/graphql#x"]
  ) {
    assert(isGraphqlUrl(`${base}${path}`), path);
  }
  for (const path of ["/", "/graphqlx", "/v1/graphql", "/graph", "/health", "/GRAPHQL"]) {
    assert(!isGraphqlUrl(`${base}${path}`), path);
  }
  assert(isGraphqlUrl("http://[::1]:7070/graphql"));
});

/** What the HTTP port serves (the control socket is always on, on its own port). */
function httpServed<T extends { surface: string }>(served: readonly T[]): T[] {
  return served.filter((x) => x.surface !== "socket");
}

for (const mode of MODES) {
  Deno.test(
    `mounting (${mode.label}): GraphQL alone; REST's routes are 404 but /health stays`,
    SERVER_TEST,
    async () => {
      await withGraphqlServer(async (s) => {
        assertEquals(httpServed(s.server.served), [{
          surface: "graphql",
          url: `${s.base}/graphql`,
        }]);
        const health = await s.send("/health", { token: null });
        assertEquals([health.status, health.json], [200, { status: "ok" }]);
        for (const path of ["/v1/aggregates", "/openapi.json", "/v1/events"]) {
          const reply = await s.send(path);
          assertEquals(reply.status, 404, path);
          assertEquals(reply.json.code, "not_found");
        }
        const reply = await s.gql("{ __typename }");
        assertEquals(reply.json.data, { __typename: "Query" });
        assertEquals((await s.send("/graphql", { token: null })).status, 200, "the playground");
      }, { workers: mode.workers, surfaces: ["graphql"] });
    },
  );
}

Deno.test("mounting: REST alone; /graphql is 404", SERVER_TEST, async () => {
  await withGraphqlServer(async (s) => {
    assertEquals(httpServed(s.server.served), [{ surface: "rest", url: `${s.base}/v1` }]);
    for (const path of ["/graphql", "/graphql/playground", "/graphql/assets/graphiql.min.js"]) {
      const reply = await s.send(path);
      assertEquals(reply.status, 404, path);
      assertEquals(reply.json.code, "not_found");
    }
    const post = await s.gql("{ __typename }");
    assertEquals(post.status, 404);
    assertEquals((await s.send("/v1/aggregates")).status, 200);
  }, { surfaces: ["rest"] });
});

for (const mode of MODES) {
  Deno.test(
    `mounting (${mode.label}): REST and GraphQL appends at once on one port all land, gap-free`,
    SERVER_TEST,
    async () => {
      await withGraphqlServer(async (s) => {
        assertEquals(httpServed(s.server.served).map((x) => x.surface), ["rest", "graphql"]);
        const CLIENTS = 12;
        const ROUNDS = 10;
        const acked: { id: string; version: number; position: number }[] = [];
        const rest = async (n: number) => {
          for (let i = 0; i < ROUNDS; i++) {
            const reply = await s.send(`/v1/aggregates/load/a-${n % 4}/events`, {
              body: { event_type: "rest", payload: { n, i } },
            });
            assertEquals(reply.status, 201, reply.text);
            acked.push({
              id: reply.json.aggregate_id,
              version: reply.json.version,
              position: reply.json.position,
            });
          }
        };
        const graphql = async (n: number) => {
          for (let i = 0; i < ROUNDS; i++) {
            const reply = await s.gql(
              "mutation($i: AppendEventInput!) { appendEvent(input: $i) { aggregateId version position } }",
              {
                i: {
                  aggregateType: "load",
                  aggregateId: `a-${n % 4}`,
                  eventType: "graphql",
                  payload: { n, i },
                },
              },
            );
            assertEquals(reply.json.errors, undefined, reply.text);
            const e = reply.json.data.appendEvent;
            acked.push({ id: e.aggregateId, version: e.version, position: e.position });
          }
        };
        await Promise.all([
          ...Array.from({ length: CLIENTS }, (_, n) => rest(n)),
          ...Array.from({ length: CLIENTS }, (_, n) => graphql(n)),
        ]);
        const total = CLIENTS * ROUNDS * 2;
        assertEquals(acked.length, total);
        // Every position once, no gaps; per aggregate every version once, no gaps.
        assertEquals(
          acked.map((a) => a.position).sort((a, b) => a - b),
          Array.from({ length: total }, (_, i) => i + 1),
        );
        const byAggregate = Map.groupBy(acked, (a) => a.id);
        for (const [id, events] of byAggregate) {
          const versions = events.map((e) => e.version).sort((a, b) => a - b);
          assertEquals(versions, Array.from({ length: versions.length }, (_, i) => i + 1), id);
        }
        // What GraphQL reads is what was written, through either surface.
        const listed = await s.gql('{ aggregates(aggregateType: "load") { aggregateId version } }');
        const versions = Object.fromEntries(
          listed.json.data.aggregates.map((
            a: { aggregateId: string; version: number },
          ) => [a.aggregateId, a.version]),
        );
        for (const [id, events] of byAggregate) assertEquals(versions[id], events.length, id);
      }, { workers: mode.workers });
    },
  );
}
