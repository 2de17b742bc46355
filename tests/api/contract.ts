/**
 * The API contract: one list of cases every implementation of `Api` must pass the same way
 * (in the spirit of Emmett's event-store contract suite). `contract.test.ts` runs it against
 * the in-process API, the API across a worker's message port and the HTTP client over REST.
 *
 * Every case opens a fresh implementation (an empty node), talks to it with token callers
 * only (all implementations support them), asserts exact results and error codes, and
 * closes it. Waits on subscriptions have deadlines of a few seconds, so a lost event fails
 * instead of hanging.
 *
 * A case an implementation fails is a bug in that implementation: the case is not
 * weakened; it is marked `ignore: true` with a comment naming the bug until it is fixed.
 */
import type { Api, Subscription } from "../../src/api/api.ts";
import type { Caller } from "../../src/api/caller.ts";
import type {
  AggregateRecord,
  AppendInput,
  EventRecord,
  OperationInput,
  OperationName,
  OperationResult,
  TokenInfo,
} from "../../src/api/operations.ts";
import { TokenAuthority } from "../../src/auth/authority.ts";
import type { ErrorCode } from "../../src/errors.ts";
import { canonicalJson, fromHex, leafHash, sha256, toHex } from "../../src/integrity/mod.ts";
import { verifyConsistencyJson, verifyInclusionJson } from "../../src/integrity/proof.ts";
import { assert, assertEquals, assertRejects } from "../_helpers/assert.ts";
import { randomDek } from "../_helpers/temp.ts";

/** An implementation under test, opened on a fresh, empty node. */
export interface OpenedApi {
  api: Api;
  /** A token with every scope, issued by the node to group "admin", user "root". */
  adminToken: string;
  /** Close the implementation and its node; remove what it created. */
  close(): Promise<void>;
}

/** Opens a fresh implementation (one per case). */
export type OpenApi = () => Promise<OpenedApi>;

/** One case, ready to register as a test. */
export interface ContractCase {
  name: string;
  ignore?: boolean;
  fn(): Promise<void>;
}

/** What a case body gets: the API, the admin caller and small helpers. */
interface Ctx {
  api: Api;
  admin: Caller;
  adminToken: string;
  /** Call as the admin token. */
  call<N extends OperationName>(name: N, input: OperationInput<N>): Promise<OperationResult<N>>;
  /** Call as another token. */
  callAs<N extends OperationName>(
    token: string,
    name: N,
    input: OperationInput<N>,
  ): Promise<OperationResult<N>>;
  /** Append one event as the admin; returns the record. */
  append(
    type: string,
    id: string,
    payload?: Record<string, unknown>,
    more?: Partial<AppendInput>,
  ): Promise<EventRecord>;
  /** Issue a token through the API (as the admin). */
  token(input: OperationInput<"generateToken">): Promise<string>;
}

type Body = (ctx: Ctx) => Promise<void>;

const tokenCaller = (token: string): Caller => ({ kind: "token", token });

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HEX_RE = /^[0-9a-f]{64}$/;
const ADMIN_BY = { group: "admin", user: "root" };
const EVERY_SCOPE = { actions: ["*"], resources: ["*"] };

/** Expect a DbxError with `code` (message non-empty). */
async function rejects(promise: Promise<unknown>, code: ErrorCode, what?: string): Promise<void> {
  const err = await assertRejects(() => promise, code).catch((e) => {
    throw new Error(`${what ?? "call"}: ${(e as Error).message}`);
  });
  assert(err.message.length > 0, "an error has a message");
}

/** The fields of an event record a caller chooses; the rest is checked for its form. */
interface ExpectedEvent {
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload: Record<string, unknown>;
  version: number;
  position: number;
  issued_by?: { group: string; user: string } | null;
  note?: string;
  event_id?: string;
}

/**
 * Check one event record exactly: the chosen fields, the form of the generated ones, the
 * hash over the canonical record, and (for version 1) the Merkle root of a one-leaf tree.
 */
function expectEvent(actual: EventRecord, expected: ExpectedEvent): void {
  const metadata = actual.metadata;
  assert(UUID_RE.test(metadata?.event_id), `event_id ${metadata?.event_id} is a UUID`);
  assert(TIME_RE.test(metadata.created_at), `created_at ${metadata.created_at} is RFC 3339 UTC`);
  assert(HEX_RE.test(actual.hash), `hash ${actual.hash} is SHA-256 hex`);
  assert(HEX_RE.test(actual.merkle_root), `merkle_root ${actual.merkle_root} is SHA-256 hex`);
  const wantMeta: Record<string, unknown> = {
    event_id: expected.event_id ?? metadata.event_id,
    created_at: metadata.created_at,
    issued_by: expected.issued_by === undefined ? ADMIN_BY : expected.issued_by,
  };
  if (expected.note !== undefined) wantMeta.note = expected.note;
  assertEquals(actual, {
    aggregate_type: expected.aggregate_type,
    aggregate_id: expected.aggregate_id,
    event_type: expected.event_type,
    payload: expected.payload,
    metadata: wantMeta,
    version: expected.version,
    hash: actual.hash,
    merkle_root: actual.merkle_root,
    position: expected.position,
  });
  const { hash: _h, merkle_root: _m, position: _p, ...covered } = actual;
  assertEquals(actual.hash, toHex(sha256(canonicalJson(covered))), "hash over the record");
  if (actual.version === 1) {
    assertEquals(actual.merkle_root, toHex(leafHash(fromHex(actual.hash))), "one-leaf root");
  }
}

/** Check an aggregate record exactly (timestamps by form). */
function expectAggregate(
  actual: AggregateRecord,
  expected: Omit<AggregateRecord, "created_at" | "updated_at">,
): void {
  assert(TIME_RE.test(actual.created_at), `created_at ${actual.created_at}`);
  assert(TIME_RE.test(actual.updated_at), `updated_at ${actual.updated_at}`);
  assertEquals(actual, {
    ...expected,
    created_at: actual.created_at,
    updated_at: actual.updated_at,
  });
}

/** Events of a subscription until `done` says so; fails after `ms` or when it closes. */
async function readUntil(
  sub: Subscription,
  done: (seen: EventRecord[]) => boolean,
  ms = 3000,
): Promise<EventRecord[]> {
  const deadline = Date.now() + ms;
  const seen: EventRecord[] = [];
  while (!done(seen)) {
    const left = deadline - Date.now();
    assert(left > 0, `subscription: not done within ${ms} ms (saw ${positions(seen)})`);
    const records = await sub.next(Math.min(left, 1000));
    assert(records !== null, `subscription closed early (saw ${positions(seen)})`);
    seen.push(...records);
  }
  return seen;
}

/** Nothing (more) arrives within `ms`. */
async function expectQuiet(sub: Subscription, ms = 300): Promise<void> {
  const deadline = Date.now() + ms;
  for (let left = ms; left > 0; left = deadline - Date.now()) {
    const records = await sub.next(left);
    assertEquals(records === null ? null : positions(records), [], "nothing more arrives");
  }
}

const positions = (records: readonly EventRecord[]) => records.map((r) => r.position);

