/**
 * Every GraphQL field and both mutations against the real server, in both HTTP modes (on
 * the engine's thread and in a worker isolate): a good token gets the data; no token, a
 * malformed, foreign, revoked or expired token gets 401 with UNAUTHENTICATED and no data
 * (and writes nothing); a scoped token gets exactly what its scope names, FORBIDDEN for
 * the rest, field by field.
 */
import { foreignToken } from "../server/_rest_setup.ts";
import {
  assert,
  assertEquals,
  codes,
  expectErrors,
  type GraphqlServer,
  MODES,
  type Reply,
  SERVER_TEST,
  withGraphqlServer,
} from "./_setup.ts";

interface FieldCase {
  name: string;
  query: string;
  variables?: () => Record<string, unknown>;
  /** Checks the data a good token gets. */
  // deno-lint-ignore no-explicit-any
  check(data: any): void;
  /** True for mutations: a refused one must have written nothing. */
  writes?: boolean;
}

let appended = 0;
const CASES: FieldCase[] = [
  {
    name: "aggregates",
    query: "{ aggregates { aggregateType aggregateId version archived merkleRoot state } }",
    check(data) {
      const ids = data.aggregates.map((a: { aggregateId: string }) => a.aggregateId).sort();
      assert(ids.includes("p-1") && ids.includes("p-2"), `listed ${ids}`);
      const one = data.aggregates.find((a: { aggregateId: string }) => a.aggregateId === "p-1");
      assertEquals(one.aggregateType, "patient");
      assertEquals(one.state.name, "Jane");
      assert(/^[0-9a-f]{64}$/.test(one.merkleRoot));
    },
  },
  {
    name: "aggregates (paged, by type)",
    query: '{ aggregates(skip: 1, take: 1, aggregateType: "patient") { aggregateId } }',
    check(data) {
      assertEquals(data.aggregates.length, 1);
    },
  },
  {
    name: "aggregate",
    query: `{ aggregate(aggregateType: "patient", aggregateId: "p-1") {
      aggregateType aggregateId version state merkleRoot archived createdAt updatedAt } }`,
    check(data) {
      assertEquals(data.aggregate.aggregateId, "p-1");
      assert(data.aggregate.version >= 2);
      assertEquals(data.aggregate.state.name, "Jane");
      assertEquals(data.aggregate.archived, false);
      assert(!Number.isNaN(Date.parse(data.aggregate.createdAt)));
    },
  },
  {
    name: "aggregate at a version",
    query:
      '{ aggregate(aggregateType: "patient", aggregateId: "p-1", version: 1) { version state } }',
    check(data) {
      assertEquals(data.aggregate.version, 1);
      assertEquals(data.aggregate.state, { name: "Jane" });
    },
  },
  {
    name: "aggregateEvents",
    query: `{ aggregateEvents(aggregateType: "patient", aggregateId: "p-1", skip: 0, take: 1) {
      aggregateType aggregateId eventType payload version hash merkleRoot position
      metadata { eventId createdAt note issuedBy { group user } } } }`,
    check(data) {
      assertEquals(data.aggregateEvents.length, 1);
      const [event] = data.aggregateEvents;
      assertEquals(event.version, 1);
      assertEquals(event.eventType, "patient-added");
      assertEquals(event.payload, { name: "Jane" });
      assert(/^[0-9a-f]{64}$/.test(event.hash));
      assert(event.position >= 1);
      assertEquals(event.metadata.issuedBy, { group: "local", user: "test" });
    },
  },
  {
    name: "verifyAggregate",
    query: `{ verifyAggregate(aggregateType: "patient", aggregateId: "p-1") {
      aggregateType aggregateId version merkleRoot verified firstBadVersion reason } }`,
    check(data) {
      assertEquals(data.verifyAggregate.verified, true);
      assertEquals(data.verifyAggregate.firstBadVersion, null);
      assert(/^[0-9a-f]{64}$/.test(data.verifyAggregate.merkleRoot));
    },
  },
  {
    name: "schemas",
    query:
      "{ schemas { aggregate events { name fields notes } locked fieldLocks columns { field type } snapshotThreshold createdAt updatedAt } }",
    check(data) {
      const names = data.schemas.map((s: { aggregate: string }) => s.aggregate).sort();
      assertEquals(names, ["other", "patient"]);
    },
  },
  {
    name: "schema",
    query: '{ schema(aggregate: "patient") { aggregate events { name } locked } }',
    check(data) {
      assertEquals(data.schema.aggregate, "patient");
      assertEquals(
        data.schema.events.map((e: { name: string }) => e.name).sort(),
        ["patient-added", "patient-updated"],
      );
    },
  },
  {
    name: "appendEvent",
    writes: true,
    query: `mutation Append($input: AppendEventInput!) {
      appendEvent(input: $input) { aggregateId eventType version payload metadata { note issuedBy { group } } } }`,
    variables: () => ({
      input: {
        aggregateType: "patient",
        aggregateId: "p-1",
        eventType: "patient-updated",
        payload: { status: `s-${++appended}` },
        note: "from graphql",
      },
    }),
    check(data) {
      assertEquals(data.appendEvent.aggregateId, "p-1");
      assertEquals(data.appendEvent.metadata.note, "from graphql");
      assert(data.appendEvent.metadata.issuedBy.group.length > 0);
    },
  },
  {
    name: "appendEvents",
    writes: true,
    query: `mutation Batch($events: [AppendEventInput!]!) {
      appendEvents(events: $events) { aggregateId version } }`,
    variables: () => ({
      events: [
        {
          aggregateType: "patient",
          aggregateId: "p-1",
          eventType: "patient-updated",
          payload: { n: ++appended },
        },
        {
          aggregateType: "patient",
          aggregateId: "p-2",
          eventType: "patient-updated",
          payload: { n: appended },
        },
      ],
    }),
    check(data) {
      assertEquals(data.appendEvents.map((e: { aggregateId: string }) => e.aggregateId), [
        "p-1",
        "p-2",
      ]);
    },
  },
  {
    name: "introspection",
    query: "{ __schema { queryType { name } mutationType { name } types { name } } }",
    check(data) {
      assertEquals(data.__schema.queryType.name, "Query");
      assertEquals(data.__schema.mutationType.name, "Mutation");
      assert(data.__schema.types.some((t: { name: string }) => t.name === "JSON"));
    },
  },
  {
    name: "__typename",
    query: "{ __typename }",
    check(data) {
      assertEquals(data, { __typename: "Query" });
    },
  },
];

