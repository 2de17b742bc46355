/**
 * The gate in front of every public port: HTTP/1.x framing followed both ways, the header
 * and idle timeouts, the connection cap, and — through the real server started with a low
 * open-file limit — a flood of more idle connections than the process has descriptors, after
 * which the server still serves appends.
 */
import assert from "node:assert/strict";
import { ConnectionFraming } from "../../src/server/http_framing.ts";
import { openGate } from "../../src/server/gate.ts";
import { withDeadline } from "../_helpers/deadline.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { configure, request } from "./_load_helpers.ts";
import {
  DAEMON_TEST_OPTS as OPTS,
  dbx,
  generateToken,
  MAIN,
  ok,
  waitForExit,
  withDataDir,
} from "./lifecycle_helpers.ts";
import { readPidFile } from "../../src/server/pid_file.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("framing: bodies by Content-Length and chunked, split anywhere, pipelined", () => {
  const f = new ConnectionFraming();
  const requests = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" +
    "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n" +
    "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
  // One byte at a time: every boundary falls inside a read somewhere.
  for (const byte of bytes(requests)) f.fromClient(Uint8Array.of(byte));
  assert.equal(f.requests.heads, 3);
  assert.equal(f.inFlight, 3);
  assert.equal(f.inRequestHead, false);
  f.fromServer(
    bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 100 Continue\r\n\r\n"),
  );
  assert.equal(f.inFlight, 2, "an interim 100 completes nothing");
  f.fromServer(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"));
  assert.equal(f.inFlight, 2, "a chunked response is in flight until its last chunk");
  f.fromServer(bytes("0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"));
  assert.equal(f.inFlight, 0);
  assert(f.followed);
  f.fromClient(bytes("GET /d HT"));
  assert.equal(f.inRequestHead, true, "a head that started and has not ended");
});

Deno.test("framing: HEAD responses have no body; a response without framing ends at close", () => {
  const f = new ConnectionFraming();
  f.fromClient(bytes("HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"));
  f.fromServer(bytes("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"));
  assert.equal(f.inFlight, 1, "the HEAD response is complete without its 99 bytes");
  f.fromServer(bytes("HTTP/1.1 200 OK\r\n\r\nuntil the end"));
  assert.equal(f.inFlight, 1);
  f.serverClosed();
  assert.equal(f.inFlight, 0);
});

