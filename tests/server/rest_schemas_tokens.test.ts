/**
 * Schema and token management over REST (the routes the CLI proxy uses).
 */
import { assert, assertEquals, expectError, withRestServer } from "./_rest_setup.ts";

Deno.test("schema routes: create, get, list, add, remove, note, alter, put, delete", async () => {
  await withRestServer(async (s) => {
    const created = await s.request("POST", "/v1/schemas", {
      body: { aggregate: "patient", events: ["patient-added"], snapshot_threshold: 100 },
    });
    assertEquals(created.status, 201);
    assertEquals(Object.keys(created.json.events), ["patient-added"]);
    assertEquals(created.json.snapshot_threshold, 100);
    expectError(
      await s.request("POST", "/v1/schemas", { body: { aggregate: "patient", events: ["x"] } }),
      409,
      "conflict",
      "already exists",
    );

    const got = await s.request("GET", "/v1/schemas/patient");
    assertEquals(got.status, 200);
    assertEquals(got.json.aggregate, "patient");
    expectError(await s.request("GET", "/v1/schemas/nobody"), 404, "not_found", "nobody");

    const added = await s.request("POST", "/v1/schemas/patient/events", {
      body: { events: ["patient-updated", "patient-moved"] },
    });
    assertEquals(Object.keys(added.json.events).sort(), [
      "patient-added",
      "patient-moved",
      "patient-updated",
    ]);
    const removed = await s.request("DELETE", "/v1/schemas/patient/events/patient-moved");
    assertEquals(removed.status, 200);
    assertEquals(Object.keys(removed.json.events).sort(), ["patient-added", "patient-updated"]);
    expectError(
      await s.request("DELETE", "/v1/schemas/patient/events/patient-moved"),
      404,
      "not_found",
    );

    const noted = await s.request("POST", "/v1/schemas/patient/events/patient-added/note", {
      body: { note: "first visit" },
    });
    assertEquals(noted.json.events["patient-added"].notes, "first visit");
    const cleared = await s.request("POST", "/v1/schemas/patient/events/patient-added/note", {
      body: { clear: true },
    });
    assertEquals(cleared.json.events["patient-added"].notes, undefined);
    for (const body of [{}, { note: "x", clear: true }, { note: 5 }, { clear: "yes" }]) {
      expectError(
        await s.request("POST", "/v1/schemas/patient/events/patient-added/note", { body }),
        400,
        "invalid_input",
      );
    }

    const altered = await s.request("PATCH", "/v1/schemas/patient", {
      body: {
        column: { field: "age", type: "integer", rules: { range: { min: "0" } } },
        locked: false,
        event_fields: { event: "patient-added", add: ["name", "age"] },
      },
    });
    assertEquals(altered.status, 200);
    assertEquals(altered.json.columns.age.type, "integer");
    assertEquals(altered.json.events["patient-added"].fields, ["age", "name"]);
    expectError(
      await s.request("PATCH", "/v1/schemas/patient", { body: { colour: "red" } }),
      400,
      "invalid_input",
      "colour",
    );
    expectError(
      await s.request("PATCH", "/v1/schemas/patient", { body: { locked: "yes" } }),
      400,
      "invalid_input",
      "locked",
    );

    const put = await s.request("PUT", "/v1/schemas/doctor", {
      body: { events: { "doctor-added": { fields: [] } } },
    });
    assertEquals(put.status, 200);
    assertEquals(put.json.aggregate, "doctor");
    expectError(
      await s.request("PUT", "/v1/schemas/doctor", {
        body: { aggregate: "nurse", events: { x: { fields: [] } } },
      }),
      400,
      "invalid_input",
      "differs",
    );

    const list = await s.request("GET", "/v1/schemas");
    assertEquals(list.json.map((x: { aggregate: string }) => x.aggregate), ["doctor", "patient"]);
    const deleted = await s.request("DELETE", "/v1/schemas/doctor");
    assertEquals(deleted.json, { aggregate: "doctor", deleted: true });
    expectError(await s.request("DELETE", "/v1/schemas/doctor"), 404, "not_found");
  });
});

Deno.test("schema create: bad bodies are 400", async () => {
  await withRestServer(async (s) => {
    const cases: [unknown, string][] = [
      [{ events: ["a"] }, "aggregate"],
      [{ aggregate: "p", events: "a,b" }, "events"],
      [{ aggregate: "p", events: [] }, "event"],
      [{ aggregate: "p", events: [1] }, "event type"],
      [{ aggregate: "p", events: ["a"], snapshot_threshold: "5" }, "snapshot_threshold"],
      [{ aggregate: "p", events: ["a"], extra: true }, "extra"],
      [{ aggregate: 7, events: ["a"] }, "aggregate"],
    ];
    for (const [body, part] of cases) {
      expectError(await s.request("POST", "/v1/schemas", { body }), 400, "invalid_input", part);
    }
    assertEquals((await s.request("GET", "/v1/schemas")).json, []);
  });
});

