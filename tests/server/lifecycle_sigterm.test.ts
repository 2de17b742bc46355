/**
 * Graceful shutdown: SIGTERM (and `dbx stop`) let in-flight writes finish before the
 * store closes; every acknowledged append is there after a reopen.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readPidFile } from "../../src/server/pid_file.ts";
import { statusWithin, waitUntil, withDeadline } from "../_helpers/deadline.ts";
import {
  DAEMON_TEST_OPTS as OPTS,
  dbx,
  generateToken,
  MAIN,
  ok,
  startDaemon,
  waitForExit,
  withDataDir,
  withEngine,
} from "./lifecycle_helpers.ts";

/** How long one step of these tests (a line, a reply, an exit) may take before it counts as hung. */
const STEP_MS = 30_000;
/** One HTTP request of a load client. */
const REQUEST_TIMEOUT_MS = 15_000;

/** Read a child's stdout until a line matches (at most STEP_MS); returns the match. */
function waitForLine(
  reader: ReadableStreamDefaultReader<string>,
  pattern: RegExp,
  seen: string[],
): Promise<RegExpMatchArray> {
  return withDeadline(
    STEP_MS,
    () => `the server to print ${pattern} (it printed: ${seen.join("")})`,
    async () => {
      let buffer = "";
      while (true) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}: ${seen.join("")}`);
        seen.push(value);
        buffer += value;
        const match = buffer.match(pattern);
        if (match) return match;
      }
    },
  );
}

async function writeAll(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  let bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  while (bytes.length > 0) bytes = bytes.subarray(await conn.write(bytes));
}

async function readSome(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  const n = await withDeadline(STEP_MS, "a reply from the server", conn.read(buf));
  return n === null ? "" : new TextDecoder().decode(buf.subarray(0, n));
}

/** Everything until the server closes the connection (`Connection: close`), at most STEP_MS. */
function readAll(conn: Deno.Conn): Promise<string> {
  return withDeadline(STEP_MS, "the server to answer and close the connection", async () => {
    let text = "";
    while (true) {
      const chunk = await readSome(conn);
      if (chunk === "") return text;
      text += chunk;
    }
  });
}

Deno.test(
  "sigterm: a write in flight when SIGTERM arrives completes and is durable",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const token = await generateToken(dir, ["--group", "ops", "--user", "alice"]);
      const logPath = join(dir, "fg.log");
      const log = await Deno.open(logPath, { write: true, create: true });
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "start", "--foreground", "--data-dir", dir, "--port", "0"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderrDone = child.stderr.pipeTo(log.writable);
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const seen: string[] = [];
      let conn: Deno.Conn | undefined;
      try {
        const [, port] = await waitForLine(
          reader,
          /listening on http:\/\/127\.0\.0\.1:(\d+)/,
          seen,
        );
        const info = await readPidFile(dir);
        assert.equal(info?.pid, child.pid, "foreground server wrote its PID file");
        // Raw HTTP so the test knows when the handler is in flight: with
        // `Expect: 100-continue` the server answers "100 Continue" only once the handler
        // starts reading the body, and the body is sent only after SIGTERM.
        conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
        const body = new TextEncoder().encode(
          JSON.stringify({ event_type: "placed", payload: { total: "42" } }),
        );
        await writeAll(
          conn,
          "POST /v1/aggregates/order/o-1/events HTTP/1.1\r\nHost: dbx\r\n" +
            `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
        );
        assert.match(await readSome(conn), /^HTTP\/1\.1 100 Continue/);

        Deno.kill(child.pid, "SIGTERM");
        await waitForLine(reader, /received SIGTERM: finishing in-flight requests/, seen);
        // The server is draining now; the body arrives only now.
        await writeAll(conn, body);
        const answer = await readAll(conn);
        assert.match(answer, /^HTTP\/1\.1 201 /, answer);
        const record = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
        assert.equal(record.version, 1);
        assert.deepEqual(record.metadata.issued_by, { group: "ops", user: "alice" });

        // New connections are refused once the listener stopped.
        // (A connection accepted but never answered would time out: that is not a refusal.)
        await assert.rejects(
          () => fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(STEP_MS) }),
          (err: Error) => err.name !== "TimeoutError",
        );

        await waitForLine(reader, /dbx stopped/, seen);
        const status = await statusWithin(child, STEP_MS, "the server to exit after SIGTERM");
        assert.equal(status.code, 0, `exit code; stdout: ${seen.join("")}`);
        assert.equal(await readPidFile(dir), undefined, "PID file removed on clean shutdown");

        await withEngine(dir, false, async (engine) => {
          const events = await engine.listEvents("order", "o-1");
          assert.equal(events.length, 1);
          assert.equal(events[0].metadata.event_id, record.metadata.event_id);
          assert.equal((await engine.verify("order", "o-1")).verified, true);
        });
      } finally {
        try {
          conn?.close();
        } catch { /* closed */ }
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
        await child.status;
        await reader.cancel().catch(() => {});
        await stderrDone.catch(() => {});
      }
    });
  },
);

