/**
 * The official client SDK, unmodified (`eventdbxjs-linux-x64-gnu@1.4.5`, the prebuilt native
 * addon), against a real server, in both of the socket's modes: Noise (the default) and
 * plaintext (when `[socket] allow_plaintext` lets a client ask for it). Every scenario runs
 * through a recording proxy, so that the wire itself shows which mode was in use. The client
 * runs with `verbose: true`: with its default it turns an answer it cannot parse into "Ok",
 * which would hide a wrong response shape.
 *
 * Out of scope (the issue explains): the client's snapshot calls, which it sends with union
 * tags the server schema gives to other operations.
 */
import {
  assert,
  assertEquals,
  type JsClient,
  officialClient,
  withSocketServer,
} from "./_socket_setup.ts";
import { getAggregateMessage, RawConnection, recordingProxy } from "./_raw.ts";

/** The error an official-client call rejects with (its message: `server error (code): …`). */
async function refusal(call: () => Promise<unknown>): Promise<string> {
  try {
    const value = await call();
    throw new Error(`the call succeeded: ${JSON.stringify(value)}`);
  } catch (err) {
    const message = (err as Error).message;
    if (message.startsWith("the call succeeded")) throw err;
    return message;
  }
}

/** Follow `nextCursor` through every page; the pages' items in order. */
async function allPages<T>(
  page: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string | null }>,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const result = await page(cursor);
    pages++;
    items.push(...result.items);
    if (!result.nextCursor) return { items, pages };
    assert(pages < 100, "the pages never end");
    cursor = result.nextCursor;
  }
}

/** A text that never appears on the wire unless the session is plaintext. */
const MARKER = "wire-marker-7f3a9c";