Deno.test("framing: HTTP/2, switched protocols, garbage and oversized heads are not followed", () => {
  const h2 = new ConnectionFraming();
  h2.fromClient(bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  assert.equal(h2.followed, false);
  const ws = new ConnectionFraming();
  ws.fromClient(bytes("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"));
  ws.fromServer(bytes("HTTP/1.1 101 Switching Protocols\r\n\r\n"));
  assert.equal(ws.followed, false);
  const big = new ConnectionFraming(1024);
  big.fromClient(bytes("GET / HTTP/1.1\r\nX: " + "a".repeat(2000)));
  assert.equal(big.requests.tooLarge, true);
  const chunked = new ConnectionFraming();
  chunked.fromClient(bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
  assert.equal(chunked.followed, false, "a chunk size that is not hex");
});

/**
 * How the gate answers HTTP/1.x: spliced to a private server (`Deno.serve` on a Unix socket,
 * in this process), or served by the gate itself (`serve`, the in-thread server).
 */
type Mode = "splice" | "serve";
const MODES: Mode[] = ["splice", "serve"];

/** A gate in one of its modes, in this process, for the timeout and cap tests. */
async function withGate(
  limits: { maxConnections: number; headerTimeoutMs: number; idleTimeoutMs: number },
  fn: (port: number, logged: string[]) => Promise<void>,
  mode: Mode = "splice",
): Promise<void> {
  await withTempDir(async (dir) => {
    const path = `${dir}/http.sock`;
    const handler = (request: Request) => {
      if (new URL(request.url).pathname === "/slow") {
        // A response that pauses longer than the idle timeout between its chunks.
        let n = 0;
        const body = new ReadableStream({
          async pull(controller) {
            await new Promise((resolve) => setTimeout(resolve, limits.idleTimeoutMs * 1.5));
            controller.enqueue(bytes(`tick ${n}\n`));
            if (++n === 2) controller.close();
          },
        });
        return new Response(body);
      }
      return new Response("ok");
    };
    const server = mode === "splice" ? Deno.serve({ path, onListen() {} }, handler) : undefined;
    const logged: string[] = [];
    const gate = openGate({
      hostname: "127.0.0.1",
      port: 0,
      limits,
      upstreams: server ? [{ transport: "unix", path }] : [],
      http: true,
      log: (line) => logged.push(line),
      serve: server ? undefined : { handler, maxBodyBytes: 1 << 20 },
    });
    try {
      await fn(gate.port, logged);
    } finally {
      await gate.close(100);
      await server?.shutdown();
    }
  }, "dbx-gate-test-");
}

/** Everything a raw connection receives until the peer closes it (bounded). */
async function readToClose(conn: Deno.Conn, ms: number): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  await withDeadline(ms, "the gate to close the connection", async () => {
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
  });
  conn.close();
  return text;
}

for (const mode of MODES) {
  Deno.test(`gate (${mode}): slow heads get 408, idle keep-alive connections close, busy ones stay`, async () => {
    await withGate(
      { maxConnections: 64, headerTimeoutMs: 400, idleTimeoutMs: 400 },
      async (port) => {
        const started = performance.now();
        const silent = await Deno.connect({ hostname: "127.0.0.1", port });
        const trickle = await Deno.connect({ hostname: "127.0.0.1", port });
        await trickle.write(bytes("GET / HTTP/1.1\r\nHost: x\r\n"));
        const keepAlive = await Deno.connect({ hostname: "127.0.0.1", port });
        await keepAlive.write(bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        const slow = await Deno.connect({ hostname: "127.0.0.1", port });
        await slow.write(bytes("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
        const [silentText, trickleText, keptText, slowText] = await Promise.all([
          readToClose(silent, 5000),
          readToClose(trickle, 5000),
          readToClose(keepAlive, 5000),
          readToClose(slow, 5000),
        ]);
        assert.match(silentText, /^HTTP\/1\.1 408 /, "a connection that never sends a head");
        assert.match(trickleText, /^HTTP\/1\.1 408 /, "a head that trickles in");
        assert.match(keptText, /^HTTP\/1\.1 200 [^]*ok$/, "answered, then closed once idle");
        // Its chunks came 600 ms apart, past the 400 ms idle timeout: a response in flight.
        assert.match(slowText, /tick 0[^]*tick 1/, `the slow response was cut: ${slowText}`);
        assert(performance.now() - started < 4000);
      },
      mode,
    );
  });

  Deno.test(`gate (${mode}): past the cap a connection is answered 503 at once; the cap is logged once`, async () => {
    await withGate(
      { maxConnections: 4, headerTimeoutMs: 5000, idleTimeoutMs: 5000 },
      async (port, logged) => {
        const held = await Promise.all(
          Array.from({ length: 4 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
        );
        // Let the gate take all four before the next ones arrive.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const refused = await Promise.all(
          Array.from({ length: 3 }, async () => {
            const conn = await Deno.connect({ hostname: "127.0.0.1", port });
            return await readToClose(conn, 2000);
          }),
        );
        for (const text of refused) {
          assert.match(text, /^HTTP\/1\.1 503 [^]*Retry-After: 1[^]*"code":"unavailable"/);
        }
        assert.equal(
          logged.filter((l) => /4 connections are open \(the limit\)/.test(l)).length,
          1,
        );
        for (const conn of held) conn.close();
        // Once they are gone a new connection is served.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const res = await fetch(`http://127.0.0.1:${port}/`);
        assert.equal(await res.text(), "ok");
      },
      mode,
    );
  });
}

Deno.test(
  "gate: a server with 256 descriptors survives 1000 idle connections and serves again",
  OPTS,
  async () => {
    if (Deno.build.os !== "linux") return;
    await withDataDir(async (dir) => {
      await configure(dir, ["--header-read-timeout", "30"]);
      const token = await generateToken(dir, ["--group", "flood", "--user", "f"]);
      // `dbx start` under a hard limit of 256 open files; the daemon inherits it.
      const start = await new Deno.Command("prlimit", {
        args: [
          "--nofile=256:256",
          Deno.execPath(),
          "run",
          "-A",
          MAIN,
          "start",
          "--data-dir",
          dir,
          "--port",
          "0",
          "--host",
          "127.0.0.1",
        ],
        env: { DBX_NO_UPGRADE_CHECK: "1", NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(start.success, new TextDecoder().decode(start.stderr));
      const info = (await readPidFile(dir))!;
      const limits = await Deno.readTextFile(`/proc/${info.pid}/limits`);
      assert.match(limits, /Max open files\s+256\s+256/);
      const base = `http://127.0.0.1:${info.port}`;
      const append = () =>
        request(base, token, "POST", "/v1/aggregates/acct/a-1/events", {
          event_type: "credited",
          payload: { n: 1 },
        });
      assert.equal((await append()).status, 201);

      await withDeadline(30_000, "the flood", async () => {
        const flood: Deno.Conn[] = [];
        for (let i = 0; i < 1000; i++) {
          flood.push(await Deno.connect({ hostname: "127.0.0.1", port: info.port }));
        }
        // While they are held, a new request is answered at once, served or refused with 503
        // (which, depends on how many the kernel let the gate accept) — never left waiting.
        const during = await append();
        assert([201, 503].includes(during.status), `during the flood: ${during.status}`);
        for (const conn of flood) conn.close();
      });
      // Descriptors free up: the server serves again.
      let after = 0;
      for (let i = 0; i < 50 && after !== 201; i++) {
        after = (await append()).status;
        if (after !== 201) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(after, 201, "appends work again after the flood");
      const log = await Deno.readTextFile(`${dir}/dbx.log`);
      assert.match(log, /connections are open \(the limit\); refusing new ones/);
      ok(await dbx(["stop", "--data-dir", dir]), "stop");
      assert(await waitForExit(info.pid));
      const final = await Deno.readTextFile(`${dir}/dbx.log`);
      assert.match(final, /dbx stopped \(pid \d+\) on SIGTERM \(sent by dbx stop or the OS\)/);
    });
  },
);
