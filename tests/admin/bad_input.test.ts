/**
 * Bad input on every new path (the Admin API's routes and REST's /v1/remotes and
 * /v1/plugins): malformed JSON, wrong types, invalid names and values, unknown fields,
 * oversized and too deeply nested bodies, query parameters. Each answers a clear 4xx with a
 * message, the server keeps serving, and nothing stored changes.
 */
import { join } from "node:path";
import type { AdminServer, Reply } from "./_setup.ts";
import {
  assert,
  assertEquals,
  KEY,
  OTHER_PUBLIC_KEY,
  PUBLIC_KEY,
  withAdminServer,
} from "./_setup.ts";

const LOCAL = { kind: "local", user: "tester" } as const;

interface Case {
  method: string;
  path: string;
  /** Sent as is when a string, else as JSON. */
  body?: unknown;
  status: number;
  /** What the message must say. */
  says: RegExp;
}

const SMALL_ORDER_KEY = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; // the identity point
const NOT_A_POINT = "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

const REMOTE_CASES: Case[] = [
  {
    method: "PUT",
    path: "/remotes/standby",
    body: '{"host": ',
    status: 400,
    says: /not valid JSON/,
  },
  { method: "PUT", path: "/remotes/standby", body: "[1]", status: 400, says: /JSON object/ },
  { method: "PUT", path: "/remotes/standby", body: "", status: 400, says: /body is empty/ },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: 5, public_key: PUBLIC_KEY },
    status: 400,
    says: /host/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2", port: "6363", public_key: PUBLIC_KEY },
    status: 400,
    says: /port must be an integer/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2", port: 70000, public_key: PUBLIC_KEY },
    status: 400,
    says: /port/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2 rm -rf", public_key: PUBLIC_KEY },
    status: 400,
    says: /not a host name or IP address/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { endpoint: "http://10.0.0.2:6363", public_key: PUBLIC_KEY },
    status: 400,
    says: /tcp:\/\/HOST:PORT/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { endpoint: "tcp://10.0.0.2", public_key: PUBLIC_KEY },
    status: 400,
    says: /HOST:PORT/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { endpoint: "tcp://10.0.0.2:1", host: "10.0.0.2", public_key: PUBLIC_KEY },
    status: 400,
    says: /either endpoint or host/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2" },
    status: 400,
    says: /public_key is required/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2", public_key: 7 },
    status: 400,
    says: /public_key must be an Ed25519 public key/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2", public_key: "c2hvcnQ=" },
    status: 400,
    says: /32 bytes/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2", public_key: SMALL_ORDER_KEY },
    status: 400,
    says: /not a valid Ed25519 public key/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2", public_key: NOT_A_POINT },
    status: 400,
    says: /not a valid Ed25519 public key/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { host: "10.0.0.2", public_key: PUBLIC_KEY, trust: "yes" },
    status: 400,
    says: /unknown field "trust"/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: { name: "other", host: "10.0.0.2", public_key: PUBLIC_KEY },
    status: 400,
    says: /differs from the path/,
  },
  {
    method: "PUT",
    path: "/remotes/bad%20name",
    body: { host: "10.0.0.2", public_key: PUBLIC_KEY },
    status: 400,
    says: /remote name/,
  },
  {
    method: "PUT",
    path: "/remotes/-dash",
    body: { host: "10.0.0.2", public_key: PUBLIC_KEY },
    status: 400,
    says: /start with a letter or digit/,
  },
  {
    method: "PUT",
    path: `/remotes/${"n".repeat(65)}`,
    body: { host: "10.0.0.2", public_key: PUBLIC_KEY },
    status: 400,
    says: /longer than 64/,
  },
  // A dot segment is resolved by the client before it is sent: no route then.
  { method: "GET", path: "/remotes/%2E%2E", status: 404, says: /no route/ },
  { method: "DELETE", path: "/remotes/a:b", status: 400, says: /remote name/ },
  {
    method: "DELETE",
    path: "/remotes/standby",
    body: { force: true },
    status: 400,
    says: /unknown field/,
  },
];