/** A well-formed token signed by another node (a foreign key). */
async function foreignToken(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-contract-foreign-" });
  try {
    const authority = await TokenAuthority.open({ dataDir: dir, dek: randomDek() });
    try {
      return (await authority.generate({ group: "admin", user: "root" })).token;
    } finally {
      await authority.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The exact form of a token's info, with the generated fields taken from `info`. */
function expectTokenInfo(info: TokenInfo, expected: Partial<TokenInfo>): void {
  assert(UUID_RE.test(info.id), `token id ${info.id}`);
  assert(TIME_RE.test(info.issued_at), `issued_at ${info.issued_at}`);
  const want: Record<string, unknown> = {
    id: info.id,
    group: "?",
    user: "?",
    status: "active",
    issued_at: info.issued_at,
    expires_at: null,
    expiration: null,
    keep_alive: false,
    limit: null,
    used_writes: null,
    remaining_writes: null,
    actions: ["*"],
    resources: ["*"],
    ...expected,
  };
  assertEquals(info, want);
}

// ---------------------------------------------------------------------------
// The cases

const CASES: { name: string; ignore?: boolean; body: Body }[] = [];
const test = (name: string, body: Body, options: { ignore?: boolean } = {}) =>
  CASES.push({ name, body, ...options });

test("describeCaller names the token, its group, user and scope", async ({ call }) => {
  const me = await call("describeCaller", {});
  assert(UUID_RE.test(me.token_id ?? ""), `token_id ${me.token_id}`);
  assertEquals(me, {
    kind: "token",
    group: "admin",
    user: "root",
    token_id: me.token_id,
    ...EVERY_SCOPE,
  });
});

test("appendEvent writes one event (created true) and creates the aggregate", async (ctx) => {
  const result = await ctx.call("appendEvent", {
    aggregate_type: "patient",
    aggregate_id: "p-001",
    event_type: "patient-added",
    payload: { name: "Jane", age: 42, active: true, tags: ["a", 1], address: { zip: 1000 } },
    note: "first visit",
  });
  assertEquals(Object.keys(result).sort(), ["created", "event"]);
  assertEquals(result.created, true);
  expectEvent(result.event, {
    aggregate_type: "patient",
    aggregate_id: "p-001",
    event_type: "patient-added",
    payload: { name: "Jane", age: 42, active: true, tags: ["a", 1], address: { zip: 1000 } },
    version: 1,
    position: 1,
    note: "first visit",
  });
  const aggregate = await ctx.call("getAggregate", {
    aggregate_type: "patient",
    aggregate_id: "p-001",
  });
  expectAggregate(aggregate, {
    aggregate_type: "patient",
    aggregate_id: "p-001",
    version: 1,
    state: { name: "Jane", age: "42", active: "true", tags: ["a", "1"], address: { zip: "1000" } },
    merkle_root: result.event.merkle_root,
    archived: false,
  });
  assertEquals(aggregate.created_at, result.event.metadata.created_at);
  const events = await ctx.call("listEvents", { aggregate_type: "patient", aggregate_id: "p-001" });
  assertEquals(events, { items: [result.event] });

  const second = await ctx.append("patient", "p-001", { age: 43, note: null });
  expectEvent(second, {
    aggregate_type: "patient",
    aggregate_id: "p-001",
    event_type: "updated",
    payload: { age: 43, note: null },
    version: 2,
    position: 2,
  });
  const after = await ctx.call("getAggregate", {
    aggregate_type: "patient",
    aggregate_id: "p-001",
  });
  assertEquals(after.state, {
    name: "Jane",
    age: "43",
    active: "true",
    tags: ["a", "1"],
    address: { zip: "1000" },
    note: "",
  });
  assertEquals([after.version, after.merkle_root], [2, second.merkle_root]);
});

test("an idempotent retry with the same event_id returns the original record", async (ctx) => {
  const eventId = crypto.randomUUID();
  const input = {
    aggregate_type: "patient",
    aggregate_id: "p-001",
    event_type: "patient-added",
    payload: { name: "Jane" },
    event_id: eventId,
  };
  const first = await ctx.call("appendEvent", input);
  assertEquals(first.created, true);
  expectEvent(first.event, { ...input, version: 1, position: 1 });
  const retry = await ctx.call("appendEvent", input);
  assertEquals(retry, { event: first.event, created: false });
  const upper = await ctx.call("appendEvent", { ...input, event_id: eventId.toUpperCase() });
  assertEquals(upper, { event: first.event, created: false }, "the id is case-insensitive");
  const events = await ctx.call("listEvents", { aggregate_type: "patient", aggregate_id: "p-001" });
  assertEquals(events, { items: [first.event] }, "written once");
  const next = await ctx.append("patient", "p-001", { name: "Jo" });
  assertEquals([next.version, next.position], [2, 2], "no version or position was used up");
});

test("expected_version: a mismatch is a conflict and writes nothing", async (ctx) => {
  const ref = { aggregate_type: "order", aggregate_id: "o-1" };
  await rejects(
    ctx.call("appendEvent", { ...ref, event_type: "placed", payload: {}, expected_version: 1 }),
    "conflict",
    "a new aggregate is at version 0",
  );
  await rejects(ctx.call("getAggregate", ref), "not_found", "nothing was created");
  const first = await ctx.call("appendEvent", {
    ...ref,
    event_type: "placed",
    payload: { total: 1 },
    expected_version: 0,
  });
  expectEvent(first.event, {
    ...ref,
    event_type: "placed",
    payload: { total: 1 },
    version: 1,
    position: 1,
  });
  await rejects(
    ctx.call("appendEvent", { ...ref, event_type: "paid", payload: {}, expected_version: 0 }),
    "conflict",
  );
  await rejects(
    ctx.call("appendEvent", { ...ref, event_type: "paid", payload: {}, expected_version: 2 }),
    "conflict",
  );
  const second = await ctx.call("appendEvent", {
    ...ref,
    event_type: "paid",
    payload: { paid: true },
    expected_version: 1,
  });
  assertEquals([second.created, second.event.version, second.event.position], [true, 2, 2]);
  const events = await ctx.call("listEvents", ref);
  assertEquals(events, { items: [first.event, second.event] });
});

test("appendEvents commits a batch over several aggregates all-or-nothing", async (ctx) => {
  await ctx.append("account", "a-1", { balance: 10 });
  const batch = await ctx.call("appendEvents", {
    events: [
      { aggregate_type: "account", aggregate_id: "a-1", event_type: "debited", payload: { n: 1 } },
      { aggregate_type: "account", aggregate_id: "a-2", event_type: "opened", payload: { n: 2 } },
      {
        aggregate_type: "account",
        aggregate_id: "a-1",
        event_type: "credited",
        payload: { n: 3 },
        expected_version: 2,
      },
    ],
  });
  assertEquals(Object.keys(batch).sort(), ["created", "events"]);
  assertEquals(batch.created, true);
  assertEquals(batch.events.length, 3);
  expectEvent(batch.events[0], {
    aggregate_type: "account",
    aggregate_id: "a-1",
    event_type: "debited",
    payload: { n: 1 },
    version: 2,
    position: 2,
  });
  expectEvent(batch.events[1], {
    aggregate_type: "account",
    aggregate_id: "a-2",
    event_type: "opened",
    payload: { n: 2 },
    version: 1,
    position: 3,
  });
  expectEvent(batch.events[2], {
    aggregate_type: "account",
    aggregate_id: "a-1",
    event_type: "credited",
    payload: { n: 3 },
    version: 3,
    position: 4,
  });

  // One refused event refuses the whole batch: a conflict in the last one...
  await rejects(
    ctx.call("appendEvents", {
      events: [
        { aggregate_type: "account", aggregate_id: "a-3", event_type: "opened", payload: {} },
        { aggregate_type: "account", aggregate_id: "a-2", event_type: "x", payload: {} },
        {
          aggregate_type: "account",
          aggregate_id: "a-1",
          event_type: "x",
          payload: {},
          expected_version: 1,
        },
      ],
    }),
    "conflict",
  );
  // ... or bad input in the second.
  await rejects(
    ctx.call("appendEvents", {
      events: [
        { aggregate_type: "account", aggregate_id: "a-3", event_type: "opened", payload: {} },
        { aggregate_type: "account", aggregate_id: "a-2", event_type: "", payload: {} },
      ],
    }),
    "invalid_input",
  );
  await rejects(ctx.call("appendEvents", { events: [] }), "invalid_input", "an empty batch");
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "account", aggregate_id: "a-3" }),
    "not_found",
    "the refused batches created nothing",
  );
  const a2 = await ctx.call("listEvents", { aggregate_type: "account", aggregate_id: "a-2" });
  assertEquals(a2, { items: [batch.events[1]] });
  const next = await ctx.append("account", "a-3", {});
  assertEquals([next.version, next.position], [1, 5], "no position was used up");

  // A batch of events committed before (same ids) is an idempotent retry.
  const ids = [crypto.randomUUID(), crypto.randomUUID()];
  const retryable = {
    events: [
      {
        aggregate_type: "account",
        aggregate_id: "a-4",
        event_type: "opened",
        event_id: ids[0],
        payload: {},
      },
      {
        aggregate_type: "account",
        aggregate_id: "a-4",
        event_type: "noted",
        event_id: ids[1],
        payload: {},
      },
    ],
  };
  // An event with neither payload nor patch is refused: an empty payload is asked for.
  await rejects(
    ctx.call("appendEvents", {
      events: [{ aggregate_type: "account", aggregate_id: "a-4", event_type: "opened" }],
    }),
    "invalid_input",
  );
  const once = await ctx.call("appendEvents", retryable);
  assertEquals([once.created, once.events.map((e) => e.version)], [true, [1, 2]]);
  assertEquals(once.events.map((e) => e.payload), [{}, {}]);
  const twice = await ctx.call("appendEvents", retryable);
  assertEquals(twice, { events: once.events, created: false });
});

test("archive refuses appends with archived until restore", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-001" };
  const first = await ctx.append("patient", "p-001", { name: "Jane" });
  const archived = await ctx.call("archiveAggregate", { ...ref, comment: "moved away" });
  assertEquals(archived, { ...ref, version: 1 });
  const record = await ctx.call("getAggregate", ref);
  expectAggregate(record, {
    ...ref,
    version: 1,
    state: { name: "Jane" },
    merkle_root: first.merkle_root,
    archived: true,
  });
  await rejects(ctx.append("patient", "p-001", { name: "Jo" }), "archived");
  await rejects(
    ctx.call("appendEvents", {
      events: [
        { aggregate_type: "patient", aggregate_id: "p-002", event_type: "added", payload: {} },
        { ...ref, event_type: "updated", payload: {} },
      ],
    }),
    "archived",
    "a batch touching an archived aggregate",
  );
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "p-002" }),
    "not_found",
  );
  const events = await ctx.call("listEvents", ref);
  assertEquals(events, { items: [first] }, "reads still work; nothing was appended");

  const restored = await ctx.call("restoreAggregate", ref);
  assertEquals(restored, { ...ref, version: 1 });
  assertEquals((await ctx.call("getAggregate", ref)).archived, false);
  const next = await ctx.append("patient", "p-001", { name: "Jo" });
  assertEquals([next.version, next.position], [2, 2]);
  await rejects(
    ctx.call("archiveAggregate", { aggregate_type: "patient", aggregate_id: "p-404" }),
    "not_found",
  );
  await rejects(
    ctx.call("restoreAggregate", { aggregate_type: "patient", aggregate_id: "p-404" }),
    "not_found",
  );
});