Deno.test("schema import: one schema, an object of schemas, replace, and its scope", async () => {
  await withRestServer(async (s) => {
    await s.request("POST", "/v1/schemas", { body: { aggregate: "old", events: ["e"] } });
    const one = await s.request("POST", "/v1/schemas/import", {
      body: { aggregate: "patient", events: { "patient-added": { fields: [] } } },
    });
    assertEquals(one.status, 200);
    assertEquals(one.json.map((x: { aggregate: string }) => x.aggregate), ["patient"]);
    const narrow = await s.token({ actions: ["schema.write"], resources: ["schema:doctor"] });
    const many = { doctor: { events: { "doctor-added": { fields: [] } } } };
    expectError(
      await s.request("POST", "/v1/schemas/import?replace=true", { token: narrow, body: many }),
      403,
      "forbidden",
    );
    const scoped = await s.request("POST", "/v1/schemas/import", { token: narrow, body: many });
    assertEquals(scoped.status, 200);
    const replaced = await s.request("POST", "/v1/schemas/import?replace=true", { body: many });
    assertEquals(replaced.status, 200);
    const names = (await s.request("GET", "/v1/schemas")).json.map(
      (x: { aggregate: string }) => x.aggregate,
    );
    assertEquals(names, ["doctor"]);
    expectError(await s.request("POST", "/v1/schemas/import", { body: "{" }), 400, "invalid_input");
    expectError(
      await s.request("POST", "/v1/schemas/import?replace=maybe", { body: many }),
      400,
      "invalid_input",
      "replace",
    );
  });
});

Deno.test("token routes: generate, list, refresh, revoke", async () => {
  await withRestServer(async (s) => {
    const issued = await s.request("POST", "/v1/tokens", {
      body: {
        group: "ops",
        user: "alice",
        expiration: 3600,
        limit: 5,
        actions: ["aggregate.read"],
        resources: ["aggregate:patient:*"],
      },
    });
    assertEquals(issued.status, 201);
    const token: string = issued.json.token;
    assertEquals(token.split(".").length, 3);
    assertEquals(issued.json.info.group, "ops");
    assertEquals(issued.json.info.limit, 5);
    assertEquals(issued.json.info.resources, ["aggregate:patient:*"]);
    // The new token works with its scope.
    await s.seed("patient", "p-1");
    assertEquals((await s.request("GET", "/v1/aggregates/patient/p-1", { token })).status, 200);

    const list = await s.request("GET", "/v1/tokens");
    assertEquals(list.status, 200);
    const info = list.json.find((t: { id: string }) => t.id === issued.json.info.id);
    assertEquals(info.user, "alice");
    assert(!list.text.includes(token), "the token list contains a token string");

    const refreshed = await s.request("POST", "/v1/tokens/refresh", {
      body: { token, limit: 10 },
    });
    assertEquals(refreshed.status, 200);
    assertEquals(refreshed.json.info.limit, 10);
    assertEquals(typeof refreshed.json.token, "string");

    const revoked = await s.request("POST", "/v1/tokens/revoke", {
      body: { token: issued.json.info.id },
    });
    assertEquals(revoked.json.status, "revoked");
    expectError(
      await s.request("GET", "/v1/aggregates/patient/p-1", { token }),
      401,
      "unauthorized",
    );
    expectError(
      await s.request("POST", "/v1/tokens/refresh", { body: { token, expiration: 60 } }),
      409,
      "conflict",
      "revoked",
    );
  });
});

Deno.test("token routes: bad bodies are 400", async () => {
  await withRestServer(async (s) => {
    const cases: [string, unknown, string][] = [
      ["/v1/tokens", { user: "u" }, "group"],
      ["/v1/tokens", { group: "g", user: "u", expiration: "60" }, "expiration"],
      ["/v1/tokens", { group: "g", user: "u", expiration: 0 }, "expiration"],
      ["/v1/tokens", { group: "g", user: "u", limit: -1 }, "limit"],
      ["/v1/tokens", { group: "g", user: "u", keep_alive: "yes" }, "keep_alive"],
      ["/v1/tokens", { group: "g", user: "u", actions: "aggregate.read" }, "actions"],
      ["/v1/tokens", { group: "g", user: "u", actions: ["aggregate.delete"] }, "unknown action"],
      ["/v1/tokens", { group: "g", user: "u", resources: ["patient:p-1"] }, "resource"],
      ["/v1/tokens", { group: "g", user: "u", admin: true }, "admin"],
      ["/v1/tokens/revoke", {}, "token"],
      ["/v1/tokens/revoke", { token: 5 }, "token"],
      ["/v1/tokens/revoke", { token: "garbage" }, "token"],
      ["/v1/tokens/refresh", { token: "garbage", expiration: 60 }, "token"],
    ];
    for (const [path, body, part] of cases) {
      expectError(await s.request("POST", path, { body }), 400, "invalid_input", part);
    }
    expectError(
      await s.request("POST", "/v1/tokens/revoke", { body: { token: crypto.randomUUID() } }),
      404,
      "not_found",
    );
  });
});
