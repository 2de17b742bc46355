/**
 * Appending over REST: both append routes, batches, concurrency control,
 * idempotency, schemas, archived aggregates, and every class of bad input.
 */
import {
  assert,
  assertEquals,
  eventBody,
  expectError,
  type RestServer,
  withRestServer,
} from "./_rest_setup.ts";

const PATIENT = { aggregate_type: "patient", aggregate_id: "p-001" };

async function state(s: RestServer, type = "patient", id = "p-001") {
  const reply = await s.request("GET", `/v1/aggregates/${type}/${id}`);
  return reply.status === 200 ? reply.json : undefined;
}

Deno.test("POST /v1/events appends with the aggregate in the body: 201 + EventRecord", async () => {
  await withRestServer(async (s) => {
    const token = await s.token({ group: "clinic", user: "dr-who" });
    const reply = await s.request("POST", "/v1/events", {
      token,
      body: { ...PATIENT, ...eventBody("patient-added", { name: "Jane", age: 42 }) },
    });
    assertEquals(reply.status, 201);
    const record = reply.json;
    assertEquals(record.aggregate_type, "patient");
    assertEquals(record.aggregate_id, "p-001");
    assertEquals(record.event_type, "patient-added");
    assertEquals(record.payload, { name: "Jane", age: 42 });
    assertEquals(record.version, 1);
    assertEquals(record.position, 1);
    assertEquals(record.metadata.issued_by, { group: "clinic", user: "dr-who" });
    assert(/^[0-9a-f]{64}$/.test(record.hash) && /^[0-9a-f]{64}$/.test(record.merkle_root));
    assertEquals((await state(s)).state, { name: "Jane", age: "42" });
  });
});

Deno.test("POST /v1/aggregates/{type}/{id}/events appends (older seed body)", async () => {
  await withRestServer(async (s) => {
    const first = await s.request("POST", "/v1/aggregates/patient/p-001/events", {
      body: { event_type: "patient-updated", payload: { status: "inactive" } },
    });
    assertEquals(first.status, 201);
    assertEquals(first.json.metadata.issued_by, { group: "admin", user: "root" });
    // Naming the same aggregate in the body is fine; another one is refused.
    const same = await s.request("POST", "/v1/aggregates/patient/p-001/events", {
      body: { ...PATIENT, ...eventBody() },
    });
    assertEquals(same.status, 201);
    assertEquals(same.json.version, 2);
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p-001/events", {
        body: { aggregate_id: "p-002", ...eventBody() },
      }),
      400,
      "invalid_input",
      "aggregate_id",
    );
    // Path parts are percent-decoded names.
    const odd = await s.request("POST", "/v1/aggregates/patient/p%2F7%20x/events", {
      body: eventBody(),
    });
    assertEquals(odd.status, 201);
    assertEquals(odd.json.aggregate_id, "p/7 x");
    assertEquals((await state(s, "patient", "p%2F7%20x")).aggregate_id, "p/7 x");
  });
});

Deno.test("note, metadata.note and patch are accepted", async () => {
  await withRestServer(async (s) => {
    const noted = await s.request("POST", "/v1/events", {
      body: { ...PATIENT, ...eventBody("patient-added", { name: "Jane" }), note: "intake" },
    });
    assertEquals(noted.json.metadata.note, "intake");
    const meta = await s.request("POST", "/v1/events", {
      body: { ...PATIENT, ...eventBody(), metadata: { note: "via metadata" } },
    });
    assertEquals(meta.json.metadata.note, "via metadata");
    const patched = await s.request("POST", "/v1/aggregates/patient/p-001/events", {
      body: {
        event_type: "patient-renamed",
        patch: [{ op: "replace", path: "/name", value: "Janet" }],
      },
    });
    assertEquals(patched.status, 201);
    assertEquals(patched.json.payload, { name: "Janet" });
    assertEquals((await state(s)).state.name, "Janet");
    expectError(
      await s.request("POST", "/v1/events", {
        body: { ...PATIENT, ...eventBody(), note: "a", metadata: { note: "b" } },
      }),
      400,
      "invalid_input",
      "differ",
    );
    expectError(
      await s.request("POST", "/v1/events", {
        body: { ...PATIENT, ...eventBody(), metadata: { issued_by: "me" } },
      }),
      400,
      "invalid_input",
      "issued_by",
    );
  });
});