const tcp = { kind: "tcp", host: "127.0.0.1", port: 9000 };
const PLUGIN_CASES: Case[] = [
  { method: "PUT", path: "/plugins/p", body: "{kind", status: 400, says: /not valid JSON/ },
  { method: "PUT", path: "/plugins/p", body: "null", status: 400, says: /JSON object/ },
  { method: "PUT", path: "/plugins/p", body: {}, status: 400, says: /kind must be one of/ },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "ftp" },
    status: 400,
    says: /kind must be one of/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "tcp", host: "h" },
    status: 400,
    says: /port is required/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { ...tcp, port: "9000" },
    status: 400,
    says: /port must be an integer/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { ...tcp, enabled: "yes" },
    status: 400,
    says: /enabled must be true or false/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { ...tcp, endpoint: "http://x" },
    status: 400,
    says: /a tcp plugin has no field "endpoint"/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "http", endpoint: "ftp://files.local" },
    status: 400,
    says: /http:\/\/ or https:\/\//,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "http", endpoint: "http://hooks.local", https: true },
    status: 400,
    says: /https is true/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "http", endpoint: "hooks.local", headers: ["X-A=1"] },
    status: 400,
    says: /headers must be an object/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "http", endpoint: "hooks.local", headers: { "Bad Name": "1" } },
    status: 400,
    says: /header name/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "http", endpoint: "hooks.local", headers: { "X-A": "1\r\nX-Injected: 2" } },
    status: 400,
    says: /without line breaks/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "http", endpoint: "hooks.local", headers: { "Content-Length": "1" } },
    status: 400,
    says: /set by the delivery/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "log", level: "loud" },
    status: 400,
    says: /level must be one of/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "log", template: "{aggregate} {secret}" },
    status: 400,
    says: /placeholders/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "process", plugin: "search", version: "1.2" },
    status: 400,
    says: /semantic version/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "process", plugin: "search", version: "1.2.0", env: { "1BAD": "x" } },
    status: 400,
    says: /env name/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "process", plugin: "search", version: "1.2.0", args: "--fast" },
    status: 400,
    says: /args must be a list/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "process", plugin: "../escape", version: "1.2.0" },
    status: 400,
    says: /plugin/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "postgres", connection: "mysql://db/x" },
    status: 400,
    says: /postgres:\/\//,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "sqlite", path: "" },
    status: 400,
    says: /path must be a non-empty/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "json", path: "/tmp/x", pretty: 1 },
    status: 400,
    says: /pretty/,
  },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { kind: "csv" },
    status: 400,
    says: /output_dir is required/,
  },
  { method: "PUT", path: "/plugins/bad%2Fname", body: tcp, status: 400, says: /plugin name/ },
  {
    method: "PUT",
    path: "/plugins/p",
    body: { ...tcp, name: "q" },
    status: 400,
    says: /differs from the path/,
  },
  {
    method: "POST",
    path: "/plugins/audit/enable",
    body: { now: true },
    status: 400,
    says: /unknown field/,
  },
  { method: "POST", path: "/plugins/audit/disable", body: "[]", status: 400, says: /JSON object/ },
  { method: "DELETE", path: "/plugins/audit", status: 409, says: /disable it/ },
  { method: "GET", path: "/plugins/no_such.plugin", status: 404, says: /no plugin named/ },
];

