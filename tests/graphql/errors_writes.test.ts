/**
 * What the mutations do and how their refusals read: the API's rules (optimistic
 * concurrency, archived aggregates, idempotent event ids, atomic batches, schemas, input
 * checks) answer with the matching `extensions.code` (CONFLICT, ARCHIVED, NOT_FOUND,
 * BAD_USER_INPUT) and never alter what was committed.
 */
import { GRAPHQL_CODE } from "../../src/graphql/errors.ts";
import { ERROR_CODES } from "../../src/errors.ts";
import {
  assert,
  assertEquals,
  expectErrors,
  type GraphqlServer,
  SERVER_TEST,
  withGraphqlServer,
} from "./_setup.ts";

const APPEND = `mutation Append($input: AppendEventInput!) {
  appendEvent(input: $input) { aggregateId version payload metadata { eventId note } } }`;
const BATCH = `mutation Batch($events: [AppendEventInput!]!) {
  appendEvents(events: $events) { aggregateId version } }`;
const local = { kind: "local" as const, user: "test" };

function event(id: string, more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    aggregateType: "order",
    aggregateId: id,
    eventType: "order-placed",
    payload: { total: 10 },
    ...more,
  };
}

async function versionOf(s: GraphqlServer, id: string): Promise<number> {
  try {
    return (await s.server.api.call(local, "getAggregate", {
      aggregate_type: "order",
      aggregate_id: id,
    })).version;
  } catch {
    return 0;
  }
}

Deno.test("graphql errors: every API error code has a GraphQL code", () => {
  for (const code of ERROR_CODES) {
    assert(typeof GRAPHQL_CODE[code] === "string" && GRAPHQL_CODE[code] !== "", code);
  }
  assertEquals(GRAPHQL_CODE.unauthorized, "UNAUTHENTICATED");
  assertEquals(GRAPHQL_CODE.forbidden, "FORBIDDEN");
  assertEquals(GRAPHQL_CODE.not_found, "NOT_FOUND");
  assertEquals(GRAPHQL_CODE.invalid_input, "BAD_USER_INPUT");
  assertEquals(GRAPHQL_CODE.conflict, "CONFLICT");
});

Deno.test(
  "graphql mutations: concurrency, archive, idempotency, patches and atomic batches",
  SERVER_TEST,
  async () => {
    await withGraphqlServer(async (s) => {
      // A first event creates the aggregate; expectedVersion guards the next.
      const first = await s.gql(APPEND, { input: event("o-1", { expectedVersion: 0 }) });
      assertEquals(first.json.errors, undefined, first.text);
      assertEquals(first.json.data.appendEvent.version, 1);
      const stale = await s.gql(APPEND, { input: event("o-1", { expectedVersion: 0 }) });
      expectErrors(stale, 200, "CONFLICT");
      assertEquals(stale.json.errors[0].extensions.dbxCode, "conflict");
      assertEquals(stale.json.errors[0].path, ["appendEvent"]);
      assertEquals(await versionOf(s, "o-1"), 1);

      // The same eventId again returns the original event instead of writing twice.
      const id = crypto.randomUUID();
      const once = await s.gql(APPEND, { input: event("o-1", { eventId: id, note: "once" }) });
      const again = await s.gql(APPEND, { input: event("o-1", { eventId: id, note: "once" }) });
      assertEquals(once.json.data.appendEvent, again.json.data.appendEvent);
      assertEquals(once.json.data.appendEvent.metadata.eventId, id);
      assertEquals(await versionOf(s, "o-1"), 2);

      // A JSON Patch instead of a payload, written inline in the document.
      const patched = await s.gql(`mutation { appendEvent(input: {
      aggregateType: "order", aggregateId: "o-1", eventType: "order-changed",
      patch: [{ op: "replace", path: "/total", value: 12 }] }) { version payload } }`);
      assertEquals(patched.json.errors, undefined, patched.text);
      const state = await s.gql(
        '{ aggregate(aggregateType: "order", aggregateId: "o-1") { state } }',
      );
      assertEquals(state.json.data.aggregate.state.total, "12");

      // Archived aggregates refuse appends until restored.
      await s.server.api.call(local, "archiveAggregate", {
        aggregate_type: "order",
        aggregate_id: "o-1",
      });
      expectErrors(await s.gql(APPEND, { input: event("o-1") }), 200, "ARCHIVED");
      await s.server.api.call(local, "restoreAggregate", {
        aggregate_type: "order",
        aggregate_id: "o-1",
      });
      assertEquals((await s.gql(APPEND, { input: event("o-1") })).json.errors, undefined);
      const version = await versionOf(s, "o-1");

      // A batch commits all or nothing.
      const good = await s.gql(BATCH, { events: [event("o-2"), event("o-3"), event("o-2")] });
      assertEquals(good.json.errors, undefined, good.text);
      assertEquals(
        good.json.data.appendEvents.map((e: { aggregateId: string; version: number }) =>
          `${e.aggregateId}@${e.version}`
        ),
        ["o-2@1", "o-3@1", "o-2@2"],
      );
      const bad = await s.gql(BATCH, {
        events: [event("o-4"), event("o-1", { expectedVersion: 1 }), event("o-5")],
      });
      expectErrors(bad, 200, "CONFLICT");
      assertEquals(bad.json.data, null);
      assertEquals(await versionOf(s, "o-4"), 0, "nothing of the refused batch was written");
      assertEquals(await versionOf(s, "o-5"), 0);
      assertEquals(await versionOf(s, "o-1"), version);
      const invalid = await s.gql(BATCH, {
        events: [event("o-6"), event("o-6", { payload: null, patch: null })],
      });
      expectErrors(invalid, 200, "BAD_USER_INPUT", "event 2");
      assertEquals(await versionOf(s, "o-6"), 0);
      expectErrors(await s.gql(BATCH, { events: [] }), 200, "BAD_USER_INPUT", "at least one");
    });
  },
);