test("getAggregate at a version rebuilds the state of that version", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-001" };
  const e1 = await ctx.append("patient", "p-001", { name: "Jane", status: "new" });
  const e2 = await ctx.append("patient", "p-001", { status: "active" });
  const e3 = await ctx.append("patient", "p-001", { name: "Jo", city: "Oslo" });
  const at = (version: number) => ctx.call("getAggregate", { ...ref, version });
  const v1 = await at(1);
  expectAggregate(v1, {
    ...ref,
    version: 1,
    state: { name: "Jane", status: "new" },
    merkle_root: e1.merkle_root,
    archived: false,
  });
  const v2 = await at(2);
  assertEquals([v2.version, v2.state, v2.merkle_root], [
    2,
    { name: "Jane", status: "active" },
    e2.merkle_root,
  ]);
  const v3 = await at(3);
  const current = await ctx.call("getAggregate", ref);
  assertEquals(v3, current);
  assertEquals([current.version, current.state, current.merkle_root], [
    3,
    { name: "Jo", status: "active", city: "Oslo" },
    e3.merkle_root,
  ]);
  await rejects(at(4), "not_found", "a version after the last");
  await rejects(at(-1), "invalid_input", "a negative version");
});

test("listEvents pages with next, and the last page has no next", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-001" };
  const all: EventRecord[] = [];
  for (let n = 1; n <= 5; n++) all.push(await ctx.append("patient", "p-001", { n }));
  assertEquals(await ctx.call("listEvents", ref), { items: all });
  assertEquals(await ctx.call("listEvents", { ...ref, take: 2 }), {
    items: all.slice(0, 2),
    next: 2,
  });
  assertEquals(await ctx.call("listEvents", { ...ref, skip: 2, take: 2 }), {
    items: all.slice(2, 4),
    next: 4,
  });
  const last = await ctx.call("listEvents", { ...ref, skip: 4, take: 2 });
  assertEquals(last, { items: all.slice(4) });
  assert(!Object.hasOwn(last, "next"), "the last page has no next");
  assertEquals(await ctx.call("listEvents", { ...ref, skip: 3, take: 2 }), {
    items: all.slice(3),
  });
  assertEquals(await ctx.call("listEvents", { ...ref, skip: 9 }), { items: [] });
});

test("listAggregates pages with next, filters by type and includes state", async (ctx) => {
  const records: EventRecord[] = [];
  for (const id of ["p-3", "p-1", "p-5", "p-2", "p-4"]) {
    records.push(await ctx.append("patient", id, { id }));
  }
  await ctx.append("invoice", "i-1", { total: 5 });
  const summary = (id: string) => {
    const record = records.find((r) => r.aggregate_id === id)!;
    return {
      aggregate_type: "patient",
      aggregate_id: id,
      version: 1,
      merkle_root: record.merkle_root,
      archived: false,
      created_at: record.metadata.created_at,
      updated_at: record.metadata.created_at,
    };
  };
  const ids = ["p-1", "p-2", "p-3", "p-4", "p-5"];
  const patients = { aggregate_type: "patient" };
  const page1 = await ctx.call("listAggregates", { ...patients, take: 2 });
  assertEquals(page1, { items: ids.slice(0, 2).map(summary), next: 2 });
  const page2 = await ctx.call("listAggregates", { ...patients, skip: 2, take: 2 });
  assertEquals(page2, { items: ids.slice(2, 4).map(summary), next: 4 });
  const page3 = await ctx.call("listAggregates", { ...patients, skip: 4, take: 2 });
  assertEquals(page3, { items: ids.slice(4).map(summary) });
  assert(!Object.hasOwn(page3, "next"), "the last page has no next");
  const exact = await ctx.call("listAggregates", { ...patients, skip: 3, take: 2 });
  assertEquals(exact, { items: ids.slice(3).map(summary) });

  const everything = await ctx.call("listAggregates", {});
  assertEquals(everything.items.map((a) => `${a.aggregate_type}/${a.aggregate_id}`), [
    "invoice/i-1",
    ...ids.map((id) => `patient/${id}`),
  ]);
  assert(!Object.hasOwn(everything, "next"));
  const withState = await ctx.call("listAggregates", {
    aggregate_type: "invoice",
    include_state: true,
  });
  assertEquals(withState.items.map((a) => [a.aggregate_id, a.state]), [["i-1", { total: "5" }]]);
  assertEquals(await ctx.call("listAggregates", { aggregate_type: "nothing" }), { items: [] });
});

test("recentEvents gives the newest events, oldest first", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-001" };
  const all: EventRecord[] = [];
  for (let n = 1; n <= 12; n++) all.push(await ctx.append("patient", "p-001", { n }));
  assertEquals(await ctx.call("recentEvents", { ...ref, take: 3 }), all.slice(9));
  assertEquals(await ctx.call("recentEvents", ref), all.slice(2), "10 by default");
  assertEquals(await ctx.call("recentEvents", { ...ref, take: 50 }), all);
  await rejects(
    ctx.call("recentEvents", { aggregate_type: "patient", aggregate_id: "p-404" }),
    "not_found",
  );
});

test("verifyAggregate reports a verified root and version", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-001" };
  await ctx.append("patient", "p-001", { n: 1 });
  await ctx.append("patient", "p-001", { n: 2 });
  const last = await ctx.append("patient", "p-001", { n: 3 });
  assertEquals(await ctx.call("verifyAggregate", ref), {
    ...ref,
    version: 3,
    merkle_root: last.merkle_root,
    verified: true,
  });
});

test("inclusion and consistency proofs verify without the server", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-001" };
  const all: EventRecord[] = [];
  for (let n = 1; n <= 5; n++) all.push(await ctx.append("patient", "p-001", { n }));

  const inclusion = await ctx.call("inclusionProof", { ...ref, version: 2 });
  assertEquals(inclusion, {
    ...ref,
    version: 2,
    event_hash: all[1].hash,
    leaf_index: 1,
    tree_size: 5,
    leaf_hash: toHex(leafHash(fromHex(all[1].hash))),
    audit_path: inclusion.audit_path,
    root: all[4].merkle_root,
  });
  assertEquals(inclusion.audit_path.length, 3);
  assert(verifyInclusionJson(inclusion), "the inclusion proof verifies");
  assert(!verifyInclusionJson({ ...inclusion, root: all[3].merkle_root }), "a wrong root fails");

  const older = await ctx.call("inclusionProof", { ...ref, version: 2, tree_size: 3 });
  assertEquals([older.tree_size, older.root], [3, all[2].merkle_root]);
  assert(verifyInclusionJson(older));

  const consistency = await ctx.call("consistencyProof", { ...ref, from: 2 });
  assertEquals(consistency, {
    ...ref,
    old_size: 2,
    new_size: 5,
    old_root: all[1].merkle_root,
    new_root: all[4].merkle_root,
    consistency_path: consistency.consistency_path,
  });
  assert(verifyConsistencyJson(consistency), "the consistency proof verifies");
  const partial = await ctx.call("consistencyProof", { ...ref, from: 3, to: 4 });
  assertEquals([partial.old_root, partial.new_root], [all[2].merkle_root, all[3].merkle_root]);
  assert(verifyConsistencyJson(partial));

  await rejects(ctx.call("inclusionProof", { ...ref, version: 6 }), "invalid_input");
  await rejects(ctx.call("inclusionProof", { ...ref, version: 0 }), "invalid_input");
  await rejects(ctx.call("consistencyProof", { ...ref, from: 2, to: 9 }), "invalid_input");
  await rejects(
    ctx.call("inclusionProof", { aggregate_type: "patient", aggregate_id: "p-404", version: 1 }),
    "not_found",
  );
  await rejects(
    ctx.call("consistencyProof", { aggregate_type: "patient", aggregate_id: "p-404", from: 1 }),
    "not_found",
  );
});

test("snapshotAggregate records the current version; reads are unchanged", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-001" };
  await ctx.append("patient", "p-001", { name: "Jane" });
  await ctx.append("patient", "p-001", { status: "active" });
  const before = await ctx.call("getAggregate", ref);
  assertEquals(await ctx.call("snapshotAggregate", { ...ref, comment: "nightly" }), {
    ...ref,
    version: 2,
  });
  assertEquals(await ctx.call("getAggregate", ref), before);
  await ctx.append("patient", "p-001", { status: "gone" });
  assertEquals((await ctx.call("getAggregate", { ...ref, version: 2 })).state, before.state);
  assertEquals((await ctx.call("getAggregate", ref)).state, { name: "Jane", status: "gone" });
  assertEquals((await ctx.call("verifyAggregate", ref)).verified, true);
  await rejects(
    ctx.call("snapshotAggregate", { aggregate_type: "patient", aggregate_id: "p-404" }),
    "not_found",
  );
});

