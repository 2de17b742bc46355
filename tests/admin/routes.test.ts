/**
 * Every Admin API route, on a real server: refused without the key and with a wrong one
 * (nothing changes), and with the key (either header form) answering what the matching
 * operation answers for the CLI's local caller, with its effect visible where the CLI would
 * see it (REST with an issued token, the schema store, remotes.json, plugins.json).
 */
import { join } from "node:path";
import type { Api } from "../../src/api/api.ts";
import { createAdminApp } from "../../src/admin/app.ts";
import {
  type AdminServer,
  assert,
  assertEquals,
  KEY,
  OTHER_PUBLIC_KEY,
  PUBLIC_KEY,
  withAdminServer,
} from "./_setup.ts";

const LOCAL = { kind: "local", user: "tester" } as const;

/** Every route of the app: method, Hono path, a concrete path and a plausible body. */
const ROUTES: { method: string; route: string; path: string; body?: unknown }[] = [
  { method: "GET", route: "/admin/tokens", path: "/tokens" },
  { method: "POST", route: "/admin/tokens", path: "/tokens", body: { group: "g", user: "u" } },
  { method: "POST", route: "/admin/tokens/revoke", path: "/tokens/revoke", body: { token: "x" } },
  { method: "POST", route: "/admin/tokens/refresh", path: "/tokens/refresh", body: { token: "x" } },
  { method: "GET", route: "/admin/schemas", path: "/schemas" },
  {
    method: "POST",
    route: "/admin/schemas",
    path: "/schemas",
    body: { aggregate: "order", events: ["order-placed"] },
  },
  { method: "GET", route: "/admin/schemas/:aggregate", path: "/schemas/patient" },
  {
    method: "PUT",
    route: "/admin/schemas/:aggregate",
    path: "/schemas/patient",
    body: { events: { "patient-added": {} } },
  },
  {
    method: "PATCH",
    route: "/admin/schemas/:aggregate",
    path: "/schemas/patient",
    body: { locked: true },
  },
  { method: "DELETE", route: "/admin/schemas/:aggregate", path: "/schemas/patient" },
  {
    method: "POST",
    route: "/admin/schemas/:aggregate/events",
    path: "/schemas/patient/events",
    body: { events: ["patient-moved"] },
  },
  {
    method: "DELETE",
    route: "/admin/schemas/:aggregate/events/:event",
    path: "/schemas/patient/events/patient-added",
  },
  {
    method: "POST",
    route: "/admin/schemas/:aggregate/events/:event/note",
    path: "/schemas/patient/events/patient-added/note",
    body: { note: "n" },
  },
  { method: "GET", route: "/admin/remotes", path: "/remotes" },
  { method: "GET", route: "/admin/remotes/:name", path: "/remotes/standby" },
  {
    method: "PUT",
    route: "/admin/remotes/:name",
    path: "/remotes/other",
    body: { host: "10.0.0.9", public_key: OTHER_PUBLIC_KEY },
  },
  { method: "DELETE", route: "/admin/remotes/:name", path: "/remotes/standby" },
  { method: "GET", route: "/admin/plugins", path: "/plugins" },
  { method: "GET", route: "/admin/plugins/:name", path: "/plugins/audit" },
  {
    method: "PUT",
    route: "/admin/plugins/:name",
    path: "/plugins/other",
    body: { kind: "log", level: "info" },
  },
  { method: "DELETE", route: "/admin/plugins/:name", path: "/plugins/audit" },
  { method: "POST", route: "/admin/plugins/:name/enable", path: "/plugins/audit/enable" },
  { method: "POST", route: "/admin/plugins/:name/disable", path: "/plugins/audit/disable" },
];

/** Everything an Admin route could change, as plain data. */
async function snapshot(s: AdminServer) {
  const read = (name: string) => Deno.readTextFile(join(s.dir, name)).catch(() => null);
  const api = s.server.api;
  return {
    remotes: await read("remotes.json"),
    plugins: await read("plugins.json"),
    schemas: await api.call(LOCAL, "listSchemas", {}),
    tokens: await api.call(LOCAL, "listTokens", {}),
  };
}

