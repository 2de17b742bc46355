/**
 * REST authentication and scopes: every route but /health needs a valid bearer
 * token; bad, foreign, expired and revoked tokens get 401; scopes give 403.
 */
import { loadOrCreateNodeKey } from "../../src/auth/node_key.ts";
import { openApiDocument } from "../../src/rest/openapi.ts";
import { paddedTokens } from "../_helpers/tokens.ts";
import {
  assert,
  assertEquals,
  eventBody,
  expectError,
  foreignToken,
  type RestServer,
  withRestServer,
} from "./_rest_setup.ts";

const SAMPLE_PARAMS: Record<string, string> = {
  aggregate_type: "patient",
  aggregate_id: "p-001",
  aggregate: "patient",
  event: "patient-added",
};

/** Every (method, concrete path) the API documents. */
function documentedRoutes(): { method: string; path: string }[] {
  const paths = openApiDocument().paths as Record<string, Record<string, unknown>>;
  return Object.entries(paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => ({
      method: method.toUpperCase(),
      path: path.replace(/\{(\w+)\}/g, (_, name: string) => SAMPLE_PARAMS[name]),
    }))
  );
}

Deno.test("GET /health needs no token", async () => {
  await withRestServer(async (s) => {
    const reply = await s.request("GET", "/health", { token: null });
    assertEquals(reply.status, 200);
    assertEquals(reply.json, { status: "ok" });
  });
});

Deno.test("every route but /health refuses a request without a token (401 JSON)", async () => {
  await withRestServer(async (s) => {
    const routes = documentedRoutes().filter((r) => r.path !== "/health");
    assert(routes.length >= 25, `only ${routes.length} routes documented`);
    for (const { method, path } of routes) {
      const body = ["POST", "PUT", "PATCH"].includes(method) ? { some: "thing" } : undefined;
      const reply = await s.request(method, path, { token: null, body });
      expectError(reply, 401, "unauthorized", "token is required");
      assertEquals(reply.headers.get("www-authenticate"), 'Bearer realm="eventdbx"');
    }
  });
});

Deno.test("malformed Authorization headers and tokens are refused with 401", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001");
    const [head, payload, signature] = s.admin.split(".");
    const flipped = signature[5] === "A" ? "B" : "A";
    const tampered = `${head}.${payload}.${signature.slice(0, 5)}${flipped}${signature.slice(6)}`;
    const cases: [Record<string, string>, string][] = [
      [{ Authorization: "" }, "token is required"],
      [{ Authorization: `Basic ${btoa("user:pass")}` }, "Bearer <token>"],
      [{ Authorization: "Bearer" }, "Bearer <token>"],
      [{ Authorization: `Bearer ${s.admin} extra` }, "Bearer <token>"],
      [{ Authorization: "Bearer not-a-jwt" }, "malformed"],
      [{ Authorization: "Bearer a.b.c" }, "token"],
      [{ Authorization: `Bearer ${tampered}` }, "signature"],
    ];
    for (const [headers, part] of cases) {
      for (const path of ["/v1/aggregates", "/v1/aggregates/patient/p-001"]) {
        const reply = await s.request("GET", path, { token: null, headers });
        expectError(reply, 401, "unauthorized", part);
        assert(!reply.text.includes(s.admin), "the reply echoes the token");
      }
    }
    // The scheme name is case-insensitive (RFC 7235).
    const lower = await s.request("GET", "/v1/aggregates", {
      token: null,
      headers: { Authorization: `bearer ${s.admin}` },
    });
    assertEquals(lower.status, 200);
  });
});

Deno.test("a token signed by another node is refused with 401", async () => {
  const foreign = await foreignToken();
  await withRestServer(async (s) => {
    const reply = await s.request("GET", "/v1/aggregates", { token: foreign });
    expectError(reply, 401, "unauthorized", "not issued by this node");
    const write = await s.request("POST", "/v1/aggregates/patient/p-001/events", {
      token: foreign,
      body: eventBody(),
    });
    expectError(write, 401, "unauthorized");
    assertEquals(await s.engine.lastPosition(), 0);
  });
});

