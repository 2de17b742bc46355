/**
 * Every method of eventdbx.api.EventService from a separate Node process (@grpc/grpc-js),
 * against the real server with gRPC on the HTTP port: the good path of each, the status
 * codes of the error table (NOT_FOUND, ABORTED, FAILED_PRECONDITION, RESOURCE_EXHAUSTED,
 * INVALID_ARGUMENT), and every method with missing, malformed, foreign, expired and revoked
 * tokens and with a token of the wrong scope. What gRPC commits is what REST reads.
 */
import {
  appendRequest,
  assert,
  assertEquals,
  Code,
  expectOk,
  expectStatus,
  GRPC_TEST_OPTS as OPTS,
  withGrpcServer,
} from "./_grpc_setup.ts";

const PATIENT = { aggregate_type: "patient", aggregate_id: "p-1" };

Deno.test(
  "grpc: every method answers on the shared port, and REST reads what gRPC wrote",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = s.admin;
      const [health, first, patch, batch, list, page1, get, getV1, events, events2, verify] =
        await s
          .client([
            { call: "Health" },
            {
              call: "AppendEvent",
              token,
              request: appendRequest("patient", "p-1", { name: "Jane", age: 40 }, {
                event_type: "added",
                note: "first visit",
              }),
            },
            {
              call: "AppendEvent",
              token,
              request: {
                ...PATIENT,
                event_type: "aged",
                patch_json: JSON.stringify([{ op: "replace", path: "/age", value: 41 }]),
                expected_version: 1,
              },
            },
            {
              call: "AppendEvents",
              token,
              request: {
                events: [
                  appendRequest("patient", "p-2", { name: "Ann" }),
                  appendRequest("clinic", "c-1", { city: "Oslo" }),
                ],
              },
            },
            { call: "ListAggregates", token, request: { include_state: true } },
            { call: "ListAggregates", token, request: { take: 2 } },
            { call: "GetAggregate", token, request: PATIENT },
            { call: "GetAggregate", token, request: { ...PATIENT, version: 1 } },
            { call: "ListEvents", token, request: PATIENT },
            { call: "ListEvents", token, request: { ...PATIENT, skip: 1, take: 1 } },
            { call: "VerifyAggregate", token, request: PATIENT },
          ]);
      assertEquals(expectOk(health, "Health"), { status: "ok" });

      const added = expectOk(first, "AppendEvent");
      assertEquals(added.created, true);
      assertEquals(added.event.aggregate_type, "patient");
      assertEquals(added.event.event_type, "added");
      assertEquals(JSON.parse(added.event.payload_json), { name: "Jane", age: 40 });
      assertEquals(added.event.version, 1);
      assertEquals(added.event.metadata.note, "first visit");
      assertEquals(added.event.metadata.issued_by, { group: "admin", user: "root" });
      assert(/^[0-9a-f]{64}$/.test(added.event.hash), added.event.hash);
      assert(added.event.position >= 1);

      const aged = expectOk(patch, "AppendEvent with a patch");
      assertEquals(aged.event.version, 2);

      const both = expectOk(batch, "AppendEvents");
      assertEquals(both.created, true);
      assertEquals(both.events.map((e: { aggregate_id: string }) => e.aggregate_id), [
        "p-2",
        "c-1",
      ]);

      const listed = expectOk(list, "ListAggregates").aggregates;
      assertEquals(listed.length, 3);
      const p1 = listed.find((a: { aggregate_id: string }) => a.aggregate_id === "p-1");
      // State keeps scalars as strings (SPEC §2).
      assertEquals(JSON.parse(p1.state_json), { name: "Jane", age: "41" });
      const firstPage = expectOk(page1, "ListAggregates take 2");
      assertEquals(firstPage.aggregates.length, 2);
      assertEquals(firstPage.next, 2);
      assertEquals(firstPage.aggregates[0].state_json, undefined, "no state unless asked for");

      const aggregate = expectOk(get, "GetAggregate").aggregate;
      assertEquals(aggregate.version, 2);
      assertEquals(JSON.parse(aggregate.state_json), { name: "Jane", age: "41" });
      assertEquals(aggregate.archived, false);
      assertEquals(JSON.parse(expectOk(getV1, "GetAggregate v1").aggregate.state_json), {
        name: "Jane",
        age: "40",
      });

      const all = expectOk(events, "ListEvents").events;
      assertEquals(all.map((e: { version: number }) => e.version), [1, 2]);
      assertEquals(all[0].hash, added.event.hash);
      const second = expectOk(events2, "ListEvents skip 1 take 1");
      assertEquals(second.events.map((e: { version: number }) => e.version), [2]);
      assertEquals(second.next, undefined, "no page after the last");

      const verified = expectOk(verify, "VerifyAggregate");
      assertEquals(verified.verified, true);
      assertEquals(verified.version, 2);
      assertEquals(verified.merkle_root, aged.event.merkle_root);

      // The one API behind both doors: REST shows the same records.
      const rest = await fetch(`${s.base}/v1/aggregates/patient/p-1/events`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const restEvents = await rest.json();
      assertEquals(rest.status, 200);
      const restList = Array.isArray(restEvents)
        ? restEvents
        : restEvents.items ?? restEvents.events;
      assertEquals(
        restList.map((e: { hash: string }) => e.hash),
        all.map((e: { hash: string }) => e.hash),
      );
      assertEquals((await fetch(`${s.base}/health`)).status, 200);
    });
  },
);