test("schemas: create, get, list, alter, violation, delete", async (ctx) => {
  assertEquals(await ctx.call("listSchemas", {}), []);
  const created = await ctx.call("createSchema", {
    aggregate: "invoice",
    events: ["invoice-paid", "invoice-issued"],
    snapshot_threshold: 5,
  });
  assert(TIME_RE.test(created.created_at) && TIME_RE.test(created.updated_at));
  assertEquals(created, {
    aggregate: "invoice",
    events: { "invoice-issued": { fields: [] }, "invoice-paid": { fields: [] } },
    snapshot_threshold: 5,
    locked: false,
    field_locks: [],
    columns: {},
    created_at: created.created_at,
    updated_at: created.updated_at,
  });
  assertEquals(await ctx.call("getSchema", { aggregate: "invoice" }), created);
  assertEquals(await ctx.call("listSchemas", {}), [created]);
  await rejects(
    ctx.call("createSchema", { aggregate: "invoice", events: [] }),
    "conflict",
    "a second create",
  );

  const altered = await ctx.call("alterSchema", {
    aggregate: "invoice",
    changes: {
      column: { field: "amount", type: "integer", rules: { required: true } },
      event_fields: { event: "invoice-issued", add: ["amount", "customer"] },
    },
  });
  assertEquals(altered, {
    ...created,
    events: {
      "invoice-issued": { fields: ["amount", "customer"] },
      "invoice-paid": { fields: [] },
    },
    columns: { amount: { type: "integer", rules: { required: true } } },
    updated_at: altered.updated_at,
  });
  assertEquals(await ctx.call("getSchema", { aggregate: "invoice" }), altered);

  const ok = await ctx.append("invoice", "i-1", { amount: 12, customer: "c-1" }, {
    event_type: "invoice-issued",
  });
  assertEquals([ok.version, ok.event_type], [1, "invoice-issued"]);
  await rejects(
    ctx.append("invoice", "i-1", { amount: "twelve" }, { event_type: "invoice-issued" }),
    "schema_violation",
    "a field of the wrong type",
  );
  await rejects(
    ctx.append("invoice", "i-1", { customer: "c-1" }, { event_type: "invoice-issued" }),
    "schema_violation",
    "a required field missing",
  );
  await rejects(
    ctx.append("invoice", "i-1", { other: 1 }, { event_type: "invoice-issued" }),
    "schema_violation",
    "a field the event does not permit",
  );
  await rejects(
    ctx.append("invoice", "i-1", {}, { event_type: "invoice-voided" }),
    "schema_violation",
    "an undeclared event",
  );
  assertEquals(
    (await ctx.call("getAggregate", { aggregate_type: "invoice", aggregate_id: "i-1" }))
      .version,
    1,
    "nothing refused was written",
  );

  assertEquals(await ctx.call("deleteSchema", { aggregate: "invoice" }), {
    aggregate: "invoice",
    deleted: true,
  });
  await rejects(ctx.call("getSchema", { aggregate: "invoice" }), "not_found");
  await rejects(ctx.call("deleteSchema", { aggregate: "invoice" }), "not_found");
  assertEquals(await ctx.call("listSchemas", {}), []);
  const free = await ctx.append("invoice", "i-1", {}, { event_type: "invoice-voided" });
  assertEquals(free.version, 2, "without a schema anything goes (restrict = default)");
});

test("tokens: generate, list, refresh, revoke", async (ctx) => {
  const me = await ctx.call("describeCaller", {});
  const issued = await ctx.call("generateToken", {
    group: "ops",
    user: "alice",
    expiration: 3600,
    actions: ["aggregate.read"],
  });
  assertEquals(Object.keys(issued).sort(), ["info", "token"]);
  assert(/^[\w-]+\.[\w-]+\.[\w-]+$/.test(issued.token), "a JWT");
  const expires = Date.parse(issued.info.expires_at ?? "");
  const issuedAt = Date.parse(issued.info.issued_at);
  assertEquals(expires - issuedAt, 3600_000, "expires after the lifetime");
  expectTokenInfo(issued.info, {
    group: "ops",
    user: "alice",
    expires_at: issued.info.expires_at,
    expiration: 3600,
    actions: ["aggregate.read"],
  });
  const alice = await ctx.callAs(issued.token, "describeCaller", {});
  assertEquals(alice, {
    kind: "token",
    group: "ops",
    user: "alice",
    token_id: issued.info.id,
    actions: ["aggregate.read"],
    resources: ["*"],
  });

  const listed = await ctx.call("listTokens", {});
  assertEquals(listed.map((t) => t.id), [me.token_id, issued.info.id], "oldest first");
  assertEquals(listed[1], issued.info);
  await rejects(ctx.callAs(issued.token, "listTokens", {}), "forbidden", "no token.manage");

  const refreshed = await ctx.call("refreshToken", { token: issued.token, expiration: 7200 });
  assert(refreshed.token !== issued.token, "a new string");
  assert(TIME_RE.test(refreshed.info.refreshed_at ?? ""), "refreshed_at");
  assertEquals(
    Date.parse(refreshed.info.expires_at ?? "") - Date.parse(refreshed.info.refreshed_at!),
    7200_000,
  );
  expectTokenInfo(refreshed.info, {
    group: "ops",
    user: "alice",
    expires_at: refreshed.info.expires_at,
    expiration: 7200,
    actions: ["aggregate.read"],
    refreshed_at: refreshed.info.refreshed_at,
  });
  assertEquals(refreshed.info.id, issued.info.id, "same token id");
  assertEquals((await ctx.callAs(refreshed.token, "describeCaller", {})).token_id, issued.info.id);
  assertEquals((await ctx.callAs(issued.token, "describeCaller", {})).token_id, issued.info.id);

  const revoked = await ctx.call("revokeToken", { token: issued.token });
  assert(TIME_RE.test(revoked.revoked_at ?? ""), "revoked_at");
  assertEquals(revoked, { ...refreshed.info, status: "revoked", revoked_at: revoked.revoked_at });
  await rejects(ctx.callAs(issued.token, "describeCaller", {}), "unauthorized", "revoked");
  await rejects(ctx.callAs(refreshed.token, "describeCaller", {}), "unauthorized", "same id");
  await rejects(ctx.call("refreshToken", { token: issued.token, expiration: 60 }), "conflict");
  const again = await ctx.call("revokeToken", { token: issued.info.id });
  assertEquals(again, revoked, "revoking again (by id) reports the first revocation");
  const after = await ctx.call("listTokens", {});
  assertEquals(after.map((t) => [t.id, t.status]), [
    [me.token_id, "active"],
    [issued.info.id, "revoked"],
  ]);
  await rejects(ctx.call("revokeToken", { token: crypto.randomUUID() }), "not_found");
  await rejects(
    ctx.call("generateToken", { group: "ops", user: "bob", actions: ["aggregate.fly"] }),
    "invalid_input",
  );
  await rejects(ctx.call("generateToken", { group: "", user: "bob" }), "invalid_input");
});

test("a scoped token reads only its aggregate", async (ctx) => {
  const p1 = await ctx.append("patient", "p-1", { name: "Ann" });
  await ctx.append("patient", "p-2", { name: "Bob" });
  await ctx.append("invoice", "i-1", { total: 1 });
  const auditor = await ctx.token({
    group: "audit",
    user: "carol",
    actions: ["aggregate.read"],
    resources: ["aggregate:patient:p-1"],
  });
  const ref1 = { aggregate_type: "patient", aggregate_id: "p-1" };
  const ref2 = { aggregate_type: "patient", aggregate_id: "p-2" };
  const listed = await ctx.callAs(auditor, "listAggregates", {});
  assertEquals(listed.items.map((a) => a.aggregate_id), ["p-1"]);
  assert(!Object.hasOwn(listed, "next"));
  assertEquals(await ctx.callAs(auditor, "listAggregates", { take: 1 }), {
    items: listed.items,
  });
  assertEquals(
    await ctx.callAs(auditor, "getAggregate", ref1),
    await ctx.call("getAggregate", ref1),
  );
  assertEquals(await ctx.callAs(auditor, "listEvents", ref1), { items: [p1] });
  assertEquals((await ctx.callAs(auditor, "verifyAggregate", ref1)).verified, true);
  await rejects(ctx.callAs(auditor, "getAggregate", ref2), "forbidden", "another aggregate");
  await rejects(ctx.callAs(auditor, "listEvents", ref2), "forbidden");
  await rejects(ctx.callAs(auditor, "recentEvents", ref2), "forbidden");
  await rejects(ctx.callAs(auditor, "verifyAggregate", ref2), "forbidden");
  await rejects(ctx.callAs(auditor, "inclusionProof", { ...ref2, version: 1 }), "forbidden");
  await rejects(
    ctx.callAs(auditor, "getAggregate", { aggregate_type: "patient", aggregate_id: "p-404" }),
    "forbidden",
    "an aggregate outside the scope is forbidden, even when it does not exist",
  );
  await rejects(
    ctx.callAs(auditor, "appendEvent", { ...ref1, event_type: "x", payload: {} }),
    "forbidden",
    "no append scope",
  );
  await rejects(ctx.callAs(auditor, "archiveAggregate", ref1), "forbidden");
  await rejects(ctx.callAs(auditor, "listSchemas", {}), "forbidden", "no schema.read");
  await rejects(
    ctx.callAs(auditor, "generateToken", { group: "audit", user: "x" }),
    "forbidden",
    "no token.manage",
  );
  assertEquals((await ctx.call("getAggregate", ref1)).version, 1, "nothing was written");
});