/** Store the fixtures: two patients, two schemas. */
async function setUp(s: GraphqlServer): Promise<void> {
  const local = { kind: "local" as const, user: "test" };
  await s.server.api.call(local, "createSchema", {
    aggregate: "patient",
    events: ["patient-added", "patient-updated"],
  });
  await s.server.api.call(local, "createSchema", { aggregate: "other", events: ["x"] });
  await s.seed("patient", "p-1", { name: "Jane" }, "patient-added");
  await s.seed("patient", "p-1", { status: "new" }, "patient-updated");
  await s.seed("patient", "p-2", { name: "John" }, "patient-added");
}

/** Every event of the store, as a count: what a refused mutation must leave unchanged. */
async function eventCount(s: GraphqlServer): Promise<number> {
  const local = { kind: "local" as const, user: "test" };
  let total = 0;
  for (const id of ["p-1", "p-2"]) {
    total += (await s.server.api.call(local, "getAggregate", {
      aggregate_type: "patient",
      aggregate_id: id,
    })).version;
  }
  return total;
}

function run(s: GraphqlServer, c: FieldCase, token: string | null): Promise<Reply> {
  return s.gql(c.query, c.variables?.(), { token });
}

function expectData(reply: Reply, c: FieldCase): void {
  assertEquals(reply.status, 200, `${c.name}: ${reply.text}`);
  assertEquals(reply.json.errors, undefined, `${c.name}: ${reply.text}`);
  assert(reply.headers.get("content-type")?.startsWith("application/json"));
  c.check(reply.json.data);
}