for (const mode of ["noise", "plaintext"] as const) {
  const plaintext = mode === "plaintext";

  Deno.test(`official client (${mode}): the whole scenario`, async (t) => {
    await withSocketServer(async (s) => {
      const proxy = recordingProxy(s.port);
      const client: JsClient = officialClient(proxy.port, s.admin, { noNoise: plaintext });
      try {
        await t.step("connect", async () => {
          await client.connect();
          assert(await client.isConnected(), "isConnected after connect");
        });

        await t.step("a bad token is refused at the handshake", async () => {
          const bad = officialClient(proxy.port, "not-a-token", { noNoise: plaintext });
          const message = await refusal(() => bad.connect());
          assert(/control handshake rejected: invalid control token/.test(message), message);
          assert(!(await bad.isConnected()), "a refused client is not connected");
          // A well-formed token the server did not issue is refused the same way.
          const forged = s.admin.slice(0, -4) + (s.admin.endsWith("AAAA") ? "BBBB" : "AAAA");
          const other = officialClient(proxy.port, forged, { noNoise: plaintext });
          assert(/handshake rejected/.test(await refusal(() => other.connect())));
          assert(await client.isConnected(), "the good session is unaffected");
        });

        await t.step("create, and a duplicate create refused", async () => {
          const created = await client.create("order", "o-1", "order-created", {
            payload: { total: 42, status: "open", customer: { name: "Ada" }, marker: MARKER },
            note: "first",
          });
          assertEquals(created.aggregateType, "order");
          assertEquals(created.aggregateId, "o-1");
          assertEquals(created.version, 1);
          assertEquals(created.archived, false);
          assertEquals(created.state.total, 42); // "42" on the wire; the client parses it
          assertEquals(created.state.status, "open");
          assertEquals(created.state.marker, MARKER);
          assert(/^[0-9a-f]{64}$/.test(created.merkleRoot), created.merkleRoot);
          const message = await refusal(() =>
            client.create("order", "o-1", "order-created", { payload: { total: 1 } })
          );
          assert(/already exists/.test(message), message);
          const after = await client.get("order", "o-1");
          assertEquals([after.version, after.state.total], [1, 42]); // untouched
        });

        await t.step("apply, and apply to a missing aggregate refused", async () => {
          const event = await client.apply("order", "o-1", "order-updated", {
            payload: { total: 43 },
            note: "second",
          });
          assertEquals(event.aggregateType, "order");
          assertEquals(event.aggregateId, "o-1");
          assertEquals(event.eventType, "order-updated");
          assertEquals(event.version, 2);
          assertEquals(event.payload, { total: 43 });
          assertEquals(event.metadata.note, "second");
          assertEquals(event.metadata.issuedBy, { group: "admin", user: "root" });
          assert(typeof event.metadata.eventId === "string" && event.metadata.eventId !== "");
          assert(!Number.isNaN(Date.parse(event.metadata.createdAt)), event.metadata.createdAt);
          assert(/^[0-9a-f]{64}$/.test(event.hash), event.hash);
          const message = await refusal(() =>
            client.apply("order", "nope", "order-updated", { payload: { total: 1 } })
          );
          assert(/^server error \(aggregate_not_found\)/.test(message), message);
          assertEquals(await client.get("order", "nope"), null); // not created by the refusal
        });

        await t.step("get, and null for an unknown aggregate", async () => {
          const got = await client.get("order", "o-1");
          assertEquals(got.version, 2);
          assertEquals(got.state.total, 43);
          assertEquals(got.state.customer, { name: "Ada" });
          assertEquals(got.archived, false);
          assertEquals(await client.get("order", "unknown"), null);
          assertEquals(await client.get("no-such-type", "x"), null);
        });

        await t.step("select, and null for an unknown aggregate", async () => {
          const selected = await client.select("order", "o-1", [
            "total",
            "status",
            "customer.name",
          ]);
          assertEquals(selected, { total: 43, status: "open", "customer.name": "Ada" });
          assertEquals(await client.select("order", "unknown", ["total"]), null);
        });

        await t.step("events paging with cursors", async () => {
          for (let i = 3; i <= 7; i++) {
            await client.apply("order", "o-1", "order-updated", { payload: { total: 40 + i } });
          }
          const { items, pages } = await allPages<{ version: number }>((cursor) =>
            client.events("order", "o-1", cursor ? { take: 3, cursor } : { take: 3 })
          );
          assertEquals(items.map((e: { version: number }) => e.version), [1, 2, 3, 4, 5, 6, 7]);
          assertEquals(pages, 3);
          const first = await client.events("order", "o-1", { take: 3 });
          assertEquals(first.items.length, 3);
          assert(typeof first.nextCursor === "string" && first.nextCursor !== "");
          const tail = await client.events("order", "o-1", { take: 100, cursor: first.nextCursor });
          assertEquals(tail.items.map((e: { version: number }) => e.version), [4, 5, 6, 7]);
          assert(!tail.nextCursor, "the last page has no cursor");
          const filtered = await client.events("order", "o-1", {
            filter: 'event_type = "order-created"',
          });
          assertEquals(filtered.items.map((e: { version: number }) => e.version), [1]);
          const message = await refusal(() =>
            client.events("order", "o-1", { cursor: "not-a-cursor" })
          );
          assert(/^server error \(invalid_cursor\)/.test(message), message);
        });

        await t.step("list paging with sort, filter and archived options", async () => {
          const statuses = ["open", "closed", "open", "closed", "open"];
          for (let i = 1; i <= 5; i++) {
            await client.create("item", `i-${i}`, "item-created", {
              payload: { status: statuses[i - 1], score: i * 20 },
            });
          }
          await client.archive("item", "i-5", { note: "old" });
          // Sorted, paged by cursor (with the ", " separator other SDKs send).
          const { items, pages } = await allPages<{ aggregateType: string; aggregateId: string }>((
            cursor,
          ) =>
            client.list(undefined, {
              take: 2,
              sort: "aggregate_type:asc, aggregate_id:desc",
              ...(cursor ? { cursor } : {}),
            })
          );
          const ids = items.map((a: { aggregateType: string; aggregateId: string }) =>
            `${a.aggregateType}/${a.aggregateId}`
          );
          assertEquals(ids, ["item/i-4", "item/i-3", "item/i-2", "item/i-1", "order/o-1"]);
          assertEquals(pages, 3);
          // The other way round.
          const asc = await client.list(undefined, { sort: "aggregate_id:asc", take: 10 });
          assertEquals(
            asc.items.map((a: { aggregateId: string }) => a.aggregateId),
            ["i-1", "i-2", "i-3", "i-4", "o-1"],
          );
          // The client filters by type itself.
          const orders = await client.list("order", { take: 10 });
          assertEquals(orders.items.map((a: { aggregateId: string }) => a.aggregateId), ["o-1"]);
          // Filters over state.
          const open = await client.list(undefined, {
            filter: 'status = "open" AND score > 40',
            sort: "aggregate_id:asc",
          });
          assertEquals(open.items.map((a: { aggregateId: string }) => a.aggregateId), ["i-3"]);
          const either = await client.list(undefined, {
            filter: '(status = "closed" OR aggregate_id = "o-1") AND NOT archived = true',
            sort: "aggregate_id:asc",
          });
          assertEquals(
            either.items.map((a: { aggregateId: string }) => a.aggregateId),
            ["i-2", "i-4", "o-1"],
          );
          const badFilter = await refusal(() => client.list(undefined, { filter: "status = " }));
          assert(/^server error \(/.test(badFilter), badFilter);
          // Archived: hidden by default, included, or alone.
          const all = await client.list(undefined, { includeArchived: true, take: 10 });
          assertEquals(all.items.length, 6);
          const archived = await client.list(undefined, { archivedOnly: true });
          assertEquals(
            archived.items.map((a: { aggregateId: string; archived: boolean }) => [
              a.aggregateId,
              a.archived,
            ]),
            [["i-5", true]],
          );
        });

        await t.step("patch", async () => {
          const patched = await client.patch("order", "o-1", "order-patched", [
            { op: "replace", path: "/status", value: "paid" },
            { op: "add", path: "/paid_by", value: "card" },
          ], { note: "patched" });
          assertEquals(patched.version, 8);
          assertEquals(patched.state.status, "paid");
          assertEquals(patched.state.paid_by, "card");
          assertEquals(patched.state.total, 47);
          const bad = await refusal(() =>
            client.patch("order", "o-1", "order-patched", [
              { op: "test", path: "/status", value: "open" },
            ])
          );
          assert(/^server error \(/.test(bad), bad);
          assertEquals((await client.get("order", "o-1")).version, 8); // untouched
        });

        await t.step("archive and restore; apply on an archived aggregate refused", async () => {
          const archived = await client.archive("order", "o-1", { note: "done" });
          assertEquals([archived.aggregateId, archived.archived], ["o-1", true]);
          const message = await refusal(() =>
            client.apply("order", "o-1", "order-updated", { payload: { total: 1 } })
          );
          assert(/^server error \(aggregate_archived\)/.test(message), message);
          assertEquals((await client.get("order", "o-1")).version, 8);
          const restored = await client.restore("order", "o-1", { comment: "back" });
          assertEquals([restored.archived, restored.version], [false, 8]);
          const event = await client.apply("order", "o-1", "order-updated", {
            payload: { total: 50 },
          });
          assertEquals(event.version, 9);
        });

        await t.step("a per-call bad token is refused; a narrower one is held to it", async () => {
          const bad = await refusal(() =>
            client.apply("order", "o-1", "order-updated", {
              payload: { total: 1 },
              token: "invalid-integration-token",
            })
          );
          assert(/^server error \(invalid_token\)/.test(bad), bad);
          const listBad = await refusal(() => client.list(undefined, { token: "nope" }));
          assert(/^server error \(invalid_token\)/.test(listBad), listBad);
          const reader = await s.token({ actions: ["aggregate.read"] });
          const readOnly = await refusal(() =>
            client.apply("order", "o-1", "order-updated", { payload: { total: 1 }, token: reader })
          );
          assert(/^server error \(unauthorized\)/.test(readOnly), readOnly);
          const archive = await refusal(() => client.archive("order", "o-1", { token: reader }));
          assert(/^server error \(unauthorized\)/.test(archive), archive);
          // The per-call token is the one used: a read with it works.
          const page = await client.list(undefined, { token: reader });
          assert(page.items.length > 0);
          assertEquals((await client.get("order", "o-1")).version, 9); // untouched
          assert(await client.isConnected(), "refusals do not end the session");
        });

        await t.step("a payload over 8 KiB (a multi-segment message)", async () => {
          const blob = "x".repeat(20_000) + "é✓";
          const created = await client.create("blob", "b-1", "blob-created", {
            payload: { blob, n: 1 },
          });
          assertEquals(created.state.blob, blob);
          const event = await client.apply("blob", "b-1", "blob-updated", {
            payload: { blob: blob + "!" },
          });
          assertEquals(event.payload.blob, blob + "!");
          assertEquals((await client.get("blob", "b-1")).state.blob, blob + "!");
        });

        await t.step("disconnect", async () => {
          await client.disconnect();
          assert(!(await client.isConnected()), "isConnected after disconnect");
          assert(/not connected/.test(await refusal(() => client.get("order", "o-1"))));
        });
      } finally {
        await client.disconnect().catch(() => {});
        await proxy.close();
      }
      // The wire: the marker crossed it in the clear only in plaintext mode.
      assertEquals(proxy.sent().includes(MARKER), plaintext, `${mode}: marker on the wire`);
    }, { allowPlaintext: plaintext });
  });
}

Deno.test("official client: plaintext is refused when the server does not allow it", async () => {
  await withSocketServer(async (s) => {
    // Asked for plaintext, answered with Noise: the raw hello shows the server's choice.
    const raw = await RawConnection.open(s.port);
    try {
      const answer = await raw.hello(s.admin, { noNoise: true });
      assert(answer !== "closed" && answer.accepted, "the hello is accepted");
      assertEquals(answer.noNoise, false);
      await raw.noise(s.admin);
      const reply = await raw.exchange(getAggregateMessage(1n, "order", "o-1"));
      assert(reply !== "closed" && reply.body.kind === "getAggregate", "Noise works after it");
    } finally {
      raw.close();
    }
    const proxy = recordingProxy(s.port);
    const client = officialClient(proxy.port, s.admin, { noNoise: true });
    try {
      await client.connect();
      await client.create("order", "o-1", "order-created", { payload: { marker: MARKER } });
      assertEquals((await client.get("order", "o-1")).state.marker, MARKER);
    } finally {
      await client.disconnect().catch(() => {});
      await proxy.close();
    }
    assert(proxy.sent().length > 0, "the proxy saw the session");
    assert(!proxy.sent().includes(MARKER), "the payload crossed the wire encrypted");
  });
});
