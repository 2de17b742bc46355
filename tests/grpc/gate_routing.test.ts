/**
 * The public port's gate telling gRPC from HTTP: a connection that opens with the HTTP/2
 * prior-knowledge preface (whole, or in pieces) goes to the HTTP/2 upstream with every byte
 * intact, anything else to the HTTP upstreams as before; the header timeout still applies
 * to a preface that never completes, the gate leaves idle HTTP/2 connections to the server
 * behind it, both kinds count towards one connection cap, and the route can be set later.
 * The gate and two private servers run in this process, on Unix sockets in a temp dir.
 */
import assert from "node:assert/strict";
import { type GateLimits, openGate, opensHttp2 } from "../../src/server/gate.ts";
import { grpcPlacement } from "../../src/server/grpc_listener.ts";
import { withDeadline } from "../_helpers/deadline.ts";
import { withTempDir } from "../_helpers/temp.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const PREFACE = encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

Deno.test("gate routing: opensHttp2 decides on the preface alone", () => {
  assert.equal(opensHttp2(encode("GET / HTTP/1.1\r\n")), false);
  assert.equal(opensHttp2(encode("POST /v1/events HTTP/1.1\r\n")), false);
  assert.equal(opensHttp2(encode("PRI / HTTP/1.1\r\n\r\n")), false, "PRI, but not the preface");
  assert.equal(opensHttp2(encode("P")), undefined);
  assert.equal(opensHttp2(encode("PRI * HTTP/2.0\r\n\r\nSM\r\n")), undefined);
  assert.equal(opensHttp2(PREFACE), true);
  assert.equal(opensHttp2(new Uint8Array([...PREFACE, 0, 0, 0, 4])), true);
  assert.equal(opensHttp2(new Uint8Array(0)), undefined);
});

Deno.test("gate routing: [grpc].bind_addr at its default or on the HTTP port shares it", () => {
  assert.deepEqual(grpcPlacement("0.0.0.0:7070", 7070), { shared: true });
  assert.deepEqual(
    grpcPlacement("0.0.0.0:7070", 41234),
    { shared: true },
    "the default follows HTTP",
  );
  assert.deepEqual(grpcPlacement("127.0.0.1:8080", 8080), { shared: true });
  assert.deepEqual(grpcPlacement("127.0.0.1:50051", 7070), {
    shared: false,
    hostname: "127.0.0.1",
    port: 50051,
  });
  assert.deepEqual(grpcPlacement("[::1]:50051", 7070), {
    shared: false,
    hostname: "::1",
    port: 50051,
  });
});

/** What the HTTP/2 upstream received on each connection (it answers "h2 <n bytes>"). */
interface Upstreams {
  http: string;
  h2: string;
  /** Bytes received by the HTTP/2 upstream, per connection, once each closed. */
  h2Received: Uint8Array[];
}

async function withRouting(
  limits: GateLimits,
  fn: (port: number, up: Upstreams, gate: ReturnType<typeof openGate>) => Promise<void>,
  route = true,
): Promise<void> {
  await withTempDir(async (dir) => {
    const up: Upstreams = { http: `${dir}/http.sock`, h2: `${dir}/h2.sock`, h2Received: [] };
    const http = Deno.serve({ path: up.http, onListen() {} }, () => new Response("from http"));
    // A stand-in for the gRPC server: it keeps every byte and echoes how many it has.
    const h2 = Deno.listen({ transport: "unix", path: up.h2 });
    const serving = (async () => {
      for await (const conn of h2) {
        (async () => {
          const chunks: Uint8Array[] = [];
          const buffer = new Uint8Array(4096);
          let total = 0;
          try {
            for (;;) {
              const n = await conn.read(buffer);
              if (n === null) break;
              chunks.push(buffer.slice(0, n));
              total += n;
              await conn.write(encode(`h2 ${total}\n`));
            }
          } catch { /* the gate closed it */ }
          up.h2Received.push(new Uint8Array(chunks.flatMap((c) => [...c])));
          try {
            conn.close();
          } catch { /* closed */ }
        })();
      }
    })();
    const gate = openGate({
      hostname: "127.0.0.1",
      port: 0,
      limits,
      upstreams: [{ transport: "unix", path: up.http }],
      http2Upstreams: route ? [{ transport: "unix", path: up.h2 }] : undefined,
      http: true,
      log: () => {},
    });
    try {
      await fn(gate.port, up, gate);
    } finally {
      await gate.close(100);
      h2.close();
      await serving.catch(() => {});
      await http.shutdown();
    }
  }, "dbx-gate-routing-");
}

const LIMITS: GateLimits = { maxConnections: 64, headerTimeoutMs: 10_000, idleTimeoutMs: 10_000 };

