/**
 * Bad input on the gRPC surface, one test per class: messages over the size limit (the
 * configured one and the engine's payload limit), bytes that are no valid message and
 * fields of the wrong protobuf type, invalid JSON in payload_json / patch_json, unknown
 * methods and services, and garbage on the HTTP/2 connection itself (frames, gRPC message
 * framing, compression). Each gets a clear status; the server keeps serving both doors and
 * nothing is committed.
 */
import { Buffer } from "node:buffer";
import { withDeadline } from "../_helpers/deadline.ts";
import {
  appendRequest,
  assert,
  assertEquals,
  Code,
  expectOk,
  expectStatus,
  GRPC_TEST_OPTS as OPTS,
  type GrpcServer,
  withGrpcServer,
} from "./_grpc_setup.ts";

const APPEND = "/eventdbx.api.EventService/AppendEvent";

/** A varint, as protobuf writes it. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A length-delimited field (strings, messages). */
function field(number: number, text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
}

const hex = (bytes: number[] | Uint8Array) => Buffer.from(bytes).toString("hex");

/** A well-formed AppendEventRequest, by hand (what the bad ones are variations of). */
const GOOD_APPEND = [
  ...field(1, "raw"),
  ...field(2, "r-1"),
  ...field(3, "written"),
  ...field(4, '{"ok":true}'),
];

/** The server still serves gRPC and REST, and holds exactly `events` events. */
async function stillServing(s: GrpcServer, events: number): Promise<void> {
  const [health, list] = await s.client([
    { call: "Health" },
    { call: "ListAggregates", token: s.admin, request: { include_state: true } },
  ]);
  assertEquals(expectOk(health, "Health after bad input"), { status: "ok" });
  const aggregates = expectOk(list, "ListAggregates after bad input").aggregates ?? [];
  const total = aggregates.reduce((n: number, a: { version: number }) => n + a.version, 0);
  assertEquals(total, events, `committed events: ${JSON.stringify(aggregates)}`);
  const rest = await fetch(`${s.base}/health`);
  assertEquals(rest.status, 200);
  await rest.body?.cancel();
}

Deno.test(
  "grpc bad input: oversized messages answer RESOURCE_EXHAUSTED (configured limit and payload limit)",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = s.admin;
      const big = (bytes: number) => appendRequest("big", "b-1", { blob: "x".repeat(bytes) });
      // [grpc] max_message_bytes = 256 KiB on this server.
      const [over, fits] = await s.client([
        { call: "AppendEvent", token, request: big(300 << 10) },
        { call: "AppendEvent", token, request: big(100 << 10) },
      ]);
      expectStatus(over, Code.RESOURCE_EXHAUSTED, undefined, "larger than max");
      expectOk(fits, "a message within the limit");
      await stillServing(s, 1);
    }, { config: { grpc: { bind_addr: "0.0.0.0:7070", max_message_bytes: 256 << 10 } } });

    await withGrpcServer(async (s) => {
      const [tooBig, noToken] = await s.client([
        // Within the default message limit, past the engine's payload limit (1 MiB).
        {
          call: "AppendEvent",
          token: s.admin,
          request: appendRequest("big", "b-1", { blob: "x".repeat(1 << 20) }),
        },
        // Over the default limit (8 MiB) and without a token: refused before it is read.
        {
          call: "AppendEvent",
          token: null,
          request: appendRequest("big", "b-1", { blob: "y".repeat(9 << 20) }),
        },
      ]);
      expectStatus(tooBig, Code.RESOURCE_EXHAUSTED, "too_large");
      expectStatus(noToken, Code.RESOURCE_EXHAUSTED, undefined, "larger than max");
      await stillServing(s, 0);
    });
  },
);

