/**
 * Hostile input over REST: JSON nested just under and over the depth limit on every input
 * path (an append's payload and patch, a batch, staging, schema import and replace), the
 * payload that used to break an aggregate for good, events with neither payload nor patch,
 * and a revoked token's live stream, which gets nothing committed after the revocation.
 */
import { assert, assertEquals, expectError, withRestServer } from "./_rest_setup.ts";

/** A JSON object `depth` levels deep: `{"a":{"a":…1…}}` (an object is one level). */
function nested(depth: number): Record<string, unknown> {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value as Record<string, unknown>;
}

/** The same as JSON text (built as text: a very deep value cannot even be stringified). */
function nestedText(depth: number): string {
  return '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

const LIMIT = 64;

Deno.test("depth: every input path takes JSON just under the limit and refuses it just over", async () => {
  await withRestServer(async (s) => {
    // Each path: the body (as text) with a value `d` levels deep where depth counts from the
    // body itself, so the limit is the same for every route.
    const paths: [string, string, (d: number) => string][] = [
      // {"event_type", "payload": value}: the payload is level 2.
      [
        "POST",
        "/v1/aggregates/doc/d-1/events",
        (d) => `{"event_type":"set","payload":${nestedText(d - 1)}}`,
      ],
      [
        "POST",
        "/v1/events",
        (d) =>
          `{"aggregate_type":"doc","aggregate_id":"d-2","event_type":"set","payload":${
            nestedText(d - 1)
          }}`,
      ],
      // {"events": [ {…, "payload": value} ]}: the payload is level 4.
      [
        "POST",
        "/v1/events/batch",
        (d) =>
          `{"events":[{"aggregate_type":"doc","aggregate_id":"d-3","event_type":"set","payload":${
            nestedText(d - 3)
          }}]}`,
      ],
      [
        "POST",
        "/v1/staged",
        (d) =>
          `{"aggregate_type":"doc","aggregate_id":"d-4","event_type":"set","payload":${
            nestedText(d - 1)
          }}`,
      ],
      // {"event_type", "patch": [ {"op","path","value": value} ]}: the value is level 4.
      [
        "POST",
        "/v1/aggregates/doc/d-5/events",
        (d) =>
          `{"event_type":"set","patch":[{"op":"add","path":"/a","value":${nestedText(d - 3)}}]}`,
      ],
      // PUT /v1/schemas/doc: the API's input is {aggregate, schema}: the body is level 2.
      ["PUT", "/v1/schemas/doc", (d) => `{"events":{"set":{}},"x":${nestedText(d - 2)}}`],
      // POST /v1/schemas/import: the input is {schemas}: the body is level 2.
      ["POST", "/v1/schemas/import", (d) => `{"aggregate":"doc2","x":${nestedText(d - 2)}}`],
    ];
    for (const [method, path, body] of paths) {
      const over = await s.request(method, path, {
        body: body(LIMIT + 1),
        headers: { "content-type": "application/json" },
      });
      expectError(over, 400, "invalid_input", `nested deeper than ${LIMIT} levels`);
      const under = await s.request(method, path, {
        body: body(LIMIT),
        headers: { "content-type": "application/json" },
      });
      // Within the limit the depth is not the complaint (a schema may refuse the unknown field).
      assert(
        !under.text.includes("nested deeper"),
        `${method} ${path} at the limit: ${under.text}`,
      );
    }
    // What was accepted within the limit reads back whole.
    const doc = await s.request("GET", "/v1/aggregates/doc/d-1");
    assertEquals(doc.status, 200);
  });
});

Deno.test("depth: the payloads that broke an aggregate (3,000 and 100,000 deep) are 400, nothing stored", async () => {
  await withRestServer(async (s) => {
    await s.seed("doc", "d-1", { ok: true });
    for (const depth of [3000, 4000, 100_000]) {
      const reply = await s.request("POST", "/v1/aggregates/doc/d-1/events", {
        body: `{"event_type":"set","payload":${nestedText(depth)}}`,
        headers: { "content-type": "application/json" },
      });
      expectError(reply, 400, "invalid_input", "nested deeper");
    }
    const doc = await s.request("GET", "/v1/aggregates/doc/d-1");
    assertEquals(doc.status, 200, doc.text);
    assertEquals(doc.json.version, 1);
    assertEquals(doc.json.state, { ok: "true" });
  });
});

Deno.test("depth: the limit is configurable (max_json_depth)", async () => {
  await withRestServer(async (s) => {
    const body = (d: number) => ({ event_type: "set", payload: nested(d - 1) });
    expectError(
      await s.request("POST", "/v1/aggregates/doc/d-1/events", { body: body(9) }),
      400,
      "invalid_input",
      "deeper than 8 levels",
    );
    assertEquals(
      (await s.request("POST", "/v1/aggregates/doc/d-1/events", { body: body(8) })).status,
      201,
    );
  }, { config: { max_json_depth: 8 } });
});

Deno.test("an append with neither payload nor patch is 400 on both routes; {} is an empty payload", async () => {
  await withRestServer(async (s) => {
    expectError(
      await s.request("POST", "/v1/aggregates/doc/d-1/events", { body: { event_type: "set" } }),
      400,
      "invalid_input",
      "payload or a patch",
    );
    expectError(
      await s.request("POST", "/v1/events", {
        body: { aggregate_type: "doc", aggregate_id: "d-1", event_type: "set" },
      }),
      400,
      "invalid_input",
      "payload or a patch",
    );
    assertEquals(await s.engine.lastPosition(), 0);
    const empty = await s.request("POST", "/v1/aggregates/doc/d-1/events", {
      body: { event_type: "set", payload: {} },
    });
    assertEquals(empty.status, 201);
    assertEquals(empty.json.payload, {});
  });
});

Deno.test("a token revoked while its stream is open gets no event committed after the revocation", async () => {
  await withRestServer(async (s) => {
    const token = await s.token({ group: "audit", user: "eve" });
    const controller = new AbortController();
    const res = await fetch(`${s.base}/v1/events/stream?from=0`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    assertEquals(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const readUntil = async (pattern: RegExp, ms: number) => {
      const deadline = Date.now() + ms;
      while (!pattern.test(text)) {
        const left = deadline - Date.now();
        assert(left > 0, `not seen within ${ms} ms: ${pattern} in ${text}`);
        const chunk = await Promise.race([
          reader.read(),
          new Promise<{ done: true; value: undefined }>((resolve) =>
            setTimeout(() => resolve({ done: true, value: undefined }), left)
          ),
        ]);
        if (chunk.done) break;
        text += chunk.value;
      }
    };
    try {
      await s.seed("doc", "before", { n: 1 });
      await readUntil(/"aggregate_id":"before"/, 5000);
      // Revoke, then commit at once: the stream (rechecking only every 5 s before) must not
      // hand this one out.
      const revoked = await s.request("POST", "/v1/tokens/revoke", { body: { token } });
      assertEquals(revoked.status, 200);
      await s.seed("doc", "after", { n: 2 });
      await readUntil(/event: error/, 5000);
      assert(!text.includes('"aggregate_id":"after"'), `an event after the revocation: ${text}`);
      assert(
        /event: error\ndata: \{"message":"[^"]*revoked[^"]*","code":"unauthorized"\}/.test(text),
        text,
      );
    } finally {
      controller.abort();
      await reader.cancel().catch(() => {});
    }
  });
});
