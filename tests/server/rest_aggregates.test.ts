/**
 * Reading over REST: listings and paging, state, events, verify (also of
 * tampered data), Merkle proofs checked offline, snapshot/archive/restore.
 */
import { eventKey } from "../../src/engine/keys.ts";
import { verifyConsistencyJson, verifyInclusionJson } from "../../src/integrity/proof.ts";
import { assert, assertEquals, expectError, withRestServer } from "./_rest_setup.ts";

const ids = (list: { aggregate_id: string }[]) => list.map((a) => a.aggregate_id);
const versions = (list: { version: number }[]) => list.map((e) => e.version);

Deno.test("GET /v1/aggregates: list_page_size default, skip/take, page_limit cap, type filter", async () => {
  await withRestServer(async (s) => {
    for (const id of ["a1", "a2", "a3", "a4", "a5"]) await s.seed("patient", id);
    await s.seed("doctor", "d1");
    const first = await s.request("GET", "/v1/aggregates");
    assertEquals(first.status, 200);
    assertEquals(ids(first.json), ["d1", "a1", "a2"]);
    assertEquals(Object.keys(first.json[0]).sort(), [
      "aggregate_id",
      "aggregate_type",
      "archived",
      "created_at",
      "merkle_root",
      "updated_at",
      "version",
    ]);
    assertEquals(ids((await s.request("GET", "/v1/aggregates?skip=2&take=2")).json), ["a2", "a3"]);
    assertEquals(ids((await s.request("GET", "/v1/aggregates?take=100")).json).length, 4);
    assertEquals((await s.request("GET", "/v1/aggregates?take=0")).json, []);
    assertEquals((await s.request("GET", "/v1/aggregates?skip=99")).json, []);
    assertEquals(
      ids((await s.request("GET", "/v1/aggregates?aggregate_type=patient&skip=3")).json),
      ["a4", "a5"],
    );
    expectError(
      await s.request("GET", "/v1/aggregates?aggregate_type="),
      400,
      "invalid_input",
      "aggregate_type",
    );
  }, { config: { list_page_size: 3, page_limit: 4 } });
});

Deno.test("skip, take and version must be non-negative integers (400)", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001");
    for (const bad of ["-1", "abc", "1.5", "1e3", "", " ", "0x10", "99999999999999999999"]) {
      const q = encodeURIComponent(bad);
      for (
        const path of [
          `/v1/aggregates?skip=${q}`,
          `/v1/aggregates?take=${q}`,
          `/v1/aggregates/patient/p-001/events?skip=${q}`,
          `/v1/aggregates/patient/p-001/events?take=${q}`,
          `/v1/aggregates/patient/p-001/events/recent?take=${q}`,
          `/v1/aggregates/patient/p-001?version=${q}`,
          `/v1/aggregates/patient/p-001/proof/inclusion?version=${q}`,
          `/v1/aggregates/patient/p-001/proof/consistency?from=${q}`,
        ]
      ) {
        expectError(await s.request("GET", path), 400, "invalid_input", "non-negative integer");
      }
    }
  });
});

Deno.test("GET an aggregate: state, state at a version, 404 for unknown ones", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001", { name: "Jane", status: "new" });
    await s.seed("patient", "p-001", { status: "active", tags: ["a", 1] });
    const now = await s.request("GET", "/v1/aggregates/patient/p-001");
    assertEquals(now.status, 200);
    assertEquals(now.json.version, 2);
    assertEquals(now.json.archived, false);
    assertEquals(now.json.state, { name: "Jane", status: "active", tags: ["a", "1"] });
    const then = await s.request("GET", "/v1/aggregates/patient/p-001?version=1");
    assertEquals(then.json.state, { name: "Jane", status: "new" });
    assertEquals(then.json.version, 1);
    expectError(
      await s.request("GET", "/v1/aggregates/patient/p-001?version=3"),
      404,
      "not_found",
      "no version 3",
    );
    for (
      const suffix of ["", "/events", "/events/recent", "/verify", "/proof/inclusion?version=1"]
    ) {
      expectError(
        await s.request("GET", `/v1/aggregates/patient/p-404${suffix}`),
        404,
        "not_found",
        "patient/p-404",
      );
    }
    expectError(
      await s.request("GET", "/v1/aggregates/nobody/p-001"),
      404,
      "not_found",
    );
  });
});