Deno.test(
  "grpc bad input: bytes that are no message and fields of the wrong type answer INVALID_ARGUMENT",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = s.admin;
      // [what, bytes, a part of the message]: bytes the decoder cannot read are "not a valid
      // message"; what it reads leniently (protobufjs skips a field of the wrong wire type and
      // stops at the end of the bytes) arrives incomplete, and the API says what is missing.
      const cases: [string, number[], string | undefined][] = [
        ["garbage", [0xff, 0xff, 0xff, 0xff, 0xff], "not a valid"],
        ["a length past the end", [0x0a, 0x7f, 0x61], undefined],
        ["an unterminated varint", [0x38, 0xff, 0xff, 0xff], undefined],
        ["a group wire type", [0x0b, 0x0c], undefined],
        ["a uint64 field sent as a string", [...GOOD_APPEND, ...field(7, "abc")], undefined],
        [
          "a string field sent as a varint",
          [0x08, 0x96, 0x01, ...GOOD_APPEND.slice(5)],
          "required",
        ],
        ["string fields sent as fixed32", [0x0d, 1, 2, 3, 4, 0x15, 1, 2, 3, 4], "required"],
      ];
      const results = await s.client(
        cases.map(([, bytes]) => ({ raw: APPEND, hex: hex(bytes), token })),
      );
      results.forEach((result, i) => {
        try {
          expectStatus(result, Code.INVALID_ARGUMENT, "invalid_input", cases[i][2]);
        } catch (err) {
          throw new Error(`${cases[i][0]}: ${(err as Error).message}`);
        }
      });
      // Without a valid token the answer is UNAUTHENTICATED, whatever the bytes.
      const [anonymous, badToken] = await s.client([
        { raw: APPEND, hex: hex([0xff, 0xff]) },
        { raw: APPEND, hex: hex([0xff, 0xff]), token: "not-a-token" },
      ]);
      expectStatus(anonymous, Code.UNAUTHENTICATED, "unauthorized");
      expectStatus(badToken, Code.UNAUTHENTICATED, "unauthorized");
      // The hand-made message is good: the refusals above are about the bytes alone.
      const [good] = await s.client([{ raw: APPEND, hex: hex(GOOD_APPEND), token }]);
      assert(good.ok, JSON.stringify(good));
      await stillServing(s, 1);
    });
  },
);

Deno.test(
  "grpc bad input: invalid JSON in payload_json and patch_json, and too deep JSON",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const token = s.admin;
      const base = { aggregate_type: "patient", aggregate_id: "p-1", event_type: "e" };
      const deep = "[".repeat(100) + "]".repeat(100);
      const veryDeep = '{"a":' + "[".repeat(200_000) + "]".repeat(200_000) + "}";
      const results = await s.client([
        { call: "AppendEvent", token, request: { ...base, payload_json: "{name: Jane}" } },
        { call: "AppendEvent", token, request: { ...base, payload_json: '{"a":1' } },
        { call: "AppendEvent", token, request: { ...base, patch_json: "[{op:add}]" } },
        { call: "AppendEvent", token, request: { ...base, patch_json: '{"op":"add"}' } },
        { call: "AppendEvent", token, request: { ...base, payload_json: `{"a":${deep}}` } },
        { call: "AppendEvent", token, request: { ...base, payload_json: veryDeep } },
        { call: "AppendEvent", token, request: { ...base, payload_json: "{}", patch_json: "[]" } },
        // A bad token wins over bad JSON, as on REST.
        { call: "AppendEvent", token: "not-a-token", request: { ...base, payload_json: "{" } },
      ]);
      expectStatus(
        results[0],
        Code.INVALID_ARGUMENT,
        "invalid_input",
        "payload_json is not valid JSON",
      );
      expectStatus(
        results[1],
        Code.INVALID_ARGUMENT,
        "invalid_input",
        "payload_json is not valid JSON",
      );
      expectStatus(
        results[2],
        Code.INVALID_ARGUMENT,
        "invalid_input",
        "patch_json is not valid JSON",
      );
      expectStatus(results[3], Code.INVALID_ARGUMENT, "invalid_input", "patch");
      expectStatus(results[4], Code.INVALID_ARGUMENT, "invalid_input", "nested deeper");
      expectStatus(results[5], Code.INVALID_ARGUMENT, "invalid_input");
      expectStatus(results[6], Code.INVALID_ARGUMENT, "invalid_input");
      expectStatus(results[7], Code.UNAUTHENTICATED, "unauthorized");
      await stillServing(s, 0);
    });
  },
);

