/**
 * Off-the-shelf tools work: `buf curl` (npm @bufbuild/buf) lists the services through server
 * reflection, and calls methods it knows only from reflection, with and without a token;
 * the standard grpc.health.v1 service answers probes (buf curl and the Node client).
 */
import { runWithin } from "../_helpers/deadline.ts";
import {
  assert,
  assertEquals,
  BUF,
  Code,
  expectOk,
  expectStatus,
  GRPC_TEST_OPTS as OPTS,
  withGrpcServer,
} from "./_grpc_setup.ts";

/** Run `buf curl` against the server with prior-knowledge HTTP/2 (no TLS). */
async function bufCurl(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await runWithin(
    new Deno.Command(BUF, {
      args: ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args],
      env: { HOME: Deno.env.get("HOME") ?? "/tmp", BUF_CACHE_DIR: "/tmp/dbx-grpc-test-buf-cache" },
      stdout: "piped",
      stderr: "piped",
    }),
    60_000,
    `buf curl ${args.join(" ").slice(0, 100)}`,
  );
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test(
  "grpc reflection: buf curl lists every method of the service and the health service",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const listed = await bufCurl(["--list-methods", `http://${s.target}`]);
      assertEquals(listed.code, 0, listed.stderr);
      const methods = listed.stdout.trim().split("\n").sort();
      for (
        const name of [
          "Health",
          "AppendEvent",
          "AppendEvents",
          "ListAggregates",
          "GetAggregate",
          "ListEvents",
          "VerifyAggregate",
          "SubscribeEvents",
        ]
      ) {
        assert(methods.includes(`eventdbx.api.EventService/${name}`), listed.stdout);
      }
      assert(methods.includes("grpc.health.v1.Health/Check"), listed.stdout);
      assert(methods.includes("grpc.health.v1.Health/Watch"), listed.stdout);
      const services = await bufCurl(["--list-services", `http://${s.target}`]);
      assertEquals(services.code, 0, services.stderr);
      assert(services.stdout.includes("eventdbx.api.EventService"), services.stdout);
    });
  },
);

Deno.test(
  "grpc reflection: buf curl calls methods through reflection, with and without a token",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const url = (method: string) => `http://${s.target}/eventdbx.api.EventService/${method}`;
      const auth = ["-H", `authorization: Bearer ${s.admin}`];
      const appended = await bufCurl([
        ...auth,
        "-d",
        JSON.stringify({
          aggregate_type: "patient",
          aggregate_id: "p-1",
          event_type: "added",
          payload_json: JSON.stringify({ name: "Jane" }),
        }),
        url("AppendEvent"),
      ]);
      assertEquals(appended.code, 0, appended.stderr);
      // buf prints the response as protobuf JSON (camelCase, 64-bit integers as strings).
      const reply = JSON.parse(appended.stdout);
      assertEquals(reply.created, true);
      assertEquals(reply.event.version, "1");
      assertEquals(JSON.parse(reply.event.payloadJson), { name: "Jane" });

      const read = await bufCurl([
        ...auth,
        "-d",
        '{"aggregate_type":"patient","aggregate_id":"p-1"}',
        url("GetAggregate"),
      ]);
      assertEquals(read.code, 0, read.stderr);
      assertEquals(JSON.parse(JSON.parse(read.stdout).aggregate.stateJson), { name: "Jane" });

      // Without a token: the status, as buf shows it.
      const refused = await bufCurl(["-d", "{}", url("ListAggregates")]);
      assert(refused.code !== 0, "buf curl fails on an error status");
      const error = JSON.parse(refused.stdout || refused.stderr);
      assertEquals(error.code, "unauthenticated");
      assert(error.message.includes("token is required"), error.message);

      const health = await bufCurl(["-d", "{}", url("Health")]);
      assertEquals(health.code, 0, health.stderr);
      assertEquals(JSON.parse(health.stdout), { status: "ok" });
    });
  },
);

Deno.test(
  "grpc health: grpc.health.v1 answers SERVING for the server and the service, NOT_FOUND otherwise",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const check = await bufCurl([
        "-d",
        '{"service":"eventdbx.api.EventService"}',
        `http://${s.target}/grpc.health.v1.Health/Check`,
      ]);
      assertEquals(check.code, 0, check.stderr);
      assertEquals(JSON.parse(check.stdout), { status: "SERVING" });
      const H = "grpc.health.v1.Health";
      const [whole, named, unknown] = await s.client([
        { call: "Check", service: H, request: {} },
        { call: "Check", service: H, request: { service: "eventdbx.api.EventService" } },
        { call: "Check", service: H, request: { service: "no.such.Service" } },
      ]);
      assertEquals(expectOk(whole, "Check ''"), { status: "SERVING" });
      assertEquals(expectOk(named, "Check EventService"), { status: "SERVING" });
      expectStatus(unknown, Code.NOT_FOUND);
    });
  },
);