test("a write-limited token is refused with limit_reached after its limit", async (ctx) => {
  const issued = await ctx.call("generateToken", { group: "app", user: "writer", limit: 3 });
  expectTokenInfo(issued.info, {
    group: "app",
    user: "writer",
    limit: 3,
    used_writes: 0,
    remaining_writes: 3,
  });
  const writer = issued.token;
  const first = await ctx.callAs(writer, "appendEvent", {
    aggregate_type: "patient",
    aggregate_id: "p-1",
    event_type: "added",
    payload: {},
  });
  expectEvent(first.event, {
    aggregate_type: "patient",
    aggregate_id: "p-1",
    event_type: "added",
    payload: {},
    version: 1,
    position: 1,
    issued_by: { group: "app", user: "writer" },
  });
  const ev = (n: number) => ({
    aggregate_type: "patient",
    aggregate_id: "p-1",
    event_type: "updated",
    payload: { n },
  });
  await rejects(
    ctx.callAs(writer, "appendEvents", { events: [ev(1), ev(2), ev(3)] }),
    "limit_reached",
    "a batch larger than what is left is refused whole",
  );
  const batch = await ctx.callAs(writer, "appendEvents", { events: [ev(1), ev(2)] });
  assertEquals(batch.events.map((e) => e.version), [2, 3]);
  await rejects(ctx.callAs(writer, "appendEvent", ev(3)), "limit_reached");
  assertEquals(
    (await ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }))
      .version,
    3,
  );
  const reads = await ctx.callAs(writer, "listEvents", {
    aggregate_type: "patient",
    aggregate_id: "p-1",
  });
  assertEquals(reads.items.length, 3, "reads are not writes");
  const listed = (await ctx.call("listTokens", {})).find((t) => t.id === issued.info.id)!;
  expectTokenInfo(listed, {
    group: "app",
    user: "writer",
    status: "exhausted",
    limit: 3,
    used_writes: 3,
    remaining_writes: 0,
  });
  const refreshed = await ctx.call("refreshToken", { token: writer, limit: 1 });
  assertEquals(
    [refreshed.info.limit, refreshed.info.used_writes, refreshed.info.remaining_writes],
    [
      4,
      3,
      1,
    ],
  );
  assertEquals((await ctx.callAs(writer, "appendEvent", ev(4))).event.version, 4);
  await rejects(ctx.callAs(writer, "appendEvent", ev(5)), "limit_reached");
});

test("an unknown, garbage or foreign token is unauthorized", async (ctx) => {
  const foreign = await foreignToken();
  // The admin token's header and claims with another signature.
  const [header, claims] = ctx.adminToken.split(".");
  const tampered = `${header}.${claims}.${"A".repeat(86)}`;
  for (const token of ["garbage", "a.b.c", foreign, tampered]) {
    await rejects(ctx.callAs(token, "describeCaller", {}), "unauthorized", token.slice(0, 12));
    await rejects(
      ctx.callAs(token, "getAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }),
      "unauthorized",
    );
    await rejects(
      ctx.callAs(token, "appendEvent", {
        aggregate_type: "patient",
        aggregate_id: "p-1",
        event_type: "added",
        payload: {},
      }),
      "unauthorized",
    );
    await rejects(ctx.api.subscribe(tokenCaller(token), { after: 0 }), "unauthorized");
  }
  await rejects(
    ctx.callAs("garbage", "appendEvent", {
      aggregate_type: "",
      aggregate_id: "p-1",
      event_type: "added",
    }),
    "unauthorized",
    "a bad token is the answer even when the input is bad too",
  );
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }),
    "not_found",
    "nothing was written",
  );
});

test("not_found for what does not exist", async (ctx) => {
  const missing = { aggregate_type: "patient", aggregate_id: "p-404" };
  await ctx.append("patient", "p-1", {});
  await rejects(ctx.call("getAggregate", missing), "not_found");
  await rejects(ctx.call("getAggregate", { ...missing, version: 1 }), "not_found");
  await rejects(ctx.call("listEvents", missing), "not_found");
  await rejects(ctx.call("recentEvents", missing), "not_found");
  await rejects(ctx.call("verifyAggregate", missing), "not_found");
  await rejects(ctx.call("removeAggregate", missing), "not_found");
  await rejects(ctx.call("getSchema", { aggregate: "patient" }), "not_found");
  await rejects(
    ctx.call("alterSchema", { aggregate: "patient", changes: { locked: true } }),
    "not_found",
  );
  await rejects(
    ctx.call("refreshToken", { token: crypto.randomUUID(), expiration: 60 }),
    "not_found",
  );
});

test("bad input is invalid_input", async (ctx) => {
  const ev = { aggregate_type: "patient", aggregate_id: "p-1", event_type: "added", payload: {} };
  const bad: [string, unknown][] = [
    ["an empty aggregate type", { ...ev, aggregate_type: "" }],
    ["an empty aggregate id", { ...ev, aggregate_id: "" }],
    ["an empty event type", { ...ev, event_type: "" }],
    ["no event type", { aggregate_type: "patient", aggregate_id: "p-1", payload: {} }],
    ["a control character in the id", { ...ev, aggregate_id: "p\u00011" }],
    ["a name over 128 bytes", { ...ev, aggregate_id: "é".repeat(65) }],
    ["a payload that is a list", { ...ev, payload: [1, 2] }],
    ["a payload that is a string", { ...ev, payload: "x" }],
    ["an empty field name", { ...ev, payload: { "": 1 } }],
    ["payload and patch", { ...ev, patch: [{ op: "add", path: "/a", value: 1 }] }],
    ["a note over 128 characters", { ...ev, note: "n".repeat(129) }],
    ["an event id that is no UUID", { ...ev, event_id: "not-a-uuid" }],
    ["a negative expected_version", { ...ev, expected_version: -1 }],
    ["a fractional expected_version", { ...ev, expected_version: 1.5 }],
    ["an unknown field", { ...ev, colour: "red" }],
  ];
  for (const [what, input] of bad) {
    await rejects(ctx.call("appendEvent", input as AppendInput), "invalid_input", what);
    await rejects(ctx.call("stageEvent", input as AppendInput), "invalid_input", `stage: ${what}`);
  }
  await rejects(
    ctx.call("appendEvents", { events: [ev, { ...ev, aggregate_type: "" }] }),
    "invalid_input",
  );
  const ref = { aggregate_type: "patient", aggregate_id: "p-1" };
  await rejects(ctx.call("listEvents", { ...ref, take: -1 }), "invalid_input", "take -1");
  await rejects(ctx.call("listEvents", { ...ref, skip: 1.5 }), "invalid_input", "skip 1.5");
  await rejects(ctx.call("listAggregates", { take: -1 }), "invalid_input", "list take -1");
  await rejects(ctx.call("createSchema", { aggregate: "", events: [] }), "invalid_input");
  await rejects(
    ctx.call("createSchema", { aggregate: "invoice", events: "paid" as unknown as string[] }),
    "invalid_input",
  );
  await rejects(
    ctx.call("generateToken", { group: "ops", user: "bob", limit: -1 }),
    "invalid_input",
  );
  assertEquals(await ctx.call("listAggregates", {}), { items: [] }, "nothing was written");
  assertEquals(await ctx.call("listStaged", {}), { items: [] }, "nothing was staged");
});

test("an empty aggregate type, id or schema name in a path is invalid_input", async (ctx) => {
  await ctx.append("patient", "p-1", {});
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "", aggregate_id: "p-1" }),
    "invalid_input",
    "empty type",
  );
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "" }),
    "invalid_input",
    "empty id",
  );
  await rejects(
    ctx.call("listEvents", { aggregate_type: "", aggregate_id: "p-1" }),
    "invalid_input",
  );
  await rejects(
    ctx.call("archiveAggregate", { aggregate_type: "patient", aggregate_id: "" }),
    "invalid_input",
  );
  await rejects(ctx.call("getSchema", { aggregate: "" }), "invalid_input");
  await rejects(ctx.call("deleteSchema", { aggregate: "" }), "invalid_input");
});

test("unknown input fields are invalid_input", async (ctx) => {
  await ctx.append("patient", "p-1", {});
  const ref = { aggregate_type: "patient", aggregate_id: "p-1" };
  await rejects(
    ctx.call("getAggregate", { ...ref, colour: "red" } as OperationInput<"getAggregate">),
    "invalid_input",
  );
  await rejects(
    ctx.call("listAggregates", { colour: "red" } as OperationInput<"listAggregates">),
    "invalid_input",
  );
  await rejects(
    ctx.call("listEvents", { ...ref, page: 2 } as OperationInput<"listEvents">),
    "invalid_input",
  );
  await rejects(
    ctx.call("appendEvents", {
      events: [{ ...ref, event_type: "x", payload: {} }],
      atomic: false,
    } as OperationInput<"appendEvents">),
    "invalid_input",
  );
  await ctx.call("createSchema", { aggregate: "invoice", events: ["issued"] });
  await rejects(
    ctx.call("deleteSchema", { aggregate: "invoice", force: true } as OperationInput<
      "deleteSchema"
    >),
    "invalid_input",
  );
  await rejects(
    ctx.api.subscribe(ctx.admin, { after: 0, types: ["patient"] } as { after: number }),
    "invalid_input",
  );
  assertEquals((await ctx.call("getAggregate", ref)).version, 1, "nothing was appended");
  assertEquals((await ctx.call("listSchemas", {})).length, 1, "nothing was deleted");
});