Deno.test("expected_version: a match appends, a mismatch is 409 and writes nothing", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001");
    const ok = await s.request("POST", "/v1/events", {
      body: { ...PATIENT, ...eventBody(), expected_version: 1 },
    });
    assertEquals(ok.status, 201);
    assertEquals(ok.json.version, 2);
    const stale = await s.request("POST", "/v1/aggregates/patient/p-001/events", {
      body: eventBody("patient-updated", { status: "stale" }, { expected_version: 1 }),
    });
    expectError(stale, 409, "conflict", "expected version 1, current version is 2");
    assertEquals((await state(s)).version, 2);
    // A new aggregate has version 0.
    const fresh = await s.request("POST", "/v1/aggregates/patient/p-002/events", {
      body: eventBody("patient-added", {}, { expected_version: 0 }),
    });
    assertEquals(fresh.status, 201);
  });
});

Deno.test("event_id makes appends idempotent: the retry answers 200 with the original", async () => {
  await withRestServer(async (s) => {
    const event_id = crypto.randomUUID();
    const body = eventBody("patient-added", { name: "Jane" }, { event_id });
    const first = await s.request("POST", "/v1/aggregates/patient/p-001/events", { body });
    assertEquals(first.status, 201);
    assertEquals(first.json.metadata.event_id, event_id);
    const retry = await s.request("POST", "/v1/aggregates/patient/p-001/events", { body });
    assertEquals(retry.status, 200);
    assertEquals(retry.json, first.json);
    const global = await s.request("POST", "/v1/events", { body: { ...PATIENT, ...body } });
    assertEquals(global.status, 200);
    assertEquals(global.json, first.json);
    assertEquals((await state(s)).version, 1);
    assertEquals(await s.engine.lastPosition(), 1);
  });
});

Deno.test("malformed JSON and non-object bodies are 400", async () => {
  await withRestServer(async (s) => {
    for (const path of ["/v1/events", "/v1/aggregates/patient/p-001/events", "/v1/events/batch"]) {
      for (const text of ["{", "{'a': 1}", "[1,", "nul", '{"event_type": "x",}']) {
        expectError(
          await s.request("POST", path, {
            body: text,
            headers: { "content-type": "application/json" },
          }),
          400,
          "invalid_input",
          "not valid JSON",
        );
      }
      expectError(await s.request("POST", path, { body: "" }), 400, "invalid_input", "empty");
      for (const value of ["42", '"text"', "null", "true"]) {
        expectError(await s.request("POST", path, { body: value }), 400, "invalid_input");
      }
    }
    expectError(
      await s.request("POST", "/v1/events", { body: [] }),
      400,
      "invalid_input",
      "JSON object",
    );
    expectError(
      await s.request("POST", "/v1/events", { body: Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d) }),
      400,
      "invalid_input",
      "UTF-8",
    );
    assertEquals(await s.engine.lastPosition(), 0);
  });
});