Deno.test("an expired token is refused with 401", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001");
    const token = await s.token({ expiration: 60 });
    assertEquals((await s.request("GET", "/v1/aggregates/patient/p-001", { token })).status, 200);
    s.clock.advance(61);
    expectError(
      await s.request("GET", "/v1/aggregates/patient/p-001", { token }),
      401,
      "unauthorized",
      "expired",
    );
    expectError(
      await s.request("POST", "/v1/events", {
        token,
        body: { aggregate_type: "patient", aggregate_id: "p-001", ...eventBody() },
      }),
      401,
      "unauthorized",
      "expired",
    );
  });
});

Deno.test("a token revoked through the API is refused at once with 401", async () => {
  await withRestServer(async (s) => {
    const token = await s.token();
    assertEquals((await s.request("GET", "/v1/aggregates", { token })).status, 200);
    const revoked = await s.request("POST", "/v1/tokens/revoke", { body: { token } });
    assertEquals(revoked.status, 200);
    assertEquals(revoked.json.status, "revoked");
    expectError(
      await s.request("GET", "/v1/aggregates", { token }),
      401,
      "unauthorized",
      "revoked",
    );
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p-001/events", { token, body: eventBody() }),
      401,
      "unauthorized",
      "revoked",
    );
  });
});

/** The seed's auditor: aggregate.read on exactly aggregate:patient:p-001. */
async function auditorSetup(s: RestServer): Promise<string> {
  await s.seed("patient", "p-001", { name: "Jane" }, "patient-added");
  await s.seed("patient", "p-001", { status: "active" }, "patient-updated");
  await s.seed("patient", "p-002", { name: "John" }, "patient-added");
  await s.seed("doctor", "d-001", { name: "House" }, "doctor-added");
  return await s.token({
    group: "audit",
    user: "carol",
    actions: ["aggregate.read"],
    resources: ["aggregate:patient:p-001"],
  });
}

Deno.test("auditor token: reads exactly p-001, its events and verify", async () => {
  await withRestServer(async (s) => {
    const token = await auditorSetup(s);
    const get = await s.request("GET", "/v1/aggregates/patient/p-001", { token });
    assertEquals(get.status, 200);
    assertEquals(get.json.state, { name: "Jane", status: "active" });
    const events = await s.request("GET", "/v1/aggregates/patient/p-001/events", { token });
    assertEquals(events.status, 200);
    assertEquals(events.json.map((e: { version: number }) => e.version), [1, 2]);
    const recent = await s.request("GET", "/v1/aggregates/patient/p-001/events/recent", { token });
    assertEquals(recent.json.length, 2);
    const verify = await s.request("GET", "/v1/aggregates/patient/p-001/verify", { token });
    assertEquals(verify.status, 200);
    assertEquals(verify.json.verified, true);
    const proof = await s.request(
      "GET",
      "/v1/aggregates/patient/p-001/proof/inclusion?version=1",
      { token },
    );
    assertEquals(proof.status, 200);
  });
});