const OTHER_CASES: Case[] = [
  { method: "POST", path: "/tokens", body: "{", status: 400, says: /not valid JSON/ },
  {
    method: "POST",
    path: "/tokens",
    body: { group: 5, user: "u" },
    status: 400,
    says: /group must be a string/,
  },
  {
    method: "POST",
    path: "/tokens",
    body: { group: "g", user: "u", expiration: -1 },
    status: 400,
    says: /expiration/,
  },
  {
    method: "POST",
    path: "/tokens",
    body: { group: "g", user: "u", admin: true },
    status: 400,
    says: /unknown field "admin"/,
  },
  { method: "POST", path: "/tokens/revoke", body: {}, status: 400, says: /token is required/ },
  {
    method: "POST",
    path: "/tokens/refresh",
    body: { token: [] },
    status: 400,
    says: /token must be a string/,
  },
  {
    method: "POST",
    path: "/schemas",
    body: { aggregate: "", events: [] },
    status: 400,
    says: /aggregate type/,
  },
  {
    method: "POST",
    path: "/schemas",
    body: { aggregate: "order", events: "order-placed" },
    status: 400,
    says: /events must be a list/,
  },
  {
    method: "PATCH",
    path: "/schemas/patient",
    body: { colour: "red" },
    status: 400,
    says: /unknown field/,
  },
  { method: "PUT", path: "/schemas/patient", body: "[]", status: 400, says: /JSON object/ },
  { method: "GET", path: "/tokens?debug=1", status: 400, says: /no query parameters/ },
  {
    method: "POST",
    path: "/tokens",
    body: `{"group": "g", "user": "u", "actions": ${nested(200)}}`,
    status: 400,
    says: /nested deeper/,
  },
  {
    method: "PUT",
    path: "/remotes/standby",
    body: `{"host": "10.0.0.2", "x": ${nested(500)}}`,
    status: 400,
    says: /nested deeper/,
  },
];

/** Everything stored that a request could change. */
async function snapshot(s: AdminServer) {
  const read = (name: string) => Deno.readTextFile(join(s.dir, name)).catch(() => null);
  return {
    remotes: await read("remotes.json"),
    plugins: await read("plugins.json"),
    config: await read("config.toml"),
    schemas: await s.server.api.call(LOCAL, "listSchemas", {}),
    tokens: await s.server.api.call(LOCAL, "listTokens", {}),
  };
}

async function seed(s: AdminServer): Promise<void> {
  const api = s.server.api;
  await api.call(LOCAL, "createSchema", { aggregate: "patient", events: ["patient-added"] });
  await api.call(LOCAL, "upsertRemote", {
    name: "standby",
    host: "10.0.0.2",
    public_key: PUBLIC_KEY,
  });
  await api.call(LOCAL, "upsertPlugin", { name: "audit", kind: "log", level: "info" });
}

function checkReply(reply: Reply, c: Case, label: string): void {
  assertEquals(reply.status, c.status, `${label}: ${reply.text}`);
  assert(typeof reply.json?.message === "string", `${label}: ${reply.text}`);
  assert(c.says.test(reply.json.message), `${label}: ${reply.json.message}`);
  assert(!/\n\s+at /.test(reply.json.message), `${label}: no stack trace`);
}

Deno.test("admin: every class of bad input gets a clear 4xx and changes nothing", async () => {
  await withAdminServer(async (s) => {
    await seed(s);
    const before = await snapshot(s);
    for (const c of [...REMOTE_CASES, ...PLUGIN_CASES, ...OTHER_CASES]) {
      const label = `${c.method} ${c.path} ${
        typeof c.body === "string" ? c.body.slice(0, 40) : JSON.stringify(c.body)?.slice(0, 80)
      }`;
      checkReply(await s.request(c.method, c.path, { body: c.body }), c, label);
    }
    assertEquals(await snapshot(s), before);
    // Still serving.
    assertEquals((await s.request("GET", "/remotes")).json.length, 1);
  });
});

