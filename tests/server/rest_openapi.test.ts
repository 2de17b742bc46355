/**
 * The OpenAPI document matches the app's routes; unknown routes and methods
 * answer JSON 404/405; unexpected failures answer a generic JSON 500.
 */
import { assert, assertEquals, expectError, withRestServer } from "./_rest_setup.ts";

// deno-lint-ignore no-explicit-any
type Doc = any;

function documentRoutes(doc: Doc): string[] {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

function collectRefs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => collectRefs(v, out));
  else if (typeof value === "object" && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      if (key === "$ref" && typeof v === "string") out.push(v);
      else collectRefs(v, out);
    }
  }
  return out;
}

Deno.test("GET /openapi.json describes exactly the app's routes (method and path)", async () => {
  await withRestServer(async (s) => {
    const reply = await s.request("GET", "/openapi.json");
    assertEquals(reply.status, 200);
    const doc = reply.json;
    // Hono lists a route once per handler in its chain (guard, handler): compare as sets.
    const appRoutes = [
      ...new Set(
        s.app.routes
          .filter((r) => r.method !== "ALL")
          .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
      ),
    ].sort();
    assertEquals(documentRoutes(doc), appRoutes);
  });
});

Deno.test("the OpenAPI document is a consistent 3.1 document with bearer security", async () => {
  await withRestServer(async (s) => {
    const doc = (await s.request("GET", "/openapi.json")).json;
    assertEquals(doc.openapi, "3.1.0");
    assertEquals(doc.components.securitySchemes.bearer, {
      type: "http",
      scheme: "bearer",
      bearerFormat: "JWT (EdDSA)",
    });
    assertEquals(doc.security, [{ bearer: [] }]);
    for (const ref of collectRefs(doc)) {
      const [, section, name] = /^#\/components\/(\w+)\/(\w+)$/.exec(ref) ?? [];
      assert(doc.components[section]?.[name], `dangling $ref ${ref}`);
    }
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Doc>>)) {
      const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        assert(typeof op.summary === "string" && op.summary.length > 0, `${where}: no summary`);
        const declared = (op.parameters ?? [])
          .filter((p: Doc) => p.in === "path")
          .map((p: Doc) => p.name)
          .sort();
        assertEquals(declared, pathParams, `${where}: path parameters`);
        assert(Object.keys(op.responses).some((code) => code.startsWith("2")), `${where}: no 2xx`);
        assert(op.responses["500"], `${where}: no 500`);
        if (path === "/health") assertEquals(op.security, [], "/health needs no token");
        else {
          assertEquals(op.security, undefined, `${where} must use the bearer default`);
          assert(op.responses["401"] && op.responses["403"], `${where}: no 401/403`);
        }
        if (["post", "put", "patch"].includes(method)) {
          assert(op.requestBody?.content?.["application/json"], `${where}: no request body`);
          const optional = /\/(snapshot|archive|restore|commit|enable|disable)$/.test(path);
          assertEquals(op.requestBody.required, !optional, `${where}: body required?`);
        }
      }
    }
    expectError(await s.request("GET", "/openapi.json", { token: null }), 401, "unauthorized");
  });
});

Deno.test("unknown routes are 404 JSON; known paths with another method are 405 with Allow", async () => {
  await withRestServer(async (s) => {
    for (
      const path of ["/", "/v2/aggregates", "/v1/aggregates/patient", "/v1/aggregates/", "/nope"]
    ) {
      expectError(await s.request("GET", path), 404, "not_found", "no route");
      // The router answers 404 without looking at the token.
      expectError(await s.request("GET", path, { token: null }), 404, "not_found");
    }
    const cases: [string, string, string][] = [
      ["DELETE", "/v1/aggregates", "GET, HEAD"],
      ["PUT", "/v1/events", "POST"],
      ["GET", "/v1/events/batch", "POST"],
      ["POST", "/health", "GET, HEAD"],
      ["PATCH", "/v1/aggregates/patient/p-001/events", "GET, HEAD, POST"],
      ["GET", "/v1/tokens/revoke", "POST"],
      ["POST", "/v1/schemas/patient", "DELETE, GET, HEAD, PATCH, PUT"],
    ];
    for (const [method, path, allow] of cases) {
      const reply = await s.request(method, path);
      expectError(reply, 405, "method_not_allowed", method);
      assertEquals(reply.headers.get("allow"), allow);
    }
    const head = await fetch(`${s.base}/health`, { method: "HEAD" });
    await head.body?.cancel();
    assertEquals(head.status, 200);
  });
});

Deno.test("a closed store answers 503 unavailable, not a crash", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001");
    const token = await s.token({ group: "ops", user: "eve" });
    await s.storage.close();
    // Listing events always reads the store (a current state may come from the cache).
    const reply = await s.request("GET", "/v1/aggregates/patient/p-001/events", { token });
    expectError(reply, 503, "unavailable");
  });
});

Deno.test("an unexpected failure is a generic 500 JSON; the log names the route, not the token", async () => {
  await withRestServer(async (s) => {
    await s.seed("patient", "p-001");
    const token = await s.token({ group: "ops", user: "eve" });
    // Fault injection at the storage boundary: a raw error no layer anticipates.
    const storage = s.storage as { get: (key: Uint8Array) => Promise<unknown> };
    storage.get = () => Promise.reject(new TypeError("rocksdb: internal failure at block 7"));
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => logged.push(args.map(String).join(" "));
    let reply;
    try {
      // Listing events always reads the store (a current state may come from the cache).
      reply = await s.request("GET", "/v1/aggregates/patient/p-001/events", { token });
    } finally {
      console.error = original;
    }
    expectError(reply, 500, "internal");
    assertEquals(reply.json.message, "internal server error");
    const log = logged.join("\n");
    assert(log.includes("GET /v1/aggregates/patient/p-001/events"), log);
    assert(!log.includes(token), "the log contains the token");
    assert(!reply.text.includes("rocksdb") && !reply.text.includes("at "), reply.text);
  });
});