Deno.test("auditor token: 403 on p-002 and on writes; listings show only p-001", async () => {
  await withRestServer(async (s) => {
    const token = await auditorSetup(s);
    for (
      const path of [
        "/v1/aggregates/patient/p-002",
        "/v1/aggregates/patient/p-002/events",
        "/v1/aggregates/patient/p-002/events/recent",
        "/v1/aggregates/patient/p-002/verify",
        "/v1/aggregates/patient/p-002/proof/inclusion?version=1",
        "/v1/aggregates/doctor/d-001",
        // Unknown aggregates outside the scope are 403 too: existence does not leak.
        "/v1/aggregates/patient/p-404",
        "/v1/schemas",
        "/v1/schemas/patient",
        "/v1/tokens",
      ]
    ) {
      expectError(await s.request("GET", path, { token }), 403, "forbidden");
    }
    const before = await s.engine.lastPosition();
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p-001/events", { token, body: eventBody() }),
      403,
      "forbidden",
      "aggregate.append",
    );
    expectError(
      await s.request("POST", "/v1/events", {
        token,
        body: { aggregate_type: "patient", aggregate_id: "p-001", ...eventBody() },
      }),
      403,
      "forbidden",
    );
    expectError(
      await s.request("POST", "/v1/events/batch", {
        token,
        body: { events: [{ aggregate_type: "patient", aggregate_id: "p-001", ...eventBody() }] },
      }),
      403,
      "forbidden",
    );
    for (const op of ["snapshot", "archive", "restore"]) {
      expectError(
        await s.request("POST", `/v1/aggregates/patient/p-001/${op}`, { token }),
        403,
        "forbidden",
      );
    }
    assertEquals(await s.engine.lastPosition(), before);

    const list = await s.request("GET", "/v1/aggregates", { token });
    assertEquals(list.status, 200);
    assertEquals(list.json.map((a: { aggregate_id: string }) => a.aggregate_id), ["p-001"]);
    // skip counts over the permitted aggregates only.
    assertEquals((await s.request("GET", "/v1/aggregates?skip=1", { token })).json, []);
    // The admin sees all three.
    assertEquals((await s.request("GET", "/v1/aggregates")).json.length, 3);
  });
});

Deno.test("an append-only token on patient:* can write patients but not read or write doctors", async () => {
  await withRestServer(async (s) => {
    const token = await s.token({
      group: "clinic",
      user: "nurse",
      actions: ["aggregate.append"],
      resources: ["aggregate:patient:*"],
    });
    const written = await s.request("POST", "/v1/aggregates/patient/p-009/events", {
      token,
      body: eventBody(),
    });
    assertEquals(written.status, 201);
    assertEquals(written.json.metadata.issued_by, { group: "clinic", user: "nurse" });
    expectError(
      await s.request("POST", "/v1/aggregates/doctor/d-1/events", { token, body: eventBody() }),
      403,
      "forbidden",
    );
    expectError(
      await s.request("GET", "/v1/aggregates/patient/p-009", { token }),
      403,
      "forbidden",
    );
    // No aggregate.read at all: the listing is refused rather than always empty.
    expectError(await s.request("GET", "/v1/aggregates", { token }), 403, "forbidden");
    expectError(await s.request("GET", "/v1/events/stream", { token }), 403, "forbidden");
  });
});

Deno.test("a write-limited token gets 403 once its limit is reached, also in batches", async () => {
  await withRestServer(async (s) => {
    const token = await s.token({ limit: 2 });
    const body = eventBody();
    for (let i = 0; i < 2; i++) {
      const reply = await s.request("POST", "/v1/aggregates/patient/p-001/events", { token, body });
      assertEquals(reply.status, 201);
    }
    expectError(
      await s.request("POST", "/v1/aggregates/patient/p-001/events", { token, body }),
      403,
      "limit_reached",
      "limit of 2",
    );
    const more = await s.token({ limit: 1 });
    const batch = await s.request("POST", "/v1/events/batch", {
      token: more,
      body: [
        { aggregate_type: "patient", aggregate_id: "p-002", ...body },
        { aggregate_type: "patient", aggregate_id: "p-003", ...body },
      ],
    });
    expectError(batch, 403, "limit_reached");
    assertEquals(await s.engine.exists("patient", "p-002"), false);
    assertEquals(await s.engine.lastPosition(), 2);
  });
});