test("names with separators and non-ASCII characters round-trip", async (ctx) => {
  const ref = { aggregate_type: "pa tient/x", aggregate_id: "a/b?c#d %20 é ✓ .." };
  const first = await ctx.call("appendEvent", { ...ref, event_type: "ad/ded?", payload: {} });
  expectEvent(first.event, {
    ...ref,
    event_type: "ad/ded?",
    payload: {},
    version: 1,
    position: 1,
  });
  const record = await ctx.call("getAggregate", ref);
  assertEquals([record.aggregate_type, record.aggregate_id, record.version], [
    ref.aggregate_type,
    ref.aggregate_id,
    1,
  ]);
  assertEquals(await ctx.call("listEvents", ref), { items: [first.event] });
  assertEquals((await ctx.call("verifyAggregate", ref)).verified, true);
  assertEquals(await ctx.call("archiveAggregate", ref), { ...ref, version: 1 });
  assertEquals(await ctx.call("restoreAggregate", ref), { ...ref, version: 1 });
  const listed = await ctx.call("listAggregates", { aggregate_type: ref.aggregate_type });
  assertEquals(listed.items.map((a) => a.aggregate_id), [ref.aggregate_id]);
});

test("staging: stage, list, remove a staged-only aggregate, commit", async (ctx) => {
  assertEquals(await ctx.call("listStaged", {}), { items: [] });
  assertEquals(await ctx.call("commitStaged", {}), { committed: 0, events: [] });
  const ev = (id: string, n: number) => ({
    aggregate_type: "patient",
    aggregate_id: id,
    event_type: "added",
    payload: { n },
  });
  const s1 = await ctx.call("stageEvent", ev("p-1", 1));
  assert(TIME_RE.test(s1.event.staged_at), `staged_at ${s1.event.staged_at}`);
  assertEquals(s1, { staged: 1, event: { ...ev("p-1", 1), staged_at: s1.event.staged_at } });
  const s2 = await ctx.call("stageEvent", ev("p-2", 2));
  assertEquals(s2.staged, 2);
  const s3 = await ctx.call("stageEvent", { ...ev("p-1", 3), note: "third" });
  assertEquals(s3, {
    staged: 3,
    event: { ...ev("p-1", 3), note: "third", staged_at: s3.event.staged_at },
  });
  assertEquals(await ctx.call("listStaged", {}), { items: [s1.event, s2.event, s3.event] });
  assertEquals(await ctx.call("listStaged", { take: 2 }), { items: [s1.event, s2.event], next: 2 });
  const lastPage = await ctx.call("listStaged", { skip: 2, take: 2 });
  assertEquals(lastPage, { items: [s3.event] });
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }),
    "not_found",
    "staged events are not committed",
  );

  assertEquals(
    await ctx.call("removeAggregate", { aggregate_type: "patient", aggregate_id: "p-2" }),
    { aggregate_type: "patient", aggregate_id: "p-2", removed_staged: 1 },
  );
  assertEquals(await ctx.call("listStaged", {}), { items: [s1.event, s3.event] });

  const committed = await ctx.call("commitStaged", {});
  assertEquals(committed.committed, 2);
  assertEquals(committed.events.length, 2);
  expectEvent(committed.events[0], { ...ev("p-1", 1), version: 1, position: 1 });
  expectEvent(committed.events[1], { ...ev("p-1", 3), note: "third", version: 2, position: 2 });
  assertEquals(await ctx.call("listStaged", {}), { items: [] });
  assertEquals(
    await ctx.call("listEvents", { aggregate_type: "patient", aggregate_id: "p-1" }),
    { items: committed.events },
  );
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "p-2" }),
    "not_found",
    "the removed aggregate was never committed",
  );
  await rejects(
    ctx.call("removeAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }),
    "conflict",
    "an aggregate with committed events cannot be removed",
  );
  await ctx.call("stageEvent", ev("p-1", 4));
  await rejects(
    ctx.call("removeAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }),
    "conflict",
    "not even with staged events",
  );
  assertEquals((await ctx.call("listStaged", {})).items.length, 1, "the staged event stays");
  await rejects(
    ctx.call("removeAggregate", { aggregate_type: "patient", aggregate_id: "p-404" }),
    "not_found",
  );
});

test("staging: a refused commit keeps the queue; scoped listing", async (ctx) => {
  const ev = (id: string) => ({
    aggregate_type: "patient",
    aggregate_id: id,
    event_type: "added",
    payload: {},
    expected_version: 0,
  });
  const s1 = await ctx.call("stageEvent", ev("p-1"));
  const s2 = await ctx.call("stageEvent", ev("p-2"));
  await ctx.append("patient", "p-2", {}); // now p-2's staged expected_version is stale
  await rejects(ctx.call("commitStaged", {}), "conflict");
  assertEquals(await ctx.call("listStaged", {}), { items: [s1.event, s2.event] });
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }),
    "not_found",
    "the refused commit wrote nothing",
  );
  const reader = await ctx.token({
    group: "audit",
    user: "dan",
    actions: ["aggregate.read"],
    resources: ["aggregate:patient:p-2"],
  });
  assertEquals(await ctx.callAs(reader, "listStaged", {}), { items: [s2.event] });
  await rejects(ctx.callAs(reader, "stageEvent", ev("p-2")), "forbidden");
  await rejects(ctx.callAs(reader, "commitStaged", {}), "forbidden");
});

test("subscribe from a position delivers what follows, in order", async (ctx) => {
  const records: EventRecord[] = [];
  for (let n = 1; n <= 6; n++) records.push(await ctx.append("patient", `p-${n % 2}`, { n }));
  const sub = await ctx.api.subscribe(ctx.admin, { after: 2 });
  try {
    const seen = await readUntil(sub, (s) => s.length >= 4);
    assertEquals(seen, records.slice(2));
    await expectQuiet(sub);
  } finally {
    sub.close();
  }
  const all = await ctx.api.subscribe(ctx.admin, { after: 0 });
  try {
    assertEquals(await readUntil(all, (s) => s.length >= 6), records);
  } finally {
    all.close();
  }
  const none = await ctx.api.subscribe(ctx.admin, { after: 6 });
  try {
    await expectQuiet(none);
  } finally {
    none.close();
  }
});

test("subscribe delivers live events as they commit; close ends it", async (ctx) => {
  await ctx.append("patient", "p-1", { n: 0 });
  const sub = await ctx.api.subscribe(ctx.admin, {});
  try {
    await expectQuiet(sub, 200);
    const one = await ctx.append("patient", "p-1", { n: 1 });
    assertEquals(await readUntil(sub, (s) => s.length >= 1), [one]);
    const batch = await ctx.call("appendEvents", {
      events: [
        { aggregate_type: "patient", aggregate_id: "p-2", event_type: "added", payload: {} },
        { aggregate_type: "invoice", aggregate_id: "i-1", event_type: "added", payload: {} },
      ],
    });
    const waiting = readUntil(sub, (s) => s.length >= 3);
    const three = await ctx.append("patient", "p-1", { n: 3 });
    assertEquals(await waiting, [...batch.events, three]);
    assertEquals(positions(await waiting), [3, 4, 5]);
  } finally {
    sub.close();
  }
  assertEquals(await sub.next(1000), null, "a closed subscription gives null");
});

test("a scoped token's subscription sees only its aggregates", async (ctx) => {
  const auditor = await ctx.token({
    group: "audit",
    user: "carol",
    actions: ["aggregate.read"],
    resources: ["aggregate:patient:p-1", "aggregate:invoice:*"],
  });
  const mine: EventRecord[] = [];
  mine.push(await ctx.append("patient", "p-1", { n: 1 }));
  await ctx.append("patient", "p-2", { n: 2 });
  mine.push(await ctx.append("invoice", "i-9", { n: 3 }));
  await ctx.append("patient", "p-10", { n: 4 });
  const sub = await ctx.api.subscribe(tokenCaller(auditor), { after: 0 });
  try {
    assertEquals(await readUntil(sub, (s) => s.length >= 2), mine);
    await ctx.append("patient", "p-2", { n: 5 });
    const live = await ctx.append("patient", "p-1", { n: 6 });
    assertEquals(await readUntil(sub, (s) => s.length >= 1), [live]);
    await ctx.append("patient", "p-2", { n: 7 });
    await expectQuiet(sub);
  } finally {
    sub.close();
  }
  const writer = await ctx.token({ group: "app", user: "w", actions: ["aggregate.append"] });
  await rejects(ctx.api.subscribe(tokenCaller(writer), {}), "forbidden", "no read scope");
});