Deno.test("wrong types and missing fields are 400 naming the field", async () => {
  await withRestServer(async (s) => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...PATIENT, ...eventBody(), payload: [1, 2] }, "payload"],
      [{ ...PATIENT, ...eventBody(), payload: "text" }, "payload"],
      [{ ...PATIENT, ...eventBody(), payload: null }, "payload"],
      [{ ...PATIENT, ...eventBody(), expected_version: "1" }, "expected_version"],
      [{ ...PATIENT, ...eventBody(), expected_version: -1 }, "expected_version"],
      [{ ...PATIENT, ...eventBody(), expected_version: 1.5 }, "expected_version"],
      [{ ...PATIENT, ...eventBody(), event_id: "not-a-uuid" }, "event_id"],
      [{ ...PATIENT, ...eventBody(), event_id: 7 }, "event_id"],
      [{ ...PATIENT, ...eventBody(), note: 5 }, "note"],
      [{ ...PATIENT, ...eventBody(), note: "x".repeat(129) }, "note"],
      [{ ...PATIENT, ...eventBody(), patch: { op: "add" } }, "patch"],
      [{ ...PATIENT, ...eventBody(), patch: [{ op: "add", path: "/a", value: 1 }] }, "exclusive"],
      [{ ...PATIENT, ...eventBody(), metadata: "note" }, "metadata"],
      [{ ...PATIENT, ...eventBody(), evnt_type: "typo" }, "evnt_type"],
      [{ ...PATIENT, payload: {} }, "event_type"],
      [{ ...PATIENT, ...eventBody(), event_type: 12 }, "event type"],
      [{ ...PATIENT, ...eventBody(), event_type: "" }, "event type"],
      [{ aggregate_type: "patient", ...eventBody() }, "aggregate_id"],
      [{ aggregate_id: "p-001", ...eventBody() }, "aggregate_type"],
      [{ ...PATIENT, aggregate_id: 7, ...eventBody() }, "aggregate id"],
      [{ ...PATIENT, aggregate_id: "bad\u0001id", ...eventBody() }, "control character"],
      [{ ...PATIENT, aggregate_type: "t".repeat(129), ...eventBody() }, "128 bytes"],
      [{ ...PATIENT, ...eventBody("x", { "bad\nfield": 1 }) }, "field name"],
    ];
    for (const [body, part] of cases) {
      expectError(await s.request("POST", "/v1/events", { body }), 400, "invalid_input", part);
    }
    // A control character in the path is refused too.
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p%00x/events", { body: eventBody() }),
      400,
      "invalid_input",
      "control character",
    );
    assertEquals(await s.engine.lastPosition(), 0);
  });
});

Deno.test("bodies over the limit are 413, by Content-Length or streamed, and write nothing", async () => {
  const limit = 2048;
  await withRestServer(async (s) => {
    const big = JSON.stringify({ ...PATIENT, ...eventBody("x", { blob: "y".repeat(limit) }) });
    expectError(
      await s.request("POST", "/v1/events", { body: big }),
      413,
      "too_large",
      `${limit} bytes`,
    );
    // Without Content-Length (chunked), the stream is counted as it arrives.
    const chunks = [big.slice(0, 1000), big.slice(1000)];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const res = await fetch(`${s.base}/v1/aggregates/patient/p-001/events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${s.admin}`, "content-type": "application/json" },
      body: stream,
    });
    const json = await res.json();
    assertEquals(res.status, 413);
    assertEquals(json.code, "too_large");
    for (const path of ["/v1/events/batch", "/v1/schemas", "/v1/tokens"]) {
      expectError(await s.request("POST", path, { body: big }), 413, "too_large");
    }
    // Just under the limit is fine.
    const fits = JSON.stringify({ ...PATIENT, ...eventBody("x", { blob: "y".repeat(1500) }) });
    assert(new TextEncoder().encode(fits).length <= limit);
    assertEquals((await s.request("POST", "/v1/events", { body: fits })).status, 201);
    assertEquals(await s.engine.lastPosition(), 1);
  }, { maxBodyBytes: limit });
});

Deno.test("a body cut short of its Content-Length writes nothing and the server keeps serving", async () => {
  await withRestServer(async (s) => {
    const body = JSON.stringify({ ...PATIENT, ...eventBody("x", { a: 1 }) });
    const url = new URL(s.base);
    const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
    try {
      const head = `POST /v1/events HTTP/1.1\r\nHost: ${url.host}\r\n` +
        `Authorization: Bearer ${s.admin}\r\ncontent-type: application/json\r\n` +
        `Content-Length: ${body.length + 50}\r\n\r\n`;
      await conn.write(new TextEncoder().encode(head + body));
      await conn.closeWrite();
      // Whatever the server answers (or if it just closes), it must not be a success.
      const reply = new Uint8Array(4096);
      const n = await conn.read(reply).catch(() => null);
      const text = n ? new TextDecoder().decode(reply.subarray(0, n)) : "";
      assert(!/^HTTP\/1\.1 2/.test(text), `a cut-short body was accepted: ${text.slice(0, 80)}`);
    } finally {
      conn.close();
    }
    assertEquals(await s.engine.lastPosition(), 0);
    assertEquals((await s.request("POST", "/v1/events", { body })).status, 201);
  });
});