/** Read from `conn` until `text` has arrived (bounded). */
async function readUntil(conn: Deno.Conn, text: string): Promise<string> {
  let got = "";
  const buffer = new Uint8Array(4096);
  await withDeadline(10_000, `the answer ${JSON.stringify(text)}`, async () => {
    while (!got.includes(text)) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`closed after ${JSON.stringify(got)}`);
      got += new TextDecoder().decode(buffer.subarray(0, n));
    }
  });
  return got;
}

/** Everything until the peer closes (bounded). */
async function readToClose(conn: Deno.Conn, ms = 10_000): Promise<string> {
  let got = "";
  const buffer = new Uint8Array(4096);
  await withDeadline(ms, "the gate to close the connection", async () => {
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      got += new TextDecoder().decode(buffer.subarray(0, n));
    }
  });
  return got;
}

Deno.test("gate routing: the preface goes to the HTTP/2 upstream, whole or in pieces, every byte intact", async () => {
  await withRouting(LIMITS, async (port, up) => {
    const tail = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]); // an empty SETTINGS frame
    // Whole, with a frame behind it in the same write.
    const whole = await Deno.connect({ hostname: "127.0.0.1", port });
    await whole.write(new Uint8Array([...PREFACE, ...tail]));
    await readUntil(whole, `h2 ${PREFACE.length + tail.length}`);
    whole.close();
    // One byte at a time: the gate waits until the bytes decide.
    const pieces = await Deno.connect({ hostname: "127.0.0.1", port });
    for (const byte of PREFACE) {
      await pieces.write(Uint8Array.of(byte));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await pieces.write(tail);
    await readUntil(pieces, `h2 ${PREFACE.length + tail.length}`);
    pieces.close();
    await withDeadline(5_000, "both connections to be seen", async () => {
      while (up.h2Received.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    });
    for (const received of up.h2Received) {
      assert.deepEqual(received, new Uint8Array([...PREFACE, ...tail]));
    }
    // HTTP/1.1 (and a request that only starts like the preface) still reaches HTTP.
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), "from http");
    const pri = await Deno.connect({ hostname: "127.0.0.1", port });
    await pri.write(encode("PRI / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    const answer = await readToClose(pri);
    pri.close();
    assert(!answer.startsWith("h2 "), `went to HTTP: ${answer}`);
    assert.equal(up.h2Received.length, 2);
  });
});

Deno.test("gate routing: a preface that never completes gets the header timeout; an idle HTTP/2 connection is left open", async () => {
  const limits = { maxConnections: 64, headerTimeoutMs: 300, idleTimeoutMs: 300 };
  await withRouting(limits, async (port) => {
    const partial = await Deno.connect({ hostname: "127.0.0.1", port });
    await partial.write(PREFACE.subarray(0, 8));
    const answer = await readToClose(partial);
    partial.close();
    assert.match(answer, /^HTTP\/1\.1 408/, "a head that never completed");
    // A whole preface, then silence far past the idle timeout: the HTTP/2 server decides.
    const idle = await Deno.connect({ hostname: "127.0.0.1", port });
    await idle.write(PREFACE);
    await readUntil(idle, `h2 ${PREFACE.length}`);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await idle.write(Uint8Array.of(0));
    await readUntil(idle, `h2 ${PREFACE.length + 1}`);
    idle.close();
  });
});

Deno.test("gate routing: HTTP and HTTP/2 connections share one cap; the route can be set later", async () => {
  const limits = { maxConnections: 2, headerTimeoutMs: 10_000, idleTimeoutMs: 10_000 };
  await withRouting(limits, async (port, up, gate) => {
    // Without a route the preface goes to HTTP like any other connection.
    const before = await Deno.connect({ hostname: "127.0.0.1", port });
    await before.write(PREFACE);
    const first = await readToClose(before, 15_000).catch((err) => String(err));
    before.close();
    assert(!first.startsWith("h2 "), `before the route: ${first}`);
    gate.routeHttp2([{ transport: "unix", path: up.h2 }]);
    const h2 = await Deno.connect({ hostname: "127.0.0.1", port });
    await h2.write(PREFACE);
    await readUntil(h2, `h2 ${PREFACE.length}`);
    const http1 = await Deno.connect({ hostname: "127.0.0.1", port });
    await http1.write(encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await readUntil(http1, "from http");
    // Two open: the third is refused at once, whatever it speaks.
    const third = await Deno.connect({ hostname: "127.0.0.1", port });
    await third.write(PREFACE).catch(() => {});
    const refused = await readToClose(third);
    third.close();
    assert.match(refused, /^HTTP\/1\.1 503/);
    h2.close();
    http1.close();
  }, false);
});