test("revoking the token ends its subscription with unauthorized", async (ctx) => {
  const reader = await ctx.token({ group: "audit", user: "eve", actions: ["aggregate.read"] });
  const first = await ctx.append("patient", "p-1", { n: 1 });
  const sub = await ctx.api.subscribe(tokenCaller(reader), { after: 0 });
  try {
    assertEquals(await readUntil(sub, (s) => s.length >= 1), [first]);
    await ctx.call("revokeToken", { token: reader });
    const late = await ctx.append("patient", "p-1", { n: 2 }); // committed after the revocation
    const deadline = Date.now() + 4000;
    let ended = false;
    while (!ended) {
      const left = deadline - Date.now();
      assert(left > 0, "the subscription did not end within 4 s of the revocation");
      try {
        const records = await sub.next(Math.min(left, 1000));
        assert(records !== null, "the subscription closed without an error");
        assert(
          !records.some((r) => r.position >= late.position),
          "an event committed after the revocation was delivered",
        );
      } catch (err) {
        await rejects(Promise.reject(err), "unauthorized");
        ended = true;
      }
    }
  } finally {
    sub.close();
  }
  await rejects(ctx.api.subscribe(tokenCaller(reader), { after: 0 }), "unauthorized");
});

test("a subscription that ended with unauthorized then gives null", async (ctx) => {
  const reader = await ctx.token({ group: "audit", user: "eve", actions: ["aggregate.read"] });
  await ctx.append("patient", "p-1", { n: 1 });
  const sub = await ctx.api.subscribe(tokenCaller(reader), { after: 0 });
  try {
    await readUntil(sub, (s) => s.length >= 1);
    await ctx.call("revokeToken", { token: reader });
    await ctx.append("patient", "p-1", { n: 2 });
    const deadline = Date.now() + 4000;
    for (;;) {
      assert(Date.now() < deadline, "the subscription did not end");
      try {
        assertEquals(await sub.next(1000), [], "nothing is delivered after the revocation");
      } catch (err) {
        await rejects(Promise.reject(err), "unauthorized");
        break;
      }
    }
    assertEquals(await sub.next(500), null, "the ended subscription is closed");
    assertEquals(await sub.next(500), null);
  } finally {
    sub.close();
  }
});

test("take defaults per operation and is capped at page_limit", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-1" };
  const batch = await ctx.call("appendEvents", {
    events: Array.from(
      { length: 1001 },
      (_, n) => ({ ...ref, event_type: "bulk", payload: { n } }),
    ),
  });
  assertEquals(batch.events.map((e) => e.version), Array.from({ length: 1001 }, (_, n) => n + 1));
  const all = batch.events;
  assertEquals(await ctx.call("listEvents", ref), { items: all.slice(0, 1000), next: 1000 });
  assertEquals(await ctx.call("listEvents", { ...ref, take: 5000 }), {
    items: all.slice(0, 1000),
    next: 1000,
  });
  assertEquals(await ctx.call("listEvents", { ...ref, skip: 1000, take: 5000 }), {
    items: all.slice(1000),
  });
  assertEquals(await ctx.call("recentEvents", { ...ref, take: 5000 }), all.slice(1));
  for (let n = 1; n <= 11; n++) await ctx.append("invoice", `i-${String(n).padStart(2, "0")}`, {});
  const first = await ctx.call("listAggregates", { aggregate_type: "invoice" });
  assertEquals([first.items.length, first.next], [10, 10], "10 aggregates a page by default");
  const rest = await ctx.call("listAggregates", { aggregate_type: "invoice", skip: 10 });
  assertEquals(rest.items.map((a) => a.aggregate_id), ["i-11"]);
  assert(!Object.hasOwn(rest, "next"));
});

test("concurrent appends get gap-free versions; limits hold exactly", async (ctx) => {
  const ref = { aggregate_type: "counter", aggregate_id: "c-1" };
  const results = await Promise.all(
    Array.from(
      { length: 40 },
      (_, n) => ctx.call("appendEvent", { ...ref, event_type: "inc", payload: { n } }),
    ),
  );
  assertEquals(
    results.map((r) => r.event.version).sort((a, b) => a - b),
    Array.from({ length: 40 }, (_, n) => n + 1),
  );
  assertEquals(
    results.map((r) => r.event.position).sort((a, b) => a - b),
    Array.from({ length: 40 }, (_, n) => n + 1),
  );
  const events = await ctx.call("listEvents", ref);
  assertEquals(events.items.length, 40);
  for (const { event } of results) assertEquals(events.items[event.version - 1], event);

  const eventId = crypto.randomUUID();
  const same = await Promise.all(
    Array.from(
      { length: 8 },
      () => ctx.call("appendEvent", { ...ref, event_type: "once", payload: {}, event_id: eventId }),
    ),
  );
  assertEquals(same.filter((r) => r.created).length, 1, "one of the retries wrote it");
  for (const r of same) assertEquals(r.event, same[0].event);
  assertEquals(same[0].event.version, 41);

  const writer = await ctx.token({ group: "app", user: "w", limit: 5 });
  const settled = await Promise.allSettled(
    Array.from(
      { length: 12 },
      (_, n) =>
        ctx.callAs(writer, "appendEvent", { ...ref, event_type: "limited", payload: { n } }),
    ),
  );
  const ok = settled.filter((s) => s.status === "fulfilled");
  const refused = settled.filter((s) => s.status === "rejected");
  assertEquals([ok.length, refused.length], [5, 7]);
  for (const r of refused) await rejects(Promise.reject(r.reason), "limit_reached");
  assertEquals((await ctx.call("getAggregate", ref)).version, 46);
});

test("errors carry the same messages", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-1" };
  await ctx.append("patient", "p-1", {});
  await ctx.append("patient", "p-1", {});
  const message = async (promise: Promise<unknown>, code: ErrorCode) => {
    const err = await assertRejects(() => promise, code);
    return err.message;
  };
  assertEquals(
    await message(ctx.call("getAggregate", { ...ref, aggregate_id: "p-404" }), "not_found"),
    "aggregate patient/p-404 not found",
  );
  assertEquals(
    await message(
      ctx.call("appendEvent", { ...ref, event_type: "x", payload: {}, expected_version: 0 }),
      "conflict",
    ),
    "version conflict on patient/p-1: expected version 0, current version is 2",
  );
  await ctx.call("archiveAggregate", ref);
  assertEquals(
    await message(ctx.append("patient", "p-1", {}), "archived"),
    "aggregate patient/p-1 is archived; restore it before appending",
  );
  const reader = await ctx.token({
    group: "audit",
    user: "a",
    actions: ["aggregate.read"],
    resources: ["aggregate:patient:p-1"],
  });
  assertEquals(
    await message(ctx.callAs(reader, "getAggregate", { ...ref, aggregate_id: "p-2" }), "forbidden"),
    "the token does not permit aggregate.read on aggregate:patient:p-2",
  );
  await ctx.call("revokeToken", { token: reader });
  assertEquals(
    await message(ctx.callAs(reader, "getAggregate", ref), "unauthorized"),
    "the token has been revoked",
  );
  assertEquals(
    await message(
      ctx.call("appendEvent", { ...ref, aggregate_type: "", event_type: "x" }),
      "invalid_input",
    ),
    "aggregate type must be a non-empty string",
  );
});

test("appendEvent with a JSON patch applies it to the state", async (ctx) => {
  const ref = { aggregate_type: "patient", aggregate_id: "p-1" };
  await ctx.append("patient", "p-1", { name: "Jane", address: { city: "Oslo" } });
  const patched = await ctx.call("appendEvent", {
    ...ref,
    event_type: "moved",
    patch: [
      { op: "replace", path: "/address/city", value: "Bergen" },
      { op: "add", path: "/tags", value: ["x"] },
    ],
  });
  assertEquals([patched.created, patched.event.version], [true, 2]);
  assertEquals((await ctx.call("getAggregate", ref)).state, {
    name: "Jane",
    address: { city: "Bergen" },
    tags: ["x"],
  });
  assertEquals(await ctx.call("listEvents", { ...ref, skip: 1 }), { items: [patched.event] });
  await rejects(
    ctx.call("appendEvent", {
      ...ref,
      event_type: "bad",
      patch: [{ op: "bogus", path: "/a" }],
    }),
    "invalid_input",
  );
  await rejects(
    ctx.call("appendEvent", {
      ...ref,
      event_type: "bad",
      patch: [{ op: "remove", path: "/name" }],
    }),
    "invalid_input",
    "events are append-only: a patch may not remove data",
  );
  assertEquals((await ctx.call("getAggregate", ref)).version, 2);
});

test("a payload over the size limit is too_large", async (ctx) => {
  await rejects(
    ctx.call("appendEvent", {
      aggregate_type: "patient",
      aggregate_id: "p-1",
      event_type: "big",
      payload: { blob: "x".repeat((1 << 20) + 16) },
    }),
    "too_large",
  );
  await rejects(
    ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }),
    "not_found",
  );
});