/** 401, UNAUTHENTICATED, no data, nothing written. */
async function expectRefused(
  s: GraphqlServer,
  c: FieldCase,
  token: string | null,
  part: string,
): Promise<void> {
  const before = c.writes ? await eventCount(s) : 0;
  const reply = await run(s, c, token);
  expectErrors(reply, 401, "UNAUTHENTICATED", part);
  assertEquals(reply.json.data, undefined, `${c.name}: no data for a bad token`);
  assertEquals(reply.headers.get("www-authenticate"), 'Bearer realm="eventdbx"');
  if (c.writes) assertEquals(await eventCount(s), before, `${c.name} wrote nothing`);
}

for (const mode of MODES) {
  Deno.test(
    `graphql (${mode.label}): every field and mutation with good, missing, malformed, foreign, revoked and expired tokens`,
    SERVER_TEST,
    async () => {
      await withGraphqlServer(async (s) => {
        assertEquals(s.workers, mode.workers);
        await setUp(s);
        const foreign = await foreignToken();
        const revoked = await s.token();
        await (await s.server.node.tokens()).revoke(revoked);
        const expiring = await s.token({ expiration: 1 });
        const [head, payload, signature] = s.admin.split(".");
        const tampered = `${head}.${payload}.${signature.slice(0, -4)}AAAA`;
        for (const c of CASES) {
          expectData(await run(s, c, s.admin), c);
          // The expiring token works until it expires.
          expectData(await run(s, c, expiring), c);
          await expectRefused(s, c, null, "token is required");
          await expectRefused(s, c, "not-a-jwt", "malformed");
          await expectRefused(s, c, tampered, "");
          await expectRefused(s, c, foreign, "");
          await expectRefused(s, c, revoked, "revoked");
        }
        // Wait for the one-second token to expire (the server's clock is the real one).
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        for (const c of CASES) await expectRefused(s, c, expiring, "expired");
        // Other Authorization schemes are refused the same way.
        const basic = await s.gql("{ __typename }", undefined, {
          token: null,
          headers: { authorization: "Basic dXNlcjpwYXNz" },
        });
        expectErrors(basic, 401, "UNAUTHENTICATED", "Bearer");
      }, { workers: mode.workers });
    },
  );
}