Deno.test("schema and token scopes: schema.read filters the list; token.manage guards tokens", async () => {
  await withRestServer(async (s) => {
    for (const name of ["patient", "doctor"]) {
      const created = await s.request("POST", "/v1/schemas", {
        body: { aggregate: name, events: [`${name}-added`] },
      });
      assertEquals(created.status, 201);
    }
    const reader = await s.token({ actions: ["schema.read"], resources: ["schema:patient"] });
    const list = await s.request("GET", "/v1/schemas", { token: reader });
    assertEquals(list.json.map((x: { aggregate: string }) => x.aggregate), ["patient"]);
    assertEquals((await s.request("GET", "/v1/schemas/patient", { token: reader })).status, 200);
    expectError(await s.request("GET", "/v1/schemas/doctor", { token: reader }), 403, "forbidden");
    expectError(
      await s.request("POST", "/v1/schemas/patient/events", {
        token: reader,
        body: { events: ["patient-moved"] },
      }),
      403,
      "forbidden",
      "schema.write",
    );
    expectError(await s.request("GET", "/v1/tokens", { token: reader }), 403, "forbidden");
    expectError(
      await s.request("POST", "/v1/tokens", { token: reader, body: { group: "g", user: "u" } }),
      403,
      "forbidden",
      "token.manage",
    );
    const manager = await s.token({ actions: ["token.manage"], resources: ["token:*"] });
    assertEquals((await s.request("GET", "/v1/tokens", { token: manager })).status, 200);
    expectError(await s.request("GET", "/v1/schemas", { token: manager }), 403, "forbidden");
  });
});

Deno.test("a small bad body with a bad token is answered 401, not 400", async () => {
  await withRestServer(async (s) => {
    const reply = await s.request("POST", "/v1/events", {
      token: "not-a-jwt",
      body: "{ this is not json",
    });
    expectError(reply, 401, "unauthorized");
  }, { maxBodyBytes: 64 });
});

/** What a raw HTTP/1.1 exchange got back: the reply, or nothing within the wait. */
interface RawReply {
  status: number;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/**
 * Send a request head and only the start of its body (the rest never comes), then wait up
 * to `waitMs` for a reply. A server that read the body before answering cannot answer:
 * the body has not been sent. Returns undefined when no reply came in time.
 */
async function replyBeforeBody(
  port: number,
  head: string,
  bodyStart: Uint8Array,
  waitMs: number,
): Promise<RawReply | undefined> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), waitMs);
  let text = "";
  try {
    const bytes = new Uint8Array([...new TextEncoder().encode(head), ...bodyStart]);
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    const buf = new Uint8Array(64 << 10);
    const decoder = new TextDecoder();
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
      const end = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (end >= 0 && length && text.length >= end + 4 + Number(length[1])) break;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.Interrupted || err instanceof Deno.errors.BadResource)) {
      throw err;
    }
    if (text === "") return undefined; // closed by the timer: no reply in time
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
  if (text === "") return undefined;
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]);
  return { status, json: JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)) };
}

const LIMIT = 1 << 20;
const SENT = 64 << 10;

/** Request heads with a body far over the limit, of a smaller but large size, or chunked. */
function framings(authorization: string): { name: string; head: string; body: Uint8Array }[] {
  const start = (path: string) =>
    `POST ${path} HTTP/1.1\r\nHost: dbx\r\n${authorization}Content-Type: application/json\r\n`;
  const bytes = new Uint8Array(SENT).fill(0x20);
  const chunk = new Uint8Array([
    ...new TextEncoder().encode(`${SENT.toString(16)}\r\n`),
    ...bytes,
    ...new TextEncoder().encode("\r\n"),
  ]);
  return [
    {
      name: "Content-Length 32 MiB (32x the limit)",
      head: `${start("/v1/events")}Content-Length: ${32 << 20}\r\n\r\n`,
      body: bytes,
    },
    {
      name: "Content-Length 768 KiB (within the limit)",
      head: `${start("/v1/aggregates/patient/p-1/events")}Content-Length: ${768 << 10}\r\n\r\n`,
      body: bytes,
    },
    {
      name: "chunked, no length, never ending",
      head: `${start("/v1/events/batch")}Transfer-Encoding: chunked\r\n\r\n`,
      body: chunk,
    },
  ];
}

