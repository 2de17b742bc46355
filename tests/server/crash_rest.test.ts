/**
 * kill -9 of the server under concurrent REST load: every acknowledged (201) append is
 * in the store after a reopen, versions and positions have no gaps, and verify passes.
 */
import assert from "node:assert/strict";
import { isProcessAlive, readPidFile } from "../../src/server/pid_file.ts";
import { waitUntil, withDeadline } from "../_helpers/deadline.ts";
import {
  DAEMON_TEST_OPTS as OPTS,
  dbx,
  fails,
  generateToken,
  ok,
  startDaemon,
  waitForExit,
  withDataDir,
  withEngine,
} from "./lifecycle_helpers.ts";

const CLIENTS = 32;
const AGGREGATES = 12;
/** Acknowledged appends to wait for before the kill. */
const ACKS_BEFORE_KILL = 600;
/** One request of a client, and the wait for the acknowledgements before the kill. */
const REQUEST_TIMEOUT_MS = 15_000;
const ACKS_DEADLINE_MS = 60_000;

interface Ack {
  type: string;
  id: string;
  event_id: string;
  version: number;
  position: number;
  hash: string;
}

Deno.test(
  "crash: kill -9 under 32 concurrent REST clients loses no acknowledged append",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const token = await generateToken(dir, ["--group", "load", "--user", "crash"]);
      const info = await startDaemon(dir);
      const base = `http://127.0.0.1:${info.port}`;
      const acked: Ack[] = [];
      let killed = false;

      const send = (path: string, body: unknown) =>
        fetch(base + path, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(body),
          // A hung server fails the client (and so the test) instead of hanging it.
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });

      const client = async (n: number) => {
        for (let i = 0; !killed; i++) {
          const id = `a-${(n + i) % AGGREGATES}`;
          try {
            // Both append routes and batches, so every write path is under load.
            if (i % 5 === 4) {
              const res = await send("/v1/events/batch", {
                events: [
                  {
                    aggregate_type: "acct",
                    aggregate_id: id,
                    event_type: "debited",
                    payload: { n },
                  },
                  {
                    aggregate_type: "acct",
                    aggregate_id: `b-${n}`,
                    event_type: "credited",
                    payload: {},
                  },
                ],
              });
              const answer = await res.json();
              if (res.status !== 201) {
                throw new Error(`batch ${res.status} ${JSON.stringify(answer)}`);
              }
              for (const r of answer.events) acked.push(ackOf(r));
            } else {
              const res = i % 2 === 0
                ? await send(`/v1/aggregates/acct/${id}/events`, {
                  event_type: "credited",
                  payload: { n, i, amount: String(i * 7) },
                })
                : await send("/v1/events", {
                  aggregate_type: "acct",
                  aggregate_id: id,
                  event_type: "debited",
                  payload: { n, i },
                });
              const answer = await res.json();
              if (res.status !== 201) {
                throw new Error(`append ${res.status} ${JSON.stringify(answer)}`);
              }
              acked.push(ackOf(answer));
            }
          } catch (err) {
            if (killed) return; // refused or cut off by the kill: not acknowledged
            throw timedOut(err) ? new Error(`a request took over ${REQUEST_TIMEOUT_MS} ms`) : err;
          }
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
      let failure: unknown;
      for (const c of clients) c.catch((err) => (failure ??= err));
      try {
        await waitUntil(
          ACKS_DEADLINE_MS,
          () => `${ACKS_BEFORE_KILL} acknowledged appends before the kill (${acked.length} came)`,
          () => {
            if (failure !== undefined) throw failure;
            return acked.length >= ACKS_BEFORE_KILL;
          },
          5,
        );
      } catch (err) {
        killed = true; // the clients stop; withDataDir ends the server
        throw err;
      }
      Deno.kill(info.pid, "SIGKILL");
      killed = true;
      await withDeadline(
        REQUEST_TIMEOUT_MS * 2,
        "the clients to stop after the kill",
        () => Promise.all(clients),
      );
      assert(await waitForExit(info.pid), "server died");
      assert(acked.length >= ACKS_BEFORE_KILL);

      await withEngine(dir, false, async (engine) => {
        const last = await engine.lastPosition();
        const all = await engine.eventsAfter(0, last + 100);
        assert.equal(all.length, last, "no event beyond the last position");
        assert.deepEqual(
          all.map((e) => e.position),
          Array.from({ length: last }, (_, i) => i + 1),
          "positions are gap-free",
        );
        const byPosition = new Map(all.map((e) => [e.position, e]));
        for (const a of acked) {
          const stored = byPosition.get(a.position);
          assert(stored, `acknowledged position ${a.position} is present`);
          assert.equal(stored.metadata.event_id, a.event_id);
          assert.equal(`${stored.aggregate_type}/${stored.aggregate_id}`, `${a.type}/${a.id}`);
          assert.equal(stored.version, a.version);
          assert.equal(stored.hash, a.hash);
        }
        const versions = new Map<string, number[]>();
        for (const e of all) {
          const key = e.aggregate_id;
          versions.set(key, [...(versions.get(key) ?? []), e.version]);
        }
        for (const [id, list] of versions) {
          assert.deepEqual(list, list.map((_, i) => i + 1), `versions of ${id} are gap-free`);
          const result = await engine.verify("acct", id);
          assert.equal(result.verified, true, `verify acct/${id}`);
          assert.equal((await engine.getAggregate("acct", id)).version, list.length);
        }
      });

      // The PID file is stale now; status says so and a new start works on the same store.
      assert.equal((await readPidFile(dir))?.pid, info.pid);
      assert(!isProcessAlive(info.pid));
      const status = await dbx(["status", "--data-dir", dir]);
      fails(status, 1, /dbx is not running/, "status after kill -9");
      assert.match(status.stderr, /removed stale PID file/);
      const again = await startDaemon(dir);
      const res = await fetch(`http://127.0.0.1:${again.port}/v1/aggregates/acct/a-0`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      ok(await dbx(["stop", "--data-dir", dir]), "stop");
    });
  },
);

// deno-lint-ignore no-explicit-any
function ackOf(record: any): Ack {
  return {
    type: record.aggregate_type,
    id: record.aggregate_id,
    event_id: record.metadata.event_id,
    version: record.version,
    position: record.position,
    hash: record.hash,
  };
}

/** An abort by `AbortSignal.timeout`. */
function timedOut(err: unknown): boolean {
  return err instanceof DOMException && err.name === "TimeoutError";
}
