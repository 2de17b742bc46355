/**
 * Bad and abusive GraphQL requests against the real server, in both HTTP modes: documents
 * too deep, too wide, with too many aliases, too costly or too long are refused before
 * anything runs (GRAPHQL_VALIDATION_FAILED naming the limit); malformed documents, malformed
 * JSON, wrong content types, wrong variable types, oversized bodies and batched arrays get a
 * clear error; nothing committed changes and the server keeps answering.
 */
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

const MAX_BODY = 256 << 10;
const APPEND = "mutation($i: AppendEventInput!) { appendEvent(input: $i) { version } }";
const GRAPHQL_RESPONSE = { accept: "application/graphql-response+json" };
const local = { kind: "local" as const, user: "test" };

function post(s: GraphqlServer, body: string | Uint8Array, headers: Record<string, string> = {}) {
  return s.send("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

/** The committed events of the fixture, to compare before and after. */
async function snapshot(s: GraphqlServer): Promise<string> {
  const page = await s.server.api.call(local, "listEvents", {
    aggregate_type: "patient",
    aggregate_id: "p-1",
  });
  const verify = await s.server.api.call(local, "verifyAggregate", {
    aggregate_type: "patient",
    aggregate_id: "p-1",
  });
  assert(verify.verified, "the aggregate still verifies");
  return JSON.stringify(page.items);
}

/** A refused document: 200 with errors for application/json, 400 for the newer type. */
async function expectRefusedDocument(
  s: GraphqlServer,
  query: string,
  code: string,
  check: (reply: Reply) => void = () => {},
  variables?: Record<string, unknown>,
): Promise<void> {
  const json = await s.gql(query, variables);
  expectErrors(json, 200, code);
  assertEquals(json.json.data, undefined, `no data: ${json.text}`);
  check(json);
  const newer = await s.gql(query, variables, { headers: GRAPHQL_RESPONSE });
  expectErrors(newer, 400, code);
  assert(newer.headers.get("content-type")?.startsWith("application/graphql-response+json"));
}

function limit(name: string): (reply: Reply) => void {
  return (reply) => assertEquals(reply.json.errors[0].extensions.limit, name, reply.text);
}

const nested = (depth: number) =>
  `{ __schema { types { ${"ofType { ".repeat(depth - 3)}name${" }".repeat(depth - 3)} } } }`;

for (const mode of MODES) {
  Deno.test(
    `graphql (${mode.label}): abusive documents are refused before they run`,
    SERVER_TEST,
    async () => {
      await withGraphqlServer(async (s) => {
        await s.seed("patient", "p-1", { name: "Jane" });
        const before = await snapshot(s);

        // Depth: 15 levels (what GraphiQL's introspection needs) pass, 16 do not.
        assertEquals((await s.gql(nested(15))).json.errors, undefined);
        await expectRefusedDocument(s, nested(16), "GRAPHQL_VALIDATION_FAILED", limit("depth"));
        // The depth of fragments counts as if they were written out.
        await expectRefusedDocument(
          s,
          `{ __schema { types { ...T } } } fragment T on __Type { ${"ofType { ".repeat(13)}name${
            " }".repeat(13)
          } }`,
          "GRAPHQL_VALIDATION_FAILED",
          limit("depth"),
        );

        // Aliases: 30 pass, 31 do not, even of mutations (nothing is written).
        const aliased = (n: number) =>
          `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(" ")} }`;
        assertEquals((await s.gql(aliased(30))).json.errors, undefined);
        await expectRefusedDocument(s, aliased(31), "GRAPHQL_VALIDATION_FAILED", limit("aliases"));
        const appends = `mutation { ${
          Array.from(
            { length: 40 },
            (_, i) =>
              `a${i}: appendEvent(input: { aggregateType: "patient", aggregateId: "p-1", eventType: "x", payload: {} }) { version }`,
          ).join(" ")
        } }`;
        await expectRefusedDocument(s, appends, "GRAPHQL_VALIDATION_FAILED", limit("aliases"));

        // Breadth: one field repeated many times (merging them costs the square).
        await expectRefusedDocument(
          s,
          `{ ${"__typename ".repeat(500)}}`,
          "GRAPHQL_VALIDATION_FAILED",
          limit("breadth"),
        );

        // Complexity: lists inside lists of the schema's own introspection, and big pages.
        await expectRefusedDocument(
          s,
          "{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }",
          "GRAPHQL_VALIDATION_FAILED",
          limit("complexity"),
        );
        const page = (alias: string) =>
          `${alias}: aggregateEvents(aggregateType: "patient", aggregateId: "p-1", take: 1000) {
          aggregateId aggregateType eventType payload version hash merkleRoot position
          metadata { eventId createdAt note issuedBy { group user } } }`;
        assertEquals((await s.gql(`{ ${page("a")} }`)).json.errors, undefined);
        await expectRefusedDocument(
          s,
          `{ ${Array.from({ length: 8 }, (_, i) => page(`p${i}`)).join(" ")} }`,
          "GRAPHQL_VALIDATION_FAILED",
          limit("complexity"),
        );
        // The same through fragments spread many times.
        await expectRefusedDocument(
          s,
          `{ ${
            Array.from(
              { length: 8 },
              (_, i) =>
                `p${i}: aggregateEvents(aggregateType: "patient", aggregateId: "p-1", take: 1000) { ...E }`,
            ).join(" ")
          } }
         fragment E on Event { aggregateId aggregateType eventType payload version hash merkleRoot position metadata { ...M } }
         fragment M on EventMetadata { eventId createdAt note issuedBy { group user } }`,
          "GRAPHQL_VALIDATION_FAILED",
          limit("complexity"),
        );

        // Tokens: a document longer than the parser's limit.
        await expectRefusedDocument(
          s,
          `{ aggregates(aggregateType: "${"x".repeat(10)}") { ${"aggregateId ".repeat(6000)}} }`,
          "GRAPHQL_PARSE_FAILED",
          (reply) => assert(/token/i.test(reply.json.errors[0].message), reply.text),
        );

        // A fragment cycle is refused, not followed.
        await expectRefusedDocument(
          s,
          "{ __schema { types { ...A } } } fragment A on __Type { ofType { ...B } } fragment B on __Type { ofType { ...A } }",
          "GRAPHQL_VALIDATION_FAILED",
        );

        // Batched operations (a JSON array) are not taken, however many.
        const batch = JSON.stringify(
          Array.from({ length: 2000 }, () => ({ query: "{ __typename }" })),
        );
        expectErrors(await post(s, batch), 400, "BAD_REQUEST", "batched");

        // A huge batch of events in variables is bounded by the body limit.
        const events = Array.from({ length: 5000 }, (_, i) => ({
          aggregateType: "patient",
          aggregateId: `b-${i}`,
          eventType: "x",
          payload: { n: i, pad: "p".repeat(40) },
        }));
        const huge = await s.gql(
          "mutation($e: [AppendEventInput!]!) { appendEvents(events: $e) { version } }",
          { e: events },
        );
        expectErrors(huge, 413, "PAYLOAD_TOO_LARGE");

        assertEquals(await snapshot(s), before, "nothing committed changed");
        assertEquals((await s.gql("{ __typename }")).json.data, { __typename: "Query" });
      }, { workers: mode.workers, maxBodyBytes: MAX_BODY });
    },
  );

  Deno.test(
    `graphql (${mode.label}): malformed GraphQL, JSON, types and bodies get clear errors`,
    SERVER_TEST,
    async () => {
      await withGraphqlServer(async (s) => {
        await s.seed("patient", "p-1", { name: "Jane" });
        const before = await snapshot(s);

        // Malformed documents and unknown fields.
        await expectRefusedDocument(
          s,
          "{ aggregates { aggregateId ",
          "GRAPHQL_PARSE_FAILED",
          (r) => assert(r.json.errors[0].locations?.length === 1, r.text),
        );
        await expectRefusedDocument(s, "", "GRAPHQL_PARSE_FAILED");
        await expectRefusedDocument(
          s,
          "{ nope }",
          "GRAPHQL_VALIDATION_FAILED",
          (r) => assert(r.json.errors[0].message.includes("nope"), r.text),
        );
        await expectRefusedDocument(s, "subscription { __typename }", "BAD_REQUEST");
        await expectRefusedDocument(
          s,
          '{ aggregate(aggregateType: 5, aggregateId: "x") { version } }',
          "GRAPHQL_VALIDATION_FAILED",
        );
        await expectRefusedDocument(
          s,
          '{ aggregate(aggregateType: "a", aggregateId: "b", version: 99999999999999999999) { version } }',
          "GRAPHQL_VALIDATION_FAILED",
        );

        // Wrong variable types: BAD_USER_INPUT, nothing runs.
        const wrong: [string, Record<string, unknown>][] = [
          ["query($t: Int) { aggregates(take: $t) { aggregateId } }", { t: "ten" }],
          ["query($t: Int) { aggregates(take: $t) { aggregateId } }", { t: 1.5 }],
          ["query($t: Int) { aggregates(take: $t) { aggregateId } }", { t: 2 ** 40 }],
          [APPEND, {}],
          [APPEND, { i: "not an object" }],
          [APPEND, { i: { aggregateType: "patient", aggregateId: "p-1" } }],
          [APPEND, {
            i: { aggregateType: "patient", aggregateId: "p-1", eventType: "x", version: 1 },
          }],
          [APPEND, {
            i: {
              aggregateType: "patient",
              aggregateId: "p-1",
              eventType: "x",
              payload: {},
              expectedVersion: 2 ** 60,
            },
          }],
          [APPEND, {
            i: {
              aggregateType: "patient",
              aggregateId: "p-1",
              eventType: "x",
              payload: {},
              expectedVersion: "1",
            },
          }],
        ];
        for (const [query, variables] of wrong) {
          await expectRefusedDocument(s, query, "BAD_USER_INPUT", () => {}, variables);
        }

        // Hostile payloads are the API's to judge: too deep is refused, __proto__ stays data.
        let deep: unknown = 1;
        for (let i = 0; i < 200; i++) {
          deep = { d: deep };
        }
        const tooDeep = await s.gql(APPEND, {
          i: { aggregateType: "patient", aggregateId: "p-1", eventType: "x", payload: deep },
        });
        expectErrors(tooDeep, 200, "BAD_USER_INPUT", "deep");
        const proto = await s.gql(
          `mutation { appendEvent(input: { aggregateType: "patient", aggregateId: "p-9",
          eventType: "x", payload: { __proto__: { admin: true }, plain: 1 } }) { payload } }`,
        );
        assertEquals(proto.json.errors, undefined, proto.text);
        assertEquals(Object.keys(proto.json.data.appendEvent.payload).sort(), [
          "__proto__",
          "plain",
        ]);

        // Malformed requests: 400 BAD_REQUEST with a message saying what is wrong.
        const requests: [string, string][] = [
          ['{"query": "{ __typename }"', "not valid JSON"],
          ["", "empty"],
          ['"{ __typename }"', "JSON object"],
          ["42", "JSON object"],
          ["null", "JSON object"],
          ["{}", "no query"],
          ['{"query": 5}', "query must be a string"],
          ['{"query": "{ __typename }", "variables": [1]}', "variables"],
          ['{"query": "{ __typename }", "variables": "x"}', "variables"],
          ['{"query": "{ __typename }", "operationName": 3}', "operationName"],
          ['{"query": "{ __typename }", "extensions": 3}', "extensions"],
        ];
        for (const [body, part] of requests) {
          const reply = await post(s, body);
          expectErrors(
            reply,
            400,
            "BAD_REQUEST",
            part,
          );
        }
        // A body that is not UTF-8 is the API's invalid input.
        expectErrors(
          await post(s, new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
          400,
          "BAD_USER_INPUT",
          "UTF-8",
        );
        // Operation names that do not pick one operation.
        const two = "query A { __typename } query B { __typename }";
        expectErrors(await s.gql(two), 200, "BAD_REQUEST", "operationName");
        expectErrors(
          await s.gql(two, undefined, { operationName: "C" }),
          200,
          "BAD_REQUEST",
          '"C"',
        );
        assertEquals((await s.gql(two, undefined, { operationName: "B" })).json.data, {
          __typename: "Query",
        });

        // Content types and Accept.
        expectErrors(
          await post(s, '{"query":"{ __typename }"}', { "content-type": "text/plain" }),
          415,
          "BAD_REQUEST",
        );
        expectErrors(
          await post(s, '{"query":"{ __typename }"}', {
            "content-type": "application/json; charset=latin1",
          }),
          415,
          "BAD_REQUEST",
        );
        const noType = await s.send("/graphql", {
          method: "POST",
          body: new TextEncoder().encode('{"query":"{ __typename }"}'),
        });
        expectErrors(noType, 415, "BAD_REQUEST");
        const html = await post(s, '{"query":"{ __typename }"}', { accept: "text/html" });
        expectErrors(html, 406, "BAD_REQUEST");

        // GET: queries run, mutations are refused, bad variables are 400.
        const get = await s.send(`/graphql?query=${encodeURIComponent("{ __typename }")}`);
        assertEquals(get.status, 200, get.text);
        assertEquals(get.json.data, { __typename: "Query" });
        const getMutation = await s.send(
          `/graphql?query=${
            encodeURIComponent(
              'mutation { appendEvent(input: { aggregateType: "patient", aggregateId: "p-1", eventType: "x", payload: {} }) { version } }',
            )
          }`,
        );
        expectErrors(getMutation, 405, "BAD_REQUEST", "POST");
        assertEquals(getMutation.headers.get("allow"), "POST");
        expectErrors(
          await s.send(`/graphql?query=${encodeURIComponent("{ __typename }")}&variables=%7Bx`),
          400,
          "BAD_REQUEST",
          "variables",
        );

        // Methods and paths.
        const put = await s.send("/graphql", { method: "PUT", body: "{}" });
        assertEquals(put.status, 405);
        assertEquals(put.headers.get("allow"), "GET, HEAD, POST");
        assertEquals((await s.send("/graphql/nothing")).status, 404);
        assertEquals(
          (await s.send("/graphql/assets/../../deno.json", { token: null })).status,
          404,
        );

        // Size: over the limit is 413 (declared or streamed); a bad token is 401 first.
        const big = JSON.stringify({
          query: "{ __typename }",
          variables: { pad: "x".repeat(MAX_BODY) },
        });
        expectErrors(await post(s, big), 413, "PAYLOAD_TOO_LARGE");
        const streamed = await s.send("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: new TextEncoder().encode(big),
        });
        expectErrors(streamed, 413, "PAYLOAD_TOO_LARGE");
        expectErrors(
          await s.send("/graphql", {
            method: "POST",
            token: "bad",
            headers: { "content-type": "application/json" },
            body: big,
          }),
          401,
          "UNAUTHENTICATED",
        );
        // A bad token wins over a bad request or document.
        expectErrors(await s.gql("{ nope", undefined, { token: "bad" }), 401, "UNAUTHENTICATED");
        expectErrors(
          await s.send("/graphql", {
            method: "POST",
            token: "bad",
            headers: { "content-type": "application/json" },
            body: "{",
          }),
          401,
          "UNAUTHENTICATED",
        );
        expectErrors(
          await s.send("/graphql", {
            method: "POST",
            token: null,
            headers: { "content-type": "text/plain" },
            body: "x",
          }),
          401,
          "UNAUTHENTICATED",
        );

        assertEquals(await snapshot(s), before, "nothing committed changed");
        const alive = await s.gql("{ aggregates { aggregateId } }");
        assertEquals(codes(alive), []);
        assertEquals(alive.json.data.aggregates.length, 2);
      }, { workers: mode.workers, maxBodyBytes: MAX_BODY });
    },
  );
}
