/**
 * The seeds' cURL examples, run verbatim through real `curl` in a shell; only
 * `TOKEN` is replaced by a real token and port 7070 by the test server's port.
 *
 * The older seed (000) prints its commands in full. The current seed (001)
 * keeps only their comment lines; its commands are the ones the upstream
 * README shows under exactly those comments.
 */
import { assert, assertEquals, type RestServer, withRestServer } from "./_rest_setup.ts";
import { PROCESS_DEADLINE_MS, runWithin } from "../_helpers/deadline.ts";

/** seeds/000: "cURL examples". */
const OLDER_SEED = {
  health: `curl http://localhost:7070/health`,
  list: `curl \\
  -H "Authorization: Bearer TOKEN" \\
  http://localhost:7070/v1/aggregates`,
  append: `curl \\
  -X POST \\
  -H "Authorization: Bearer TOKEN" \\
  -H "Content-Type: application/json" \\
  -d '{
        "event_type": "patient-updated",
        "payload": {
          "status": "inactive",
          "comment": "Archived via API"
        }
      }' \\
  http://localhost:7070/v1/aggregates/patient/p-001/events`,
  recent: `curl \\
  -H "Authorization: Bearer TOKEN" \\
  "http://localhost:7070/v1/aggregates/patient/p-001/events/recent?take=5"`,
  schema: `curl \\
  -H "Authorization: Bearer TOKEN" \\
  http://localhost:7070/v1/schemas/patient | jq`,
};

/** seeds/001: "cURL examples". */
const CURRENT_SEED = {
  post: `curl \\
  -X POST \\
  -H "Authorization: Bearer TOKEN" \\
  -H "Content-Type: application/json" \\
  -d '{
        "aggregate_type": "patient",
        "aggregate_id": "p-001",
        "event_type": "patient-updated",
        "payload": {
          "status": "inactive",
          "meta": {"source": "api"}
        }
      }' \\
  http://localhost:7070/v1/events`,
  firstTen: `curl \\
  -H "Authorization: Bearer TOKEN" \\
  "http://localhost:7070/v1/aggregates/patient/p-001/events?skip=0&take=10"`,
  health: `curl http://localhost:7070/health`,
  list: `curl \\
  -H "Authorization: Bearer TOKEN" \\
  http://localhost:7070/v1/aggregates`,
  append: `curl \\
  -X POST \\
  -H "Authorization: Bearer TOKEN" \\
  -H "Content-Type: application/json" \\
  -d '{
        "aggregate_type": "patient",
        "aggregate_id": "p-001",
        "event_type": "patient-updated",
        "payload": {
          "status": "inactive",
          "comment": "Archived via API"
        }
      }' \\
  http://localhost:7070/v1/events`,
};

/** Run one example in bash; returns its stdout parsed as JSON. */
async function curl(s: RestServer, command: string, token: string): Promise<unknown> {
  const script = command.replaceAll("TOKEN", token).replaceAll(":7070/", `:${s.port}/`);
  const output = await runWithin(
    new Deno.Command("bash", {
      args: ["-c", `set -o pipefail; ${script}`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
    PROCESS_DEADLINE_MS,
    `curl example: ${command.split("\n")[0]}`,
  );
  const stdout = new TextDecoder().decode(output.stdout);
  assertEquals(
    output.code,
    0,
    `${command}\nexited ${output.code}: ${new TextDecoder().decode(output.stderr)}`,
  );
  return JSON.parse(stdout);
}

Deno.test("the older seed's cURL examples work verbatim", async () => {
  await withRestServer(async (s) => {
    // As in the seed's getting-started steps: a schema and a token for jane.
    const schema = await s.request("POST", "/v1/schemas", {
      body: { aggregate: "patient", events: ["patient-added", "patient-updated"] },
    });
    assertEquals(schema.status, 201);
    const token = await s.token({ group: "admin", user: "jane", expiration: 3600 });

    assertEquals(await curl(s, OLDER_SEED.health, token), { status: "ok" });
    assertEquals(await curl(s, OLDER_SEED.list, token), []);
    // deno-lint-ignore no-explicit-any
    const record = await curl(s, OLDER_SEED.append, token) as any;
    assertEquals(record.aggregate_type, "patient");
    assertEquals(record.aggregate_id, "p-001");
    assertEquals(record.event_type, "patient-updated");
    assertEquals(record.payload, { status: "inactive", comment: "Archived via API" });
    assertEquals(record.version, 1);
    assertEquals(record.metadata.issued_by, { group: "admin", user: "jane" });
    const recent = await curl(s, OLDER_SEED.recent, token) as unknown[];
    assertEquals(recent, [record]);
    // deno-lint-ignore no-explicit-any
    const shown = await curl(s, OLDER_SEED.schema, token) as any;
    assertEquals(shown.aggregate, "patient");
    assertEquals(Object.keys(shown.events), ["patient-added", "patient-updated"]);
    // deno-lint-ignore no-explicit-any
    const listed = await curl(s, OLDER_SEED.list, token) as any[];
    assertEquals(listed.map((a) => `${a.aggregate_type}/${a.aggregate_id}`), ["patient/p-001"]);
  });
});

Deno.test("the current seed's cURL examples work verbatim", async () => {
  await withRestServer(async (s) => {
    const token = await s.token({ group: "admin", user: "jane", expiration: 3600 });
    // deno-lint-ignore no-explicit-any
    const posted = await curl(s, CURRENT_SEED.post, token) as any;
    assertEquals(posted.version, 1);
    assertEquals(posted.payload, { status: "inactive", meta: { source: "api" } });
    const events = await curl(s, CURRENT_SEED.firstTen, token) as unknown[];
    assertEquals(events, [posted]);
    assertEquals(await curl(s, CURRENT_SEED.health, token), { status: "ok" });
    // deno-lint-ignore no-explicit-any
    const listed = await curl(s, CURRENT_SEED.list, token) as any[];
    assertEquals(listed.length, 1);
    assertEquals(listed[0].aggregate_id, "p-001");
    assertEquals(listed[0].version, 1);
    // deno-lint-ignore no-explicit-any
    const appended = await curl(s, CURRENT_SEED.append, token) as any;
    assertEquals(appended.version, 2);
    assertEquals(appended.metadata.issued_by, { group: "admin", user: "jane" });
    const state = (await s.request("GET", "/v1/aggregates/patient/p-001")).json.state;
    assertEquals(state, {
      status: "inactive",
      meta: { source: "api" },
      comment: "Archived via API",
    });
    assert((await curl(s, CURRENT_SEED.firstTen, token) as unknown[]).length === 2);
  });
});

Deno.test("the examples fail cleanly without a real token (401 JSON through curl)", async () => {
  await withRestServer(async (s) => {
    // deno-lint-ignore no-explicit-any
    const refused = await curl(s, CURRENT_SEED.list, "TOKEN") as any;
    assertEquals(refused.code, "unauthorized");
    assertEquals(await s.engine.lastPosition(), 0);
  });
});