Deno.test("GET events: default take is page_limit, skip/take page, take is capped", async () => {
  await withRestServer(async (s) => {
    for (let i = 0; i < 8; i++) await s.seed("patient", "p-001", { i });
    const all = await s.request("GET", "/v1/aggregates/patient/p-001/events");
    assertEquals(versions(all.json), [1, 2, 3, 4, 5, 6]);
    assertEquals(all.json[0].payload, { i: 0 });
    const page = await s.request("GET", "/v1/aggregates/patient/p-001/events?skip=2&take=3");
    assertEquals(versions(page.json), [3, 4, 5]);
    const capped = await s.request("GET", "/v1/aggregates/patient/p-001/events?skip=1&take=500");
    assertEquals(versions(capped.json), [2, 3, 4, 5, 6, 7]);
    assertEquals((await s.request("GET", "/v1/aggregates/patient/p-001/events?skip=8")).json, []);
  }, { config: { page_limit: 6 } });
});

Deno.test("GET events/recent: the latest take events, oldest first, default 10", async () => {
  await withRestServer(async (s) => {
    for (let i = 0; i < 12; i++) await s.seed("patient", "p-001", { i });
    const recent = await s.request("GET", "/v1/aggregates/patient/p-001/events/recent");
    assertEquals(versions(recent.json), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const five = await s.request("GET", "/v1/aggregates/patient/p-001/events/recent?take=5");
    assertEquals(versions(five.json), [8, 9, 10, 11, 12]);
    const none = await s.request("GET", "/v1/aggregates/patient/p-001/events/recent?take=0");
    assertEquals(none.json, []);
  });
});

Deno.test("GET verify: verified true, and false with first_bad_version after tampering", async () => {
  await withRestServer(async (s) => {
    for (let i = 0; i < 4; i++) await s.seed("patient", "p-001", { i });
    const good = await s.request("GET", "/v1/aggregates/patient/p-001/verify");
    assertEquals(good.status, 200);
    const head = (await s.request("GET", "/v1/aggregates/patient/p-001")).json;
    assertEquals(good.json, {
      aggregate_type: "patient",
      aggregate_id: "p-001",
      version: 4,
      merkle_root: head.merkle_root,
      verified: true,
    });
    // Overwrite event 3 with another event's bytes: readable, but the chain breaks there.
    const other = await s.storage.get(eventKey("patient", "p-001", 2));
    await s.storage.write(
      [{ type: "put", key: eventKey("patient", "p-001", 3), value: other! }],
      { sync: true },
    );
    const bad = await s.request("GET", "/v1/aggregates/patient/p-001/verify");
    assertEquals(bad.status, 200);
    assertEquals(bad.json.verified, false);
    assertEquals(bad.json.first_bad_version, 3);
    assertEquals(bad.json.version, 4);
    assertEquals(typeof bad.json.merkle_root, "string");
  });
});

Deno.test("inclusion and consistency proofs verify offline against the aggregate's roots", async () => {
  await withRestServer(async (s) => {
    const roots: string[] = [];
    for (let i = 0; i < 7; i++) {
      const reply = await s.request("POST", "/v1/aggregates/ledger/l-1/events", {
        body: { event_type: "entry", payload: { i } },
      });
      roots.push(reply.json.merkle_root);
    }
    const events = (await s.request("GET", "/v1/aggregates/ledger/l-1/events")).json;
    for (let version = 1; version <= 7; version++) {
      const proof = await s.request(
        "GET",
        `/v1/aggregates/ledger/l-1/proof/inclusion?version=${version}`,
      );
      assertEquals(proof.status, 200);
      assert(verifyInclusionJson(proof.json), `inclusion of ${version} does not verify`);
      assertEquals(proof.json.root, roots[6]);
      assertEquals(proof.json.event_hash, events[version - 1].hash);
      assertEquals(proof.json.aggregate_id, "l-1");
      // A proof altered in transit does not verify.
      const forged = { ...proof.json, leaf_index: (proof.json.leaf_index + 1) % 7 };
      assert(!verifyInclusionJson(forged));
    }
    const older = await s.request(
      "GET",
      "/v1/aggregates/ledger/l-1/proof/inclusion?version=2&tree_size=5",
    );
    assert(verifyInclusionJson(older.json));
    assertEquals(older.json.root, roots[4]);
    for (const [from, to] of [[1, 7], [3, 7], [4, 6], [7, 7]]) {
      const proof = await s.request(
        "GET",
        `/v1/aggregates/ledger/l-1/proof/consistency?from=${from}&to=${to}`,
      );
      assertEquals(proof.status, 200);
      assert(verifyConsistencyJson(proof.json), `consistency ${from}->${to} does not verify`);
      assertEquals(proof.json.old_root, roots[from - 1]);
      assertEquals(proof.json.new_root, roots[to - 1]);
    }
    const toHead = await s.request("GET", "/v1/aggregates/ledger/l-1/proof/consistency?from=2");
    assertEquals(toHead.json.new_size, 7);
    assert(verifyConsistencyJson(toHead.json));
    for (
      const path of [
        "/v1/aggregates/ledger/l-1/proof/inclusion",
        "/v1/aggregates/ledger/l-1/proof/inclusion?version=0",
        "/v1/aggregates/ledger/l-1/proof/inclusion?version=8",
        "/v1/aggregates/ledger/l-1/proof/inclusion?version=3&tree_size=2",
        "/v1/aggregates/ledger/l-1/proof/consistency",
        "/v1/aggregates/ledger/l-1/proof/consistency?from=0",
        "/v1/aggregates/ledger/l-1/proof/consistency?from=5&to=4",
        "/v1/aggregates/ledger/l-1/proof/consistency?from=1&to=9",
      ]
    ) {
      expectError(await s.request("GET", path), 400, "invalid_input");
    }
  });
});

Deno.test("snapshot, archive and restore: results, 409 on repeats, 404 and bad bodies", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001", { a: 1 });
    await s.seed("patient", "p-001", { b: 2 });
    const snap = await s.request("POST", "/v1/aggregates/patient/p-001/snapshot", {
      body: { comment: "before audit" },
    });
    assertEquals(snap.status, 200);
    assertEquals(snap.json, { aggregate_type: "patient", aggregate_id: "p-001", version: 2 });
    assertEquals((await s.engine.listSnapshots("patient", "p-001"))[0].comment, "before audit");
    // An empty body is fine for these.
    const archive = await s.request("POST", "/v1/aggregates/patient/p-001/archive");
    assertEquals(archive.json.version, 2);
    assertEquals((await s.request("GET", "/v1/aggregates/patient/p-001")).json.archived, true);
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p-001/archive"),
      409,
      "conflict",
      "already archived",
    );
    assertEquals((await s.request("POST", "/v1/aggregates/patient/p-001/restore")).status, 200);
    assertEquals((await s.request("GET", "/v1/aggregates/patient/p-001")).json.archived, false);
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p-001/restore"),
      409,
      "conflict",
    );
    for (const op of ["snapshot", "archive", "restore"]) {
      expectError(
        await s.request("POST", `/v1/aggregates/patient/p-404/${op}`),
        404,
        "not_found",
      );
      expectError(
        await s.request("POST", `/v1/aggregates/patient/p-001/${op}`, { body: { comment: 5 } }),
        400,
        "invalid_input",
        "comment",
      );
      expectError(
        await s.request("POST", `/v1/aggregates/patient/p-001/${op}`, { body: { why: "x" } }),
        400,
        "invalid_input",
        "why",
      );
      expectError(
        await s.request("POST", `/v1/aggregates/patient/p-001/${op}`, { body: "{" }),
        400,
        "invalid_input",
        "JSON",
      );
    }
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p-001/snapshot", {
        body: { comment: "c".repeat(129) },
      }),
      400,
      "invalid_input",
      "128",
    );
  });
});
