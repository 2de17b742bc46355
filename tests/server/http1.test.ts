/**
 * HTTP/1.1 served by the gate itself (http1.ts, the in-thread server), over raw TCP
 * connections: keep-alive and pipelining, request bodies by Content-Length and chunked,
 * `Expect: 100-continue`, HEAD, streamed responses and a client that leaves one, HTTP/1.0,
 * shutdown while busy, and every class of malformed request (a clear answer, a closed
 * connection, and a server that serves the next connection).
 */
import assert from "node:assert/strict";
import { openGate } from "../../src/server/gate.ts";
import type { FetchHandler } from "../../src/server/listener.ts";
import { withDeadline } from "../_helpers/deadline.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LIMITS = { maxConnections: 64, headerTimeoutMs: 5000, idleTimeoutMs: 5000 };
const MAX_BODY = 1024;

/** What the handler saw of each request. */
interface Seen {
  method: string;
  path: string;
  body: string;
  headers: Record<string, string>;
}

/** The test handler: echoes, streams, fails or refuses large bodies on request. */
function testHandler(seen: Seen[], cancelled: { count: number }): FetchHandler {
  return async (request) => {
    const url = new URL(request.url);
    const declared = Number(request.headers.get("content-length") ?? 0);
    if (declared > MAX_BODY) return Response.json({ code: "too_large" }, { status: 413 });
    const body = request.body ? await request.text() : "";
    seen.push({
      method: request.method,
      path: url.pathname + url.search,
      body,
      headers: Object.fromEntries(request.headers),
    });
    if (body.length > MAX_BODY) return Response.json({ code: "too_large" }, { status: 413 });
    if (url.pathname === "/fail") throw new Error("handler failure");
    if (url.pathname === "/empty") return new Response(null, { status: 204 });
    if (url.pathname === "/stream") {
      let n = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await new Promise((resolve) => setTimeout(resolve, 30));
            controller.enqueue(encoder.encode(`event ${n}\n`));
            if (++n === 3 && url.searchParams.get("forever") === null) controller.close();
          },
          cancel() {
            cancelled.count++;
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    }
    return Response.json({ method: request.method, path: url.pathname, body });
  };
}

/** A gate on a free loopback port that serves HTTP/1.1 itself with `handler`. */
function servingGate(handler: FetchHandler) {
  return openGate({
    hostname: "127.0.0.1",
    port: 0,
    limits: LIMITS,
    upstreams: [],
    http: true,
    log: () => {},
    serve: { handler, maxBodyBytes: MAX_BODY },
  });
}

async function withServer(
  fn: (port: number, seen: Seen[], cancelled: { count: number }) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const cancelled = { count: 0 };
  const gate = servingGate(testHandler(seen, cancelled));
  try {
    await fn(gate.port, seen, cancelled);
    // A malformed request never takes the server down: a fresh connection is served.
    const res = await fetch(`http://127.0.0.1:${gate.port}/after`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).path, "/after");
  } finally {
    await gate.close(500);
  }
}

/** A raw connection: write bytes, read until a condition holds or the server closes it. */
class Raw {
  text = "";
  closed = false;
  #buffer = new Uint8Array(64 << 10);
  private constructor(readonly conn: Deno.Conn) {}

  static async open(port: number): Promise<Raw> {
    return new Raw(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? encoder.encode(text) : text;
    let at = 0;
    while (at < bytes.length) at += await this.conn.write(bytes.subarray(at));
  }

  /** Read until `done(text)` or the close; the text read so far. */
  async until(done: (text: string) => boolean, what: string): Promise<string> {
    await withDeadline(5000, what, async () => {
      while (!done(this.text) && !this.closed) {
        const n = await this.conn.read(this.#buffer).catch(() => null);
        if (n === null) this.closed = true;
        else this.text += decoder.decode(this.#buffer.subarray(0, n));
      }
    });
    return this.text;
  }

  toClose(what: string): Promise<string> {
    return this.until(() => false, what);
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // closed already
    }
  }
}

/** Count complete responses framed by Content-Length in `text`. */
function responses(text: string): { status: number; headers: string; body: string }[] {
  const out = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) return out;
    const head = rest.slice(0, end);
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (rest.length < end + 4 + length) return out;
    out.push({
      status: Number(head.slice(9, 12)),
      headers: head,
      body: rest.slice(end + 4, end + 4 + length),
    });
    rest = rest.slice(end + 4 + length);
  }
}