Deno.test(
  "sigterm: `dbx stop` under concurrent appends loses no acknowledged event",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const token = await generateToken(dir, ["--group", "load", "--user", "writer"]);
      const info = await startDaemon(dir);
      const base = `http://127.0.0.1:${info.port}`;
      const acked: { id: string; event_id: string; version: number; position: number }[] = [];
      let stopping = false;
      let refusedAfterStop = 0;

      const client = async (n: number) => {
        for (let i = 0; !stopping || i < 1; i++) {
          const id = `c-${n % 8}`;
          try {
            const res = await fetch(`${base}/v1/aggregates/cart/${id}/events`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
              body: JSON.stringify({ event_type: "item-added", payload: { n, i } }),
              signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
            });
            const record = await res.json();
            if (res.status === 201) {
              acked.push({
                id,
                event_id: record.metadata.event_id,
                version: record.version,
                position: record.position,
              });
            } else throw new Error(`unexpected ${res.status}: ${JSON.stringify(record)}`);
          } catch (err) {
            if (!stopping) {
              throw err instanceof DOMException && err.name === "TimeoutError"
                ? new Error(`an append took over ${REQUEST_TIMEOUT_MS} ms`)
                : err;
            }
            refusedAfterStop++;
            return;
          }
        }
      };
      const clients = Array.from({ length: 16 }, (_, n) => client(n));
      let failure: unknown;
      for (const c of clients) c.catch((err) => (failure ??= err));
      try {
        await waitUntil(STEP_MS, () => `200 acknowledged appends (${acked.length} came)`, () => {
          if (failure !== undefined) throw failure;
          return acked.length >= 200;
        }, 10);
      } finally {
        stopping = true;
      }
      const stopped = await dbx(["stop", "--data-dir", dir]);
      ok(stopped, "stop under load");
      await withDeadline(
        REQUEST_TIMEOUT_MS * 2,
        "the clients to finish after stop",
        () => Promise.allSettled(clients),
      );
      assert(await waitForExit(info.pid), "server exited");
      assert(acked.length >= 200);

      await withEngine(dir, false, async (engine) => {
        for (const a of acked) {
          const [event] = await engine.listEvents("cart", a.id, { skip: a.version - 1, take: 1 });
          assert.equal(event?.metadata.event_id, a.event_id, `acknowledged ${a.id} v${a.version}`);
          assert.equal(event.position, a.position);
        }
        const last = await engine.lastPosition();
        const all = await engine.eventsAfter(0, last + 10);
        assert.deepEqual(all.map((e) => e.position), Array.from({ length: last }, (_, i) => i + 1));
        for (let n = 0; n < 8; n++) {
          assert.equal((await engine.verify("cart", `c-${n}`)).verified, true);
        }
      });
      void refusedAfterStop;
    });
  },
);