Deno.test("schema violations are 400 naming the field and the rule; strict needs a schema", async () => {
  await withRestServer(async (s) => {
    const put = await s.request("PUT", "/v1/schemas/patient", {
      body: {
        events: { "patient-added": { fields: ["name", "age"] } },
        columns: {
          age: { type: "integer", rules: { range: { min: "0", max: "150" } } },
          name: { type: "text", rules: { required: true } },
        },
      },
    });
    assertEquals(put.status, 200);
    const ok = await s.request("POST", "/v1/events", {
      body: { ...PATIENT, ...eventBody("patient-added", { name: "Jane", age: 42 }) },
    });
    assertEquals(ok.status, 201);
    const range = await s.request("POST", "/v1/events", {
      body: { ...PATIENT, ...eventBody("patient-added", { name: "Jane", age: -5 }) },
    });
    expectError(range, 400, "schema_violation", '"age"');
    assert(range.json.message.includes('"range"'), range.json.message);
    const required = await s.request("POST", "/v1/aggregates/patient/p-002/events", {
      body: eventBody("patient-added", { age: 3 }),
    });
    expectError(required, 400, "schema_violation", '"name"');
    assert(required.json.message.includes('"required"'), required.json.message);
    expectError(
      await s.request("POST", "/v1/events", {
        body: { ...PATIENT, ...eventBody("patient-exploded", {}) },
      }),
      400,
      "schema_violation",
      "patient-exploded",
    );
    // Another type without a schema is fine in default mode, refused in strict mode.
    const free = await s.request("POST", "/v1/aggregates/doctor/d-1/events", { body: eventBody() });
    assertEquals(free.status, 201);
    s.config.restrict = "strict";
    expectError(
      await s.request("POST", "/v1/aggregates/doctor/d-1/events", { body: eventBody() }),
      400,
      "schema_violation",
      "strict",
    );
    assertEquals(await s.engine.lastPosition(), 2);
  });
});

Deno.test("archived aggregates refuse appends with 403 until restored", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001");
    const archived = await s.request("POST", "/v1/aggregates/patient/p-001/archive", {
      body: { comment: "moved away" },
    });
    assertEquals(archived.status, 200);
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p-001/events", { body: eventBody() }),
      403,
      "archived",
      "restore it",
    );
    assertEquals((await s.request("POST", "/v1/aggregates/patient/p-001/restore")).status, 200);
    const after = await s.request("POST", "/v1/aggregates/patient/p-001/events", {
      body: eventBody(),
    });
    assertEquals(after.status, 201);
    assertEquals(after.json.version, 2);
  });
});

Deno.test("POST /v1/events/batch commits events of several aggregates together", async () => {
  await withRestServer(async (s) => {
    const events = [
      { ...PATIENT, ...eventBody("patient-added", { name: "Jane" }) },
      { aggregate_type: "doctor", aggregate_id: "d-1", ...eventBody("doctor-added") },
      {
        ...PATIENT,
        ...eventBody("patient-updated", { status: "active" }, { expected_version: 1 }),
      },
    ];
    const reply = await s.request("POST", "/v1/events/batch", { body: { events } });
    assertEquals(reply.status, 201);
    assertEquals(reply.json.events.map((e: { position: number }) => e.position), [1, 2, 3]);
    assertEquals(reply.json.events.map((e: { version: number }) => e.version), [1, 1, 2]);
    // A bare array works too.
    const bare = await s.request("POST", "/v1/events/batch", {
      body: [{ ...PATIENT, ...eventBody() }],
    });
    assertEquals(bare.status, 201);
    assertEquals(bare.json.events[0].version, 3);
  });
});