Deno.test(
  "grpc: the error table — not found, version conflict, archived, write limit, bad input, idempotent retry",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = s.admin;
      const limited = await s.token({ user: "limited", limit: 1 });
      const eventId = crypto.randomUUID();
      const results = await s.client([
        {
          call: "GetAggregate",
          token,
          request: { aggregate_type: "patient", aggregate_id: "p-404" },
        },
        {
          call: "AppendEvent",
          token,
          request: appendRequest("patient", "p-1", {}, { event_id: eventId }),
        },
        // The same event id again: the original record, created false.
        {
          call: "AppendEvent",
          token,
          request: appendRequest("patient", "p-1", {}, { event_id: eventId }),
        },
        {
          call: "AppendEvent",
          token,
          request: appendRequest("patient", "p-1", {}, { expected_version: 7 }),
        },
        {
          call: "AppendEvent",
          token,
          request: appendRequest("patient", "p-new", {}, { expected_version: 0 }),
        },
        { call: "AppendEvent", token: limited, request: appendRequest("patient", "p-9") },
        { call: "AppendEvent", token: limited, request: appendRequest("patient", "p-9") },
        {
          call: "AppendEvent",
          token,
          request: { aggregate_id: "x", event_type: "e", payload_json: "{}" },
        },
        { call: "AppendEvent", token, request: { ...PATIENT, event_type: "e" } },
        { call: "AppendEvent", token, request: appendRequest("bad\ttype", "x") },
        {
          call: "AppendEvent",
          token,
          request: { ...PATIENT, event_type: "e", payload_json: "[1]" },
        },
        { call: "ListEvents", token, request: { aggregate_type: "patient", aggregate_id: ".." } },
        {
          call: "AppendEvent",
          token,
          request: appendRequest("patient", "p-1", {}, { note: "n".repeat(129) }),
        },
        {
          call: "AppendEvent",
          token,
          request: appendRequest("patient", "p-1", {}, { event_id: "not-a-uuid" }),
        },
      ]);
      const [missing, original, retry, conflict, fresh, firstWrite, overLimit] = results;
      expectStatus(missing, Code.NOT_FOUND, "not_found", "p-404");
      const orig = expectOk(original, "append with an event id");
      const again = expectOk(retry, "the retry");
      assertEquals(again.created, false);
      assertEquals(again.event.hash, orig.event.hash);
      expectStatus(conflict, Code.ABORTED, "conflict");
      assertEquals(expectOk(fresh, "expected_version 0 on a new aggregate").event.version, 1);
      expectOk(firstWrite, "the limited token's one write");
      expectStatus(overLimit, Code.RESOURCE_EXHAUSTED, "limit_reached");
      const [noType, noPayload, badName, notObject, badRead, longNote, badId] = results.slice(7);
      expectStatus(longNote, Code.INVALID_ARGUMENT, "invalid_input", "note");
      expectStatus(badId, Code.INVALID_ARGUMENT, "invalid_input", "event_id");
      expectStatus(noType, Code.INVALID_ARGUMENT, "invalid_input", "aggregate_type");
      expectStatus(noPayload, Code.INVALID_ARGUMENT, "invalid_input");
      expectStatus(badName, Code.INVALID_ARGUMENT, "invalid_input");
      expectStatus(notObject, Code.INVALID_ARGUMENT, "invalid_input");
      expectStatus(badRead, Code.INVALID_ARGUMENT, "invalid_input", '".."');

      await s.local("archiveAggregate", PATIENT);
      const [archived, readArchived] = await s.client([
        { call: "AppendEvent", token, request: appendRequest("patient", "p-1") },
        { call: "GetAggregate", token, request: PATIENT },
      ]);
      expectStatus(archived, Code.FAILED_PRECONDITION, "archived");
      assertEquals(expectOk(readArchived, "read an archived aggregate").aggregate.archived, true);
    });
  },
);