Deno.test("grpc bad input: unknown methods and services answer UNIMPLEMENTED", OPTS, async () => {
  await withGrpcServer(async (s) => {
    const results = await s.client([
      { raw: "/eventdbx.api.EventService/DropEverything", hex: "", token: s.admin },
      { raw: "/eventdbx.admin.Secrets/List", hex: "" },
      { raw: "/eventdbx.api.EventService/appendevent", hex: hex(GOOD_APPEND), token: s.admin },
    ]);
    for (const result of results) expectStatus(result, Code.UNIMPLEMENTED);
    await stillServing(s, 0);
  });
});

/** Everything a raw connection receives until the peer closes it (bounded). */
async function exchange(port: number, bytes: Uint8Array): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(bytes);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(4096);
    await withDeadline(20_000, "the server to close a garbage connection", async () => {
      for (;;) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        chunks.push(buffer.slice(0, n));
      }
    });
    return Buffer.concat(chunks);
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

Deno.test(
  "grpc bad input: garbage on the HTTP/2 connection and in the gRPC framing; the server lives on",
  OPTS,
  async () => {
    await withGrpcServer(async (s) => {
      const preface = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      // Frames that are not frames: the HTTP/2 server answers GOAWAY and closes.
      const garbage = crypto.getRandomValues(new Uint8Array(512));
      garbage[3] = 0x04; // a SETTINGS frame type with a length that cannot be
      const answer = await exchange(s.port, Buffer.concat([preface, garbage]));
      // A GOAWAY frame (type 7) is somewhere in the answer.
      assert(answer.length > 0, "the server said something before closing");
      // Only the preface, then the connection is cut at once.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      await conn.write(preface.subarray(0, 10));
      conn.close();

      const token = s.admin;
      const frame = (flag: number, declared: number, body: number[]) =>
        hex([
          flag,
          declared >>> 24,
          (declared >>> 16) & 255,
          (declared >>> 8) & 255,
          declared & 255,
          ...body,
        ]);
      const results = await s.client([
        // A message that says 1000 bytes and has 10.
        { h2: APPEND, token, hex: frame(0, 1000, Array(10).fill(0x0a)) },
        // Compressed with an encoding nobody declared.
        { h2: APPEND, token, hex: frame(1, 4, [1, 2, 3, 4]) },
        // Declared gzip, but not gzip.
        { h2: APPEND, token, headers: { "grpc-encoding": "gzip" }, hex: frame(1, 4, [1, 2, 3, 4]) },
        // Two messages for a unary method.
        {
          h2: APPEND,
          token,
          hex: frame(0, GOOD_APPEND.length, GOOD_APPEND) +
            frame(0, GOOD_APPEND.length, GOOD_APPEND),
        },
        // No message at all.
        { h2: APPEND, token, hex: "" },
        // Not gRPC: a plain HTTP/2 request on the gRPC side of the port.
        { h2: "/health", headers: { ":method": "GET", "content-type": "text/plain" }, hex: "" },
      ]);
      const statuses = results.map((r) => r.grpc_status);
      assertEquals(statuses.slice(0, 5), [
        String(Code.UNIMPLEMENTED), // grpc-js: "received no request message"
        String(Code.INVALID_ARGUMENT), // the bytes are no message
        String(Code.INTERNAL), // "failed to decompress"
        String(Code.UNIMPLEMENTED), // "received a second request message"
        String(Code.UNIMPLEMENTED),
      ], JSON.stringify(results));
      // A plain HTTP/2 request on the gRPC side: 415, use gRPC (or HTTP/1.1 for REST).
      assertEquals(results[5].status, 415, JSON.stringify(results[5]));
      await stillServing(s, 0);
    });
  },
);