Deno.test(
  "graphql mutations: bad input and schema violations are BAD_USER_INPUT; missing things NOT_FOUND",
  SERVER_TEST,
  async () => {
    await withGraphqlServer(async (s) => {
      await s.server.api.call(local, "createSchema", {
        aggregate: "order",
        events: ["order-placed"],
      });
      await s.server.api.call(local, "alterSchema", {
        aggregate: "order",
        changes: { column: { field: "total", type: "integer" } },
      });
      assertEquals((await s.gql(APPEND, { input: event("o-1") })).json.errors, undefined);
      const refusals: [Record<string, unknown>, string][] = [
        [event("o-1", { eventType: "order-shipped" }), "order-shipped"],
        [event("o-1", { payload: { total: "ten" } }), "total"],
        [event("o-1", { payload: { total: 1 }, patch: [] }), "payload"],
        [event("o-1", { payload: ["not", "an", "object"] }), "payload"],
        [event("o-1", { note: "n".repeat(129) }), "note"],
        [event("o-1", { aggregateId: "" }), "aggregate id"],
        [event("o-1", { aggregateType: "a\u0000b" }), "aggregate type"],
        [event("o-1", { eventId: "not-a-uuid" }), "event_id"],
        [event("o-1", { expectedVersion: -1 }), "expected_version"],
      ];
      for (const [input, part] of refusals) {
        const reply = await s.gql(APPEND, { input });
        expectErrors(reply, 200, "BAD_USER_INPUT", part);
        assert(
          ["invalid_input", "schema_violation"].includes(reply.json.errors[0].extensions.dbxCode),
        );
      }
      assertEquals(await versionOf(s, "o-1"), 1, "no refused event was written");

      const reads: [string, string][] = [
        ['{ aggregate(aggregateType: "order", aggregateId: "none") { version } }', "not found"],
        ['{ aggregate(aggregateType: "order", aggregateId: "o-1", version: 9) { version } }', "9"],
        ['{ verifyAggregate(aggregateType: "order", aggregateId: "none") { verified } }', "none"],
        ['{ schema(aggregate: "nothing") { aggregate } }', "nothing"],
      ];
      for (const [query, part] of reads) expectErrors(await s.gql(query), 200, "NOT_FOUND", part);
      // Paging out of range and negative values are the API's to refuse.
      expectErrors(
        await s.gql(
          '{ aggregateEvents(aggregateType: "order", aggregateId: "o-1", skip: -1) { version } }',
        ),
        200,
        "BAD_USER_INPUT",
        "skip",
      );
      expectErrors(
        await s.gql("{ aggregates(take: -5) { aggregateId } }"),
        200,
        "BAD_USER_INPUT",
        "take",
      );
      // take is capped at page_limit rather than refused.
      const capped = await s.gql("{ aggregates(take: 5000) { aggregateId } }");
      assertEquals(capped.json.errors, undefined, capped.text);
    });
  },
);