Deno.test("grpc: AppendEvents is atomic: one bad event commits none", OPTS, async () => {
  await withGrpcServer(async (s) => {
    const token = s.admin;
    const [refused, conflict, empty, after] = await s.client([
      {
        call: "AppendEvents",
        token,
        request: {
          events: [
            appendRequest("batch", "b-1"),
            {
              aggregate_type: "batch",
              aggregate_id: "b-2",
              event_type: "e",
              payload_json: "{nope",
            },
          ],
        },
      },
      {
        call: "AppendEvents",
        token,
        request: {
          events: [
            appendRequest("batch", "b-1"),
            appendRequest("batch", "b-3", {}, { expected_version: 5 }),
          ],
        },
      },
      { call: "AppendEvents", token, request: { events: [] } },
      { call: "ListAggregates", token, request: {} },
    ]);
    expectStatus(
      refused,
      Code.INVALID_ARGUMENT,
      "invalid_input",
      "event 2: payload_json is not valid JSON",
    );
    expectStatus(conflict, Code.ABORTED, "conflict");
    expectStatus(empty, Code.INVALID_ARGUMENT, "invalid_input", "at least one event");
    assertEquals(expectOk(after, "ListAggregates").aggregates ?? [], [], "nothing was committed");
  });
});

/** One request of each method (SubscribeEvents included), for the token checks. */
const METHODS: [string, Record<string, unknown>][] = [
  ["AppendEvent", appendRequest("patient", "p-1")],
  ["AppendEvents", { events: [appendRequest("patient", "p-1")] }],
  ["ListAggregates", {}],
  ["GetAggregate", PATIENT],
  ["ListEvents", PATIENT],
  ["VerifyAggregate", PATIENT],
  ["SubscribeEvents", { after: 0 }],
];

/** Steps calling every method with `auth` (a token or a raw authorization value). */
function everyMethod(auth: { token?: string | null; authorization?: string }): unknown[] {
  return METHODS.map(([method, request]) =>
    method === "SubscribeEvents"
      ? { subscribe: request, count: 1, timeoutMs: 15_000, ...auth }
      : { call: method, request, ...auth }
  );
}

/** The status of a unary result or a subscription's end. */
// deno-lint-ignore no-explicit-any
const statusOf = (result: any) => result.events ? result.status : result;