Deno.test("a huge or endless body without a valid token: 401 while the client is still sending it", async () => {
  const foreign = await foreignToken();
  await withRestServer(async (s) => {
    const bad: [string, string][] = [
      ["no token", ""],
      ["a malformed token", "Authorization: Bearer not-a-jwt\r\n"],
      ["a token of another node", `Authorization: Bearer ${foreign}\r\n`],
    ];
    for (const [who, authorization] of bad) {
      for (const f of framings(authorization)) {
        // Only 64 KiB of the body is ever sent: a reply proves the server did not wait for it.
        const reply = await replyBeforeBody(s.port, f.head, f.body, 10_000);
        assert(reply, `${who}, ${f.name}: no reply within 10 s (the server waits for the body)`);
        assertEquals(reply.status, 401, `${who}, ${f.name}: ${JSON.stringify(reply.json)}`);
        assertEquals(reply.json.code, "unauthorized", `${who}, ${f.name}`);
      }
    }
    // Control: with a valid token the same requests are read (so the 401s above did not
    // come from reading them): the declared 32 MiB is refused as too large, and the other
    // two get no answer while the server waits for the rest of their bodies.
    const [far, within, chunked] = framings(`Authorization: Bearer ${s.admin}\r\n`);
    assertEquals((await replyBeforeBody(s.port, far.head, far.body, 10_000))?.status, 413);
    for (const f of [within, chunked]) {
      assertEquals(await replyBeforeBody(s.port, f.head, f.body, 300), undefined, f.name);
    }
    assertEquals(await s.engine.lastPosition(), 0, "nothing was stored");
  }, { maxBodyBytes: LIMIT });
});

Deno.test("a body of several MiB, whole or streamed, without a valid token gets 401 unread", async () => {
  await withRestServer(async (s) => {
    for (const authorization of [undefined, "Bearer not-a-jwt"]) {
      const headers: Record<string, string> = authorization ? { authorization } : {};
      // Whole, with its Content-Length: 6 MiB, six times the limit; 401, not 413.
      const whole = await fetch(`${s.base}/v1/events`, {
        method: "POST",
        headers,
        body: new Uint8Array(6 << 20).fill(0x20),
        signal: AbortSignal.timeout(10_000),
      });
      expectError(
        { status: whole.status, headers: whole.headers, text: "", json: await whole.json() },
        401,
        "unauthorized",
      );
      // Streamed (chunked) from a 64 MiB source: answered while most of it is unread.
      const total = 64 << 20;
      let pulled = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled >= total) return controller.close();
          pulled += 64 << 10;
          controller.enqueue(new Uint8Array(64 << 10));
        },
      }, { highWaterMark: 0 });
      const started = performance.now();
      const streamed = await fetch(`${s.base}/v1/events`, {
        method: "POST",
        headers,
        body: source,
        signal: AbortSignal.timeout(10_000),
      });
      const json = await streamed.json();
      assertEquals([streamed.status, json.code], [401, "unauthorized"]);
      assert(
        pulled < total / 4,
        `the server answered only after ${pulled} of ${total} bytes were sent`,
      );
      assert(performance.now() - started < 5_000, "answered at once");
    }
    assertEquals(await s.engine.lastPosition(), 0, "nothing was stored");
  }, { maxBodyBytes: LIMIT });
});

Deno.test("a well-formed token over the length cap is refused with 401; one at the cap works", async () => {
  await withRestServer(async (s) => {
    const { secretKey } = await loadOrCreateNodeKey(s.dir);
    const { fits, over } = paddedTokens(s.admin, secretKey);
    assertEquals((await s.request("GET", "/v1/aggregates", { token: fits })).status, 200);
    expectError(
      await s.request("GET", "/v1/aggregates", { token: over }),
      401,
      "unauthorized",
      "too long",
    );
  });
});