Deno.test("a batch with one bad event writes nothing", async () => {
  await withRestServer(async (s) => {
    await s.request("PUT", "/v1/schemas/patient", {
      body: {
        events: { "patient-added": { fields: [] } },
        columns: { age: { type: "integer" } },
      },
    });
    const good = (id: string) => ({
      aggregate_type: "patient",
      aggregate_id: id,
      ...eventBody("patient-added", { age: 1 }),
    });
    const bad: [unknown, number, string][] = [
      [{ ...good("p-3"), payload: { age: "old" } }, 400, "schema_violation"],
      [{ ...good("p-3"), expected_version: 5 }, 409, "conflict"],
      [{ ...good("p-3"), event_type: "" }, 400, "invalid_input"],
      [{ ...good("p-3"), unknown: 1 }, 400, "invalid_input"],
      [{ ...good("p-3"), aggregate_id: undefined }, 400, "invalid_input"],
    ];
    for (const [event, status, code] of bad) {
      const reply = await s.request("POST", "/v1/events/batch", {
        body: { events: [good("p-1"), good("p-2"), event] },
      });
      expectError(reply, status, code);
      assertEquals(await s.engine.lastPosition(), 0);
      for (const id of ["p-1", "p-2", "p-3"]) {
        assertEquals(await s.engine.exists("patient", id), false);
      }
    }
    // One event outside the token's scope: 403, nothing written.
    const narrow = await s.token({
      actions: ["aggregate.append"],
      resources: ["aggregate:patient:p-1", "aggregate:patient:p-2"],
    });
    expectError(
      await s.request("POST", "/v1/events/batch", {
        token: narrow,
        body: { events: [good("p-1"), good("p-2"), good("p-3")] },
      }),
      403,
      "forbidden",
      "aggregate:patient:p-3",
    );
    assertEquals(await s.engine.lastPosition(), 0);
    expectError(
      await s.request("POST", "/v1/events/batch", { body: { events: [] } }),
      400,
      "invalid_input",
    );
    expectError(await s.request("POST", "/v1/events/batch", { body: [] }), 400, "invalid_input");
    expectError(
      await s.request("POST", "/v1/events/batch", { body: { events: "all" } }),
      400,
      "invalid_input",
    );
    expectError(
      await s.request("POST", "/v1/events/batch", { body: { events: [], extra: 1 } }),
      400,
      "invalid_input",
      "extra",
    );
    // The good batch then commits whole.
    const ok = await s.request("POST", "/v1/events/batch", {
      token: narrow,
      body: [good("p-1"), good("p-2")],
    });
    assertEquals(ok.status, 201);
    assertEquals(await s.engine.lastPosition(), 2);
  });
});

Deno.test("a batch retried with the same event ids answers 200 and writes nothing new", async () => {
  await withRestServer(async (s) => {
    const events = [1, 2].map((n) => ({
      ...PATIENT,
      ...eventBody("patient-updated", { n }, { event_id: crypto.randomUUID() }),
    }));
    const first = await s.request("POST", "/v1/events/batch", { body: { events } });
    assertEquals(first.status, 201);
    const retry = await s.request("POST", "/v1/events/batch", { body: { events } });
    assertEquals(retry.status, 200);
    assertEquals(retry.json, first.json);
    assertEquals(await s.engine.lastPosition(), 2);
  });
});

Deno.test("concurrent REST appends get gap-free versions and positions", async () => {
  await withRestServer(async (s) => {
    const replies = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) =>
          s.request("POST", `/v1/aggregates/patient/p-${i % 4}/events`, {
            body: eventBody("patient-updated", { i }),
          }),
      ),
    );
    assert(replies.every((r) => r.status === 201));
    const positions = replies.map((r) => r.json.position).sort((a, b) => a - b);
    assertEquals(positions, Array.from({ length: 40 }, (_, i) => i + 1));
    for (let a = 0; a < 4; a++) {
      const versions = replies.filter((r) => r.json.aggregate_id === `p-${a}`)
        .map((r) => r.json.version).sort((x, y) => x - y);
      assertEquals(versions, Array.from({ length: 10 }, (_, i) => i + 1));
    }
  });
});