Deno.test(
  "grpc: every method refuses missing, malformed, foreign, expired and revoked tokens with UNAUTHENTICATED",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      await s.client([{
        call: "AppendEvent",
        token: s.admin,
        request: appendRequest("patient", "p-1"),
      }]);
      const expired = await s.token({ user: "shortlived", expiration: 1 });
      const revoked = await s.token({ user: "revoked" });
      await s.local("revokeToken", { token: revoked });
      // The expiry is in whole seconds: wait until it has certainly passed.
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      const cases: [string, { token?: string | null; authorization?: string }, string?][] = [
        ["missing", { token: null }, "token is required"],
        ["another scheme", { authorization: `Basic ${btoa("a:b")}` }, "Bearer"],
        ["Bearer without a token", { authorization: "Bearer" }, "Bearer"],
        ["two tokens", { authorization: `Bearer ${s.admin} ${s.admin}` }, "Bearer"],
        ["not a JWT", { token: "not-a-token" }],
        ["signed by another key", { token: s.admin.slice(0, -8) + "AAAAAAAA" }],
        ["expired", { token: expired }, "expired"],
        ["revoked", { token: revoked }, "revoked"],
      ];
      for (const [label, auth, part] of cases) {
        const results = await s.client(everyMethod(auth));
        results.forEach((result, i) => {
          try {
            expectStatus(statusOf(result), Code.UNAUTHENTICATED, "unauthorized", part);
          } catch (err) {
            throw new Error(`${label} token, ${METHODS[i][0]}: ${(err as Error).message}`);
          }
        });
      }
      // Health needs no token, even a bad one.
      const [health] = await s.client([{ call: "Health", token: "not-a-token" }]);
      assertEquals(expectOk(health, "Health"), { status: "ok" });
      // Nothing the refused calls carried was committed.
      const [events] = await s.client([{ call: "ListEvents", token: s.admin, request: PATIENT }]);
      assertEquals(expectOk(events, "ListEvents").events.length, 1);
    });
  },
);

Deno.test(
  "grpc: scopes hold — a reader cannot write, an auditor reads exactly its aggregate",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      await s.client([
        { call: "AppendEvent", token: s.admin, request: appendRequest("patient", "p-1") },
        { call: "AppendEvent", token: s.admin, request: appendRequest("patient", "p-2") },
      ]);
      const reader = await s.token({ user: "reader", actions: ["aggregate.read"] });
      const auditor = await s.token({
        user: "auditor",
        actions: ["aggregate.read"],
        resources: ["aggregate:patient:p-2"],
      });
      const schemaOnly = await s.token({ user: "schemas", actions: ["schema.read"] });

      const asReader = await s.client(everyMethod({ token: reader }));
      expectStatus(asReader[0], Code.PERMISSION_DENIED, "forbidden", "aggregate.append");
      expectStatus(asReader[1], Code.PERMISSION_DENIED, "forbidden", "aggregate.append");
      for (const i of [2, 3, 4, 5]) expectOk(asReader[i], `reader ${METHODS[i][0]}`);
      assertEquals(asReader[6].events.length, 1, "the reader follows events");

      const asAuditor = await s.client(everyMethod({ token: auditor }));
      for (const i of [0, 1, 3, 4, 5]) {
        expectStatus(statusOf(asAuditor[i]), Code.PERMISSION_DENIED, "forbidden");
      }
      const seen = expectOk(asAuditor[2], "auditor ListAggregates").aggregates;
      assertEquals(seen.map((a: { aggregate_id: string }) => a.aggregate_id), ["p-2"]);
      assertEquals(asAuditor[6].events.map((e: { aggregate_id: string }) => e.aggregate_id), [
        "p-2",
      ]);
      const [own] = await s.client([{
        call: "GetAggregate",
        token: auditor,
        request: { aggregate_type: "patient", aggregate_id: "p-2" },
      }]);
      expectOk(own, "the auditor reads its aggregate");

      const asSchemaReader = await s.client(everyMethod({ token: schemaOnly }));
      asSchemaReader.forEach((result) =>
        expectStatus(statusOf(result), Code.PERMISSION_DENIED, "forbidden", undefined)
      );
    });
  },
);