test("schema events: add, annotate, clear, remove; put; import", async (ctx) => {
  const created = await ctx.call("createSchema", { aggregate: "invoice", events: ["paid"] });
  assertEquals(Object.hasOwn(created, "snapshot_threshold"), false);
  const added = await ctx.call("addSchemaEvents", { aggregate: "invoice", events: ["issued"] });
  assertEquals(added.events, { issued: { fields: [] }, paid: { fields: [] } });
  const noted = await ctx.call("annotateSchemaEvent", {
    aggregate: "invoice",
    event: "paid",
    note: "in full",
  });
  assertEquals(noted.events.paid, { fields: [], notes: "in full" });
  const cleared = await ctx.call("annotateSchemaEvent", {
    aggregate: "invoice",
    event: "paid",
    note: null,
  });
  assertEquals(cleared.events.paid, { fields: [] });
  const removed = await ctx.call("removeSchemaEvent", { aggregate: "invoice", event: "issued" });
  assertEquals(removed.events, { paid: { fields: [] } });
  await rejects(
    ctx.call("removeSchemaEvent", { aggregate: "invoice", event: "issued" }),
    "not_found",
  );

  const put = await ctx.call("putSchema", {
    aggregate: "invoice",
    schema: {
      events: { issued: { fields: ["code"] } },
      columns: { code: { type: "text", rules: { length: { max: 3 } } } },
    },
  });
  assertEquals(put, {
    aggregate: "invoice",
    events: { issued: { fields: ["code"] } },
    locked: false,
    field_locks: [],
    columns: { code: { type: "text", rules: { length: { max: 3 } } } },
    created_at: created.created_at,
    updated_at: put.updated_at,
  });
  await ctx.append("invoice", "i-1", { code: "abc" }, { event_type: "issued" });
  await rejects(
    ctx.append("invoice", "i-1", { code: "abcd" }, { event_type: "issued" }),
    "schema_violation",
    "longer than the column allows",
  );
  const locked = await ctx.call("alterSchema", { aggregate: "invoice", changes: { locked: true } });
  assertEquals(locked.locked, true);
  await rejects(
    ctx.append("invoice", "i-1", { code: "abc" }, { event_type: "issued" }),
    "schema_violation",
    "a locked aggregate type",
  );

  const imported = await ctx.call("importSchemas", {
    schemas: [{ aggregate: "order", events: { placed: { fields: [] } } }],
  });
  assertEquals(imported.map((x) => x.aggregate), ["order"]);
  assertEquals((await ctx.call("listSchemas", {})).map((x) => x.aggregate), ["invoice", "order"]);
  const replaced = await ctx.call("importSchemas", {
    schemas: [{ aggregate: "refund", events: { made: { fields: [] } } }],
    replace: true,
  });
  assertEquals(replaced.map((x) => x.aggregate), ["refund"]);
  assertEquals((await ctx.call("listSchemas", {})).map((x) => x.aggregate), ["refund"]);
});

test("token rules: keep_alive needs expiration; a token that never expires needs terms", async (ctx) => {
  await rejects(
    ctx.call("generateToken", { group: "a", user: "b", keep_alive: true }),
    "invalid_input",
  );
  const issued = await ctx.call("generateToken", {
    group: "a",
    user: "b",
    expiration: 60,
    keep_alive: true,
  });
  expectTokenInfo(issued.info, {
    group: "a",
    user: "b",
    expires_at: issued.info.expires_at,
    expiration: 60,
    keep_alive: true,
  });
  await rejects(ctx.call("refreshToken", { token: ctx.adminToken }), "invalid_input");
  const limited = await ctx.call("refreshToken", { token: ctx.adminToken, limit: 2 });
  assertEquals([limited.info.limit, limited.info.used_writes, limited.info.remaining_writes], [
    2,
    0,
    2,
  ]);
});

test("an expired token is unauthorized, and its subscription ends", async (ctx) => {
  const issued = await ctx.call("generateToken", {
    group: "temp",
    user: "t",
    expiration: 1,
  });
  const first = await ctx.append("patient", "p-1", {});
  const sub = await ctx.api.subscribe(tokenCaller(issued.token), { after: 0 });
  try {
    assertEquals(await readUntil(sub, (s) => s.length >= 1), [first]);
    assertEquals((await ctx.callAs(issued.token, "describeCaller", {})).user, "t");
    const wait = Date.parse(issued.info.expires_at!) + 50 - Date.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    await rejects(ctx.callAs(issued.token, "describeCaller", {}), "unauthorized");
    const late = await ctx.append("patient", "p-1", {});
    const deadline = Date.now() + 4000;
    for (;;) {
      assert(Date.now() < deadline, "the subscription did not end after the expiry");
      try {
        const records = await sub.next(1000);
        assert(records !== null, "the subscription closed without an error");
        assert(!records.some((r) => r.position >= late.position), "delivered after expiry");
      } catch (err) {
        await rejects(Promise.reject(err), "unauthorized");
        break;
      }
    }
  } finally {
    sub.close();
  }
  const listed = (await ctx.call("listTokens", {})).find((t) => t.id === issued.info.id);
  assertEquals(listed?.status, "expired");
});

test("subscribe: bad input is invalid_input", async (ctx) => {
  await rejects(ctx.api.subscribe(ctx.admin, { after: -1 }), "invalid_input");
  await rejects(ctx.api.subscribe(ctx.admin, { after: 1.5 }), "invalid_input");
});

test('"." and ".." are refused as names everywhere (no URL could reach them)', async (ctx) => {
  for (const name of [".", ".."]) {
    await rejects(
      ctx.call("appendEvent", {
        aggregate_type: "patient",
        aggregate_id: name,
        event_type: "added",
        payload: {},
      }),
      "invalid_input",
    );
    await rejects(
      ctx.call("appendEvent", {
        aggregate_type: name,
        aggregate_id: "x",
        event_type: "added",
        payload: {},
      }),
      "invalid_input",
    );
    await rejects(
      ctx.call("appendEvent", {
        aggregate_type: "patient",
        aggregate_id: "x",
        event_type: name,
        payload: {},
      }),
      "invalid_input",
    );
    await rejects(
      ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: name }),
      "invalid_input",
    );
    await rejects(
      ctx.call("listEvents", { aggregate_type: "patient", aggregate_id: name }),
      "invalid_input",
    );
    await rejects(ctx.call("getSchema", { aggregate: name }), "invalid_input");
    await rejects(ctx.call("createSchema", { aggregate: name, events: ["a"] }), "invalid_input");
  }
  assertEquals((await ctx.call("listAggregates", {})).items, [], "nothing was written");
});

/** Run a change to a result; a frozen result refusing it (TypeError) is fine too. */
function attempt(change: () => unknown): void {
  try {
    change();
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
}

test("results are plain data: changing an input or a result changes nothing else", async (ctx) => {
  const one = await ctx.api.subscribe(ctx.admin, {});
  const two = await ctx.api.subscribe(ctx.admin, {});
  try {
    const payload = { name: "Jane", tags: ["a"] };
    const { event } = await ctx.call("appendEvent", {
      aggregate_type: "patient",
      aggregate_id: "p-1",
      event_type: "added",
      payload,
    });
    const original = structuredClone(event);
    payload.name = "changed";
    payload.tags.push("b");
    assertEquals(event, original, "the result does not share the input's objects");
    // A result may be frozen (refusing the change) or the caller's own copy: either way,
    // nobody else may see the change.
    attempt(() => event.metadata.issued_by!.user = "mallory");
    attempt(() => (event.payload.tags as string[]).push("c"));
    const [first] = await readUntil(one, (s) => s.length >= 1);
    assertEquals(first, original, "a subscriber gets the record as committed");
    attempt(() => (first.payload as Record<string, unknown>).name = "mutated");
    const [second] = await readUntil(two, (s) => s.length >= 1);
    assertEquals(second, original, "subscribers do not share records");
    const { items } = await ctx.call("listEvents", {
      aggregate_type: "patient",
      aggregate_id: "p-1",
    });
    assertEquals(items, [original]);
  } finally {
    one.close();
    two.close();
  }
});

test("the input is taken when the call is made", async (ctx) => {
  const payload: Record<string, unknown> = { name: "Jane" };
  const pending = ctx.call("appendEvent", {
    aggregate_type: "patient",
    aggregate_id: "p-1",
    event_type: "added",
    payload,
  });
  payload.name = "changed";
  const { event } = await pending;
  assertEquals(event.payload, { name: "Jane" });
  assertEquals(
    (await ctx.call("getAggregate", { aggregate_type: "patient", aggregate_id: "p-1" }))
      .state,
    { name: "Jane" },
  );
});

// ---------------------------------------------------------------------------

/**
 * The contract's cases against one implementation: each opens a fresh one with `open`,
 * runs, and closes it whatever happens.
 *
 * @example
 * ```ts
 * for (const c of apiContract(openInProcess)) Deno.test({ name: c.name, ignore: c.ignore, fn: c.fn });
 * ```
 */
export function apiContract(open: OpenApi): ContractCase[] {
  return CASES.map(({ name, ignore, body }) => ({
    name,
    ignore,
    async fn() {
      const opened = await open();
      try {
        const admin = tokenCaller(opened.adminToken);
        const { api } = opened;
        const ctx: Ctx = {
          api,
          admin,
          adminToken: opened.adminToken,
          call: (op, input) => api.call(admin, op, input),
          callAs: (token, op, input) => api.call(tokenCaller(token), op, input),
          append: async (type, id, payload = {}, more = {}) =>
            (await api.call(admin, "appendEvent", {
              aggregate_type: type,
              aggregate_id: id,
              event_type: "updated",
              payload,
              ...more,
            })).event,
          token: async (input) => (await api.call(admin, "generateToken", input)).token,
        };
        await body(ctx);
      } finally {
        await opened.close();
      }
    },
  }));
}