Deno.test(
  "graphql: a scoped token gets exactly its scope, field by field",
  SERVER_TEST,
  async () => {
    await withGraphqlServer(async (s) => {
      await setUp(s);
      const auditor = await s.token({
        group: "audit",
        user: "carol",
        actions: ["aggregate.read", "schema.read"],
        resources: ["aggregate:patient:p-1", "schema:patient"],
      });
      const gql = (query: string, variables?: Record<string, unknown>) =>
        s.gql(query, variables, { token: auditor });

      // Listings are filtered to the scope.
      const list = await gql("{ aggregates { aggregateId } }");
      assertEquals(list.status, 200);
      assertEquals(list.json.data.aggregates, [{ aggregateId: "p-1" }]);
      const schemas = await gql("{ schemas { aggregate } }");
      assertEquals(schemas.json.data.schemas, [{ aggregate: "patient" }]);

      // In scope: data; out of scope: FORBIDDEN for that field, 200 overall.
      const reads: [string, string][] = [
        ["aggregate", '{ x: aggregate(aggregateType: "patient", aggregateId: "ID") { version } }'],
        [
          "aggregateEvents",
          '{ x: aggregateEvents(aggregateType: "patient", aggregateId: "ID") { version } }',
        ],
        [
          "verifyAggregate",
          '{ x: verifyAggregate(aggregateType: "patient", aggregateId: "ID") { verified } }',
        ],
      ];
      for (const [name, query] of reads) {
        const ok = await gql(query.replace("ID", "p-1"));
        assertEquals(ok.status, 200, `${name} in scope: ${ok.text}`);
        assertEquals(ok.json.errors, undefined, `${name} in scope: ${ok.text}`);
        assert(ok.json.data.x !== null);
        const refused = await gql(query.replace("ID", "p-2"));
        expectErrors(refused, 200, "FORBIDDEN", "aggregate.read");
        // Only aggregate may be null: the others' refusal nulls the whole data.
        assertEquals(refused.json.data, name === "aggregate" ? { x: null } : null);
        assertEquals(refused.json.errors[0].path, ["x"]);
      }
      const schemaOk = await gql('{ schema(aggregate: "patient") { aggregate } }');
      assertEquals(schemaOk.json.data.schema.aggregate, "patient");
      expectErrors(await gql('{ schema(aggregate: "other") { aggregate } }'), 200, "FORBIDDEN");

      // One field in scope, one not: the first's data and the second's error together.
      const mixed = await gql(`{
      a: aggregate(aggregateType: "patient", aggregateId: "p-1") { aggregateId }
      b: aggregate(aggregateType: "patient", aggregateId: "p-2") { aggregateId } }`);
      assertEquals(mixed.status, 200);
      assertEquals(mixed.json.data, { a: { aggregateId: "p-1" }, b: null });
      assertEquals(codes(mixed), ["FORBIDDEN"]);

      // No append scope: both mutations refused, nothing written.
      const before = await eventCount(s);
      const append = await gql(
        "mutation($i: AppendEventInput!) { appendEvent(input: $i) { version } }",
        {
          i: {
            aggregateType: "patient",
            aggregateId: "p-1",
            eventType: "patient-updated",
            payload: { a: 1 },
          },
        },
      );
      expectErrors(append, 200, "FORBIDDEN", "aggregate.append");
      assertEquals(append.json.data, null);
      const batch = await gql(
        "mutation($e: [AppendEventInput!]!) { appendEvents(events: $e) { version } }",
        {
          e: [{
            aggregateType: "patient",
            aggregateId: "p-1",
            eventType: "patient-updated",
            payload: { a: 1 },
          }],
        },
      );
      expectErrors(batch, 200, "FORBIDDEN", "aggregate.append");
      assertEquals(await eventCount(s), before);

      // Introspection works for any valid token.
      const introspection = await gql("{ __schema { queryType { name } } }");
      assertEquals(introspection.json.data.__schema.queryType.name, "Query");

      // A writer may append to its aggregates only, and read nothing.
      const writer = await s.token({
        actions: ["aggregate.append"],
        resources: ["aggregate:patient:p-2"],
      });
      const mutation = "mutation($i: AppendEventInput!) { appendEvent(input: $i) { version } }";
      const event = (id: string) => ({
        i: {
          aggregateType: "patient",
          aggregateId: id,
          eventType: "patient-updated",
          payload: { b: 2 },
        },
      });
      const written = await s.gql(mutation, event("p-2"), { token: writer });
      assertEquals(written.json.errors, undefined, written.text);
      assertEquals(written.json.data.appendEvent.version, 2);
      expectErrors(await s.gql(mutation, event("p-1"), { token: writer }), 200, "FORBIDDEN");
      expectErrors(
        await s.gql(
          '{ aggregate(aggregateType: "patient", aggregateId: "p-2") { version } }',
          undefined,
          { token: writer },
        ),
        200,
        "FORBIDDEN",
      );
      // A batch naming one aggregate out of scope is refused whole.
      const mixedBatch = await s.gql(
        "mutation($e: [AppendEventInput!]!) { appendEvents(events: $e) { version } }",
        { e: [event("p-2").i, event("p-1").i] },
        { token: writer },
      );
      expectErrors(mixedBatch, 200, "FORBIDDEN");
      assertEquals(await eventCount(s), before + 1);

      // A write limit is enforced: the second append is refused (FORBIDDEN, limit_reached).
      const limited = await s.token({ limit: 1 });
      assertEquals(
        (await s.gql(mutation, event("p-2"), { token: limited })).json.errors,
        undefined,
      );
      const over = await s.gql(mutation, event("p-2"), { token: limited });
      expectErrors(over, 200, "FORBIDDEN");
      assertEquals(over.json.errors[0].extensions.dbxCode, "limit_reached");
      assertEquals(await eventCount(s), before + 2);
    });
  },
);