Deno.test("admin: oversized and non-UTF-8 bodies are refused before they are used", async () => {
  await withAdminServer(async (s) => {
    await seed(s);
    const before = await snapshot(s);
    const huge = JSON.stringify({
      host: "10.0.0.2",
      public_key: PUBLIC_KEY,
      pad: "x".repeat(2 << 20),
    });
    for (const path of ["/remotes/standby", "/plugins/audit"]) {
      const reply = await s.request("PUT", path, { body: huge });
      assertEquals(reply.status, 413, reply.text);
      assertEquals(reply.json.code, "too_large");
    }
    // A streamed body of unknown length is counted as it arrives.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 40; i++) controller.enqueue(new Uint8Array(64 << 10).fill(32));
        controller.close();
      },
    });
    const streamed = await fetch(`${s.admin}/tokens`, {
      method: "POST",
      headers: { "X-Admin-Key": KEY },
      body: stream,
    });
    assertEquals(streamed.status, 413);
    await streamed.body?.cancel();
    const latin1 = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]);
    const bad = await fetch(`${s.admin}/remotes/standby`, {
      method: "PUT",
      headers: { "X-Admin-Key": KEY },
      body: latin1,
    });
    assertEquals(bad.status, 400);
    assert(/UTF-8/.test((await bad.json()).message));
    assertEquals(await snapshot(s), before);
  });
});

Deno.test("REST /v1/remotes and /v1/plugins: bad input is refused the same way, scopes apply", async () => {
  await withAdminServer(async (s) => {
    await seed(s);
    const api = s.server.api;
    const all = (await api.call(LOCAL, "generateToken", { group: "g", user: "all" })).token;
    const before = await snapshot(s);
    const cases: Case[] = [
      {
        method: "PUT",
        path: "/v1/remotes/standby",
        body: "{",
        status: 400,
        says: /not valid JSON/,
      },
      {
        method: "PUT",
        path: "/v1/remotes/standby",
        body: { host: "10.0.0.2", public_key: OTHER_PUBLIC_KEY, extra: 1 },
        status: 400,
        says: /unknown field/,
      },
      { method: "PUT", path: "/v1/remotes/bad%20name", body: {}, status: 400, says: /remote name/ },
      {
        method: "PUT",
        path: "/v1/plugins/p",
        body: { kind: "tcp", host: "h", port: 0 },
        status: 400,
        says: /port/,
      },
      { method: "DELETE", path: "/v1/plugins/audit", status: 409, says: /disable it/ },
      { method: "GET", path: "/v1/remotes/nobody", status: 404, says: /no remote named/ },
    ];
    for (const c of cases) {
      checkReply(await s.restRequest(c.method, c.path, all, c.body), c, `${c.method} ${c.path}`);
    }
    assertEquals(await snapshot(s), before);

    // Scopes: a token without remote.manage is refused; one scoped to prod-* manages only those.
    const reader = (await api.call(LOCAL, "generateToken", {
      group: "g",
      user: "reader",
      actions: ["aggregate.read"],
    })).token;
    assertEquals((await s.restRequest("GET", "/v1/remotes", reader)).status, 403);
    assertEquals((await s.restRequest("GET", "/v1/plugins", reader)).status, 403);
    const prod = (await api.call(LOCAL, "generateToken", {
      group: "g",
      user: "prod",
      actions: ["remote.manage"],
      resources: ["remote:prod-*"],
    })).token;
    const put = await s.restRequest("PUT", "/v1/remotes/prod-1", prod, {
      host: "10.0.0.7",
      public_key: OTHER_PUBLIC_KEY,
    });
    assertEquals(put.status, 201, put.text);
    assertEquals((await s.restRequest("DELETE", "/v1/remotes/standby", prod)).status, 403);
    const listed = await s.restRequest("GET", "/v1/remotes", prod);
    assertEquals(listed.json.map((r: { name: string }) => r.name), ["prod-1"]);
    // The full-scope token sees both; the plugin routes work with it.
    assertEquals((await s.restRequest("GET", "/v1/remotes", all)).json.length, 2);
    assertEquals(
      (await s.restRequest("POST", "/v1/plugins/audit/disable", all)).json.enabled,
      false,
    );
    assertEquals((await s.restRequest("DELETE", "/v1/plugins/audit", all)).status, 200);
  });
});