/** A schema, a remote and a plugin, so that every route has something to act on. */
async function seed(api: Api): Promise<void> {
  await api.call(LOCAL, "createSchema", { aggregate: "patient", events: ["patient-added"] });
  await api.call(LOCAL, "upsertRemote", {
    name: "standby",
    endpoint: "tcp://10.0.0.2:6363",
    public_key: PUBLIC_KEY,
  });
  await api.call(LOCAL, "upsertPlugin", { name: "audit", kind: "log", level: "info" });
}

Deno.test("admin: this suite covers every route of the Admin API", () => {
  const app = createAdminApp({ api: {} as Api });
  const routes = new Set(
    app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`),
  );
  assertEquals([...routes].sort(), ROUTES.map((r) => `${r.method} ${r.route}`).sort());
});

Deno.test("admin: every route refuses a missing or wrong key with 401 and changes nothing", async () => {
  await withAdminServer(async (s) => {
    await seed(s.server.api);
    const before = await snapshot(s);
    for (const [i, route] of ROUTES.entries()) {
      const label = `${route.method} ${route.path}`;
      const missing = await s.request(route.method, route.path, { key: null, body: route.body });
      assertEquals(missing.status, 401, `${label} without a key: ${missing.text}`);
      assertEquals(missing.json.code, "unauthorized", label);
      assert(/X-Admin-Key/.test(missing.json.message), `${label}: ${missing.json.message}`);
      assertEquals(missing.headers.get("www-authenticate"), 'Bearer realm="eventdbx-admin"');
      // Each wrong key from an address of its own: one failure each, none rate limited.
      const wrong = await s.request(route.method, route.path, {
        key: `${KEY}-wrong`,
        bearer: i % 2 === 0,
        body: route.body,
        from: `127.0.0.${20 + i}`,
      });
      assertEquals(wrong.status, 401, `${label} with a wrong key: ${wrong.text}`);
      assertEquals(wrong.json.message, "the Admin master key is wrong", label);
      assert(!wrong.text.includes(KEY), label);
    }
    // An unknown path is no different: no route list for a client without the key.
    const unknown = await s.request("GET", "/nothing-here", { key: null });
    assertEquals(unknown.status, 401);
    assertEquals(await snapshot(s), before);
  });
});

Deno.test("admin: token routes issue, list, refresh and revoke tokens that REST honours", async () => {
  await withAdminServer(async (s) => {
    const issued = await s.request("POST", "/tokens", {
      body: { group: "ops", user: "robot", expiration: 3600, actions: ["aggregate.read"] },
    });
    assertEquals(issued.status, 201, issued.text);
    const token: string = issued.json.token;
    assertEquals(issued.json.info.group, "ops");
    assertEquals((await s.restRequest("GET", "/v1/aggregates", token)).status, 200);
    // A read-only token may not append.
    const append = await s.restRequest("POST", "/v1/aggregates/a/1/events", token, {
      event_type: "e",
      payload: {},
    });
    assertEquals(append.status, 403, append.text);

    const listed = await s.request("GET", "/tokens", { bearer: true });
    assertEquals(listed.status, 200);
    assertEquals(listed.json, await s.server.api.call(LOCAL, "listTokens", {}));
    assert(listed.json.some((t: { id: string }) => t.id === issued.json.info.id));
    assert(!listed.text.includes(token), "a listing never shows token strings");

    const refreshed = await s.request("POST", "/tokens/refresh", {
      body: { token, expiration: 7200 },
    });
    assertEquals(refreshed.status, 200, refreshed.text);
    assertEquals(refreshed.json.info.id, issued.json.info.id);

    const revoked = await s.request("POST", "/tokens/revoke", {
      bearer: true,
      body: { token: refreshed.json.token },
    });
    assertEquals(revoked.status, 200, revoked.text);
    assertEquals(revoked.json.status, "revoked");
    assertEquals((await s.restRequest("GET", "/v1/aggregates", refreshed.json.token)).status, 401);
  });
});

Deno.test("admin: schema routes create, show, replace, alter, annotate, shrink and delete", async () => {
  await withAdminServer(async (s) => {
    const api = s.server.api;
    const created = await s.request("POST", "/schemas", {
      body: { aggregate: "patient", events: ["patient-added", "patient-moved"] },
    });
    assertEquals(created.status, 201, created.text);
    assertEquals(created.json, await api.call(LOCAL, "getSchema", { aggregate: "patient" }));

    const listed = await s.request("GET", "/schemas", { bearer: true });
    assertEquals(listed.json, await api.call(LOCAL, "listSchemas", {}));
    const shown = await s.request("GET", "/schemas/patient");
    assertEquals(shown.status, 200);
    assertEquals(Object.keys(shown.json.events).sort(), ["patient-added", "patient-moved"]);

    const added = await s.request("POST", "/schemas/patient/events", {
      body: { events: ["patient-left"] },
    });
    assertEquals(added.status, 200, added.text);
    assert("patient-left" in added.json.events);

    const noted = await s.request("POST", "/schemas/patient/events/patient-left/note", {
      body: { note: "discharged" },
    });
    assertEquals(noted.status, 200, noted.text);
    const stored = await api.call(LOCAL, "getSchema", { aggregate: "patient" });
    assertEquals(stored.events["patient-left"].notes, "discharged");

    const altered = await s.request("PATCH", "/schemas/patient", {
      body: { snapshot_threshold: 50 },
    });
    assertEquals(altered.status, 200, altered.text);
    assertEquals(altered.json.snapshot_threshold, 50);

    const removed = await s.request("DELETE", "/schemas/patient/events/patient-moved");
    assertEquals(removed.status, 200, removed.text);
    assertEquals(Object.keys(removed.json.events).sort(), ["patient-added", "patient-left"]);

    const replaced = await s.request("PUT", "/schemas/patient", {
      body: { events: { "patient-added": {} } },
    });
    assertEquals(replaced.status, 200, replaced.text);
    assertEquals(Object.keys(replaced.json.events), ["patient-added"]);

    // The schema is enforced: an event it does not declare is refused on REST.
    const token = (await api.call(LOCAL, "generateToken", { group: "g", user: "u" })).token;
    const refused = await s.restRequest("POST", "/v1/aggregates/patient/p-1/events", token, {
      event_type: "patient-moved",
      payload: {},
    });
    assertEquals(refused.status, 400, refused.text);

    const deleted = await s.request("DELETE", "/schemas/patient", { bearer: true });
    assertEquals(deleted.status, 200, deleted.text);
    assertEquals(deleted.json, { aggregate: "patient", deleted: true });
    assertEquals((await s.request("GET", "/schemas/patient")).status, 404);
  });
});

Deno.test("admin: remote routes add, replace, show, list and remove remotes in remotes.json", async () => {
  await withAdminServer(async (s) => {
    const added = await s.request("PUT", "/remotes/standby", {
      body: { host: "10.0.0.2", public_key: PUBLIC_KEY },
    });
    assertEquals(added.status, 201, added.text);
    assertEquals(added.json.created, true);
    assertEquals(added.json.remote.endpoint, "tcp://10.0.0.2:6363");

    const replaced = await s.request("PUT", "/remotes/standby", {
      bearer: true,
      body: { endpoint: "tcp://[::1]:7000", public_key: OTHER_PUBLIC_KEY },
    });
    assertEquals(replaced.status, 200, replaced.text);
    assertEquals(replaced.json.created, false);
    assertEquals(replaced.json.remote.created_at, added.json.remote.created_at);

    const shown = await s.request("GET", "/remotes/standby");
    assertEquals(shown.json, await s.server.api.call(LOCAL, "getRemote", { name: "standby" }));
    assertEquals(shown.json.endpoint, "tcp://[::1]:7000");
    assertEquals(shown.json.public_key, OTHER_PUBLIC_KEY);

    const file = JSON.parse(await Deno.readTextFile(join(s.dir, "remotes.json")));
    assertEquals(file.remotes, [shown.json]);
    assertEquals((await Deno.stat(join(s.dir, "remotes.json"))).mode! & 0o777, 0o600);

    const listed = await s.request("GET", "/remotes");
    assertEquals(listed.json, [shown.json]);

    const removed = await s.request("DELETE", "/remotes/standby", { bearer: true });
    assertEquals(removed.status, 200, removed.text);
    assertEquals(removed.json, { name: "standby", removed: true });
    assertEquals((await s.request("GET", "/remotes")).json, []);
    assertEquals((await s.request("GET", "/remotes/standby")).status, 404);
    assertEquals((await s.request("DELETE", "/remotes/standby")).status, 404);
  });
});

Deno.test("admin: plugin routes configure, enable, disable and remove (only once disabled)", async () => {
  await withAdminServer(async (s) => {
    const added = await s.request("PUT", "/plugins/hook", {
      body: { kind: "http", endpoint: "hooks.local:8080/events", https: true, enabled: false },
    });
    assertEquals(added.status, 201, added.text);
    assertEquals(added.json.plugin.endpoint, "https://hooks.local:8080/events");
    assertEquals(added.json.plugin.enabled, false);

    const enabled = await s.request("POST", "/plugins/hook/enable", { bearer: true });
    assertEquals(enabled.status, 200, enabled.text);
    assertEquals(enabled.json.enabled, true);

    const refused = await s.request("DELETE", "/plugins/hook");
    assertEquals(refused.status, 409, refused.text);
    assert(/disable it/.test(refused.json.message));

    const replaced = await s.request("PUT", "/plugins/hook", {
      body: { kind: "tcp", host: "127.0.0.1", port: 9000 },
    });
    assertEquals(replaced.status, 200, replaced.text);
    assertEquals(replaced.json.created, false);
    assertEquals(replaced.json.plugin.kind, "tcp");

    const listed = await s.request("GET", "/plugins");
    assertEquals(listed.json, await s.server.api.call(LOCAL, "listPlugins", {}));
    const shown = await s.request("GET", "/plugins/hook", { bearer: true });
    assertEquals(shown.json, listed.json[0]);
    const file = JSON.parse(await Deno.readTextFile(join(s.dir, "plugins.json")));
    assertEquals(file.plugins, listed.json);
    assertEquals((await Deno.stat(join(s.dir, "plugins.json"))).mode! & 0o777, 0o600);

    const disabled = await s.request("POST", "/plugins/hook/disable");
    assertEquals(disabled.json.enabled, false);
    const removed = await s.request("DELETE", "/plugins/hook");
    assertEquals(removed.status, 200, removed.text);
    assertEquals(removed.json, { name: "hook", removed: true });
    assertEquals((await s.request("GET", "/plugins")).json, []);
    assertEquals((await s.request("POST", "/plugins/hook/enable")).status, 404);
  });
});

Deno.test("admin: the master key manages, but cannot read or write events", async () => {
  await withAdminServer(async (s) => {
    const api = s.server.api;
    const admin = { kind: "admin", key: KEY } as const;
    const who = await api.call(admin, "describeCaller", {});
    assertEquals(who.kind, "admin");
    for (const action of ["token.manage", "schema.write", "remote.manage", "plugin.manage"]) {
      assert(who.actions.includes(action), action);
    }
    const refused = await api.call(admin, "listAggregates", {}).then(() => "ok", (e) => e.code);
    assertEquals(refused, "forbidden");
  });
});