Deno.test("http1: keep-alive and pipelined requests are answered in order on one connection", async () => {
  await withServer(async (port, seen) => {
    const raw = await Raw.open(port);
    try {
      await raw.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
      await raw.until((t) => responses(t).length === 1, "the first answer");
      // Two more in one write: pipelined.
      await raw.send(
        "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
          "GET /three?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
      );
      const all = responses(await raw.until((t) => responses(t).length === 3, "three answers"));
      assert.deepEqual(all.map((r) => JSON.parse(r.body).path), ["/one", "/two", "/three"]);
      assert.equal(JSON.parse(all[1].body).body, "hello");
      assert.equal(raw.closed, false, "the connection stays open");
      assert.deepEqual(seen.map((s) => s.path), ["/one", "/two", "/three?q=1"]);
      assert.match(all[0].headers, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(all[0].headers, /\r\ndate: /);
      assert.equal(seen[0].headers.host, "x");
    } finally {
      raw.close();
    }
  });
});

Deno.test("http1: a chunked request body arrives whole, split anywhere", async () => {
  await withServer(async (port, seen) => {
    const raw = await Raw.open(port);
    try {
      const message = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n";
      for (let i = 0; i < message.length; i += 7) {
        await raw.send(message.slice(i, i + 7));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const [answer] = responses(await raw.until((t) => responses(t).length === 1, "the answer"));
      assert.equal(JSON.parse(answer.body).body, "hello world");
      assert.equal(seen[0].body, "hello world");
    } finally {
      raw.close();
    }
  });
});

Deno.test("http1: bodies over the limit are refused (413) and the connection closes", async () => {
  await withServer(async (port, seen) => {
    const declared = await Raw.open(port);
    await declared.send(
      `POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY * 100}\r\n\r\n`,
    );
    const text = await declared.toClose("the refusal of a declared body");
    assert.match(text, /^HTTP\/1\.1 413 [^]*connection: close/);
    declared.close();

    const chunked = await Raw.open(port);
    const chunk = "a".repeat(600);
    await chunked.send(
      "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
        `258\r\n${chunk}\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n`,
    );
    assert.match(await chunked.toClose("the refusal of a chunked body"), /^HTTP\/1\.1 413 /);
    chunked.close();
    assert(seen.every((s) => s.body.length <= MAX_BODY + 600), "never more than a chunk over");
  });
});

Deno.test("http1: Expect: 100-continue gets 100 before the body is sent", async () => {
  await withServer(async (port) => {
    const raw = await Raw.open(port);
    try {
      await raw.send(
        "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
      );
      await raw.until((t) => t.includes("\r\n\r\n"), "the interim answer");
      assert.match(raw.text, /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
      await raw.send("{}");
      const text = await raw.until((t) => responses(t.slice(25)).length === 1, "the answer");
      assert.equal(JSON.parse(responses(text.slice(25))[0].body).body, "{}");
    } finally {
      raw.close();
    }
  });
});

Deno.test("http1: HEAD has headers and no body; 204 has no framing headers", async () => {
  await withServer(async (port) => {
    const raw = await Raw.open(port);
    try {
      await raw.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /empty HTTP/1.1\r\nHost: x\r\n\r\n");
      const text = await raw.until((t) => /\r\n\r\n[^]*\r\n\r\n/.test(t), "both answers");
      const [head, empty] = text.split("\r\n\r\n");
      assert.match(head, /^HTTP\/1\.1 200 [^]*content-length: \d+/);
      assert.match(empty, /^HTTP\/1\.1 204 /);
      assert.doesNotMatch(empty, /content-length|transfer-encoding/i);
    } finally {
      raw.close();
    }
  });
});

Deno.test("http1: a streamed response is chunked as it comes; a client leaving cancels it", async () => {
  await withServer(async (port, _seen, cancelled) => {
    const raw = await Raw.open(port);
    try {
      await raw.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
      const text = await raw.until((t) => t.endsWith("0\r\n\r\n"), "the whole stream");
      assert.match(text, /transfer-encoding: chunked/);
      assert.match(text, /8\r\nevent 0\n\r\n8\r\nevent 1\n\r\n8\r\nevent 2\n\r\n0\r\n\r\n$/);
      // The same connection serves the next request.
      await raw.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
      await raw.until((t) => t.includes('"path":"/next"'), "the next answer");
    } finally {
      raw.close();
    }
    const forever = await Raw.open(port);
    await forever.send("GET /stream?forever HTTP/1.1\r\nHost: x\r\n\r\n");
    await forever.until((t) => t.includes("event 1"), "the stream to start");
    forever.close();
    await withDeadline(5000, "the stream to be cancelled", async () => {
      while (cancelled.count === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    });
  });
});

Deno.test("http1: HTTP/1.0 closes after the answer unless it asks to keep alive", async () => {
  await withServer(async (port) => {
    const plain = await Raw.open(port);
    await plain.send("GET /old HTTP/1.0\r\n\r\n");
    assert.match(await plain.toClose("the 1.0 answer"), /^HTTP\/1\.1 200 [^]*connection: close/);
    plain.close();
    const kept = await Raw.open(port);
    try {
      await kept.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      await kept.until((t) => responses(t).length === 1, "the kept-alive 1.0 answer");
      assert.equal(kept.closed, false);
      assert.doesNotMatch(kept.text, /connection: close/);
    } finally {
      kept.close();
    }
  });
});

Deno.test("http1: a handler that throws gives a 500 and the connection goes on", async () => {
  await withServer(async (port) => {
    const raw = await Raw.open(port);
    const logged: string[] = [];
    const original = console.error;
    console.error = (line: string) => logged.push(line);
    try {
      await raw.send("GET /fail HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
      const all = responses(await raw.until((t) => responses(t).length === 2, "both answers"));
      assert.deepEqual(all.map((r) => r.status), [500, 200]);
      assert.equal(JSON.parse(all[0].body).code, "internal");
      assert(logged.some((l) => /GET \/fail failed: handler failure/.test(l)));
    } finally {
      console.error = original;
      raw.close();
    }
  });
});

Deno.test("http1: malformed requests get a clear answer and a closed connection", async () => {
  const cases: [string, RegExp][] = [
    ["garbage\r\n\r\n", /^HTTP\/1\.1 400 [^]*malformed request line/],
    ["GET / HTTP/1.1\r\n\r\n", /^HTTP\/1\.1 400 [^]*no Host header/],
    ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", /^HTTP\/1\.1 505 /],
    ["GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n", /^HTTP\/1\.1 400 [^]*malformed header/],
    ["GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", /^HTTP\/1\.1 400 [^]*more than one Host/],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      /^HTTP\/1\.1 400 [^]*Content-Length/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      /^HTTP\/1\.1 400 [^]*conflicting/,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      /^HTTP\/1\.1 400 [^]*both Content-Length and Transfer-Encoding/,
    ],
    ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", /^HTTP\/1\.1 501 /],
    ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /^HTTP\/1\.1 400 /],
    ["GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", /^HTTP\/1\.1 417 /],
    ["GET nowhere HTTP/1.1\r\nHost: x\r\n\r\n", /^HTTP\/1\.1 400 [^]*request target/],
    ["GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", /^HTTP\/1\.1 400 /],
    [`GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(70_000)}`, /^HTTP\/1\.1 431 [^]*too large/],
  ];
  await withServer(async (port, seen) => {
    for (const [request, expected] of cases) {
      const raw = await Raw.open(port);
      await raw.send(request);
      const text = await raw.toClose(`the answer to ${JSON.stringify(request)}`);
      raw.close();
      assert.match(text, expected, `${JSON.stringify(request)} -> ${text}`);
      assert.match(text, /connection: close/);
    }
    assert.equal(seen.length, 0, "no malformed request reached the handler");
  });
});

Deno.test("http1: closing lets the request in flight finish and closes idle connections", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const gate = servingGate(async () => {
    await held;
    return new Response("done");
  });
  const idle = await Raw.open(gate.port);
  const busy = await Raw.open(gate.port);
  try {
    await busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = gate.close(3000);
    assert.equal(await idle.toClose("the idle connection to close"), "");
    release();
    const text = await busy.toClose("the busy connection to finish and close");
    assert.match(text, /^HTTP\/1\.1 200 [^]*connection: close[^]*done$/);
    assert.equal(await closing, true, "nothing was left to cut");
  } finally {
    idle.close();
    busy.close();
    release();
  }
});
