/**
 * REST served by HTTP worker isolates (`[server] http_workers = 2`): the real `dbx start`
 * daemon, two workers on one port reaching the engine's thread over message ports. Under
 * concurrent load on every append route the store stays gap-free and holds every
 * acknowledged event; write limits and scopes hold exactly across the workers; kill -9
 * under load loses no acknowledged append.
 */
import assert from "node:assert/strict";
import { isProcessAlive, readPidFile } from "../../src/server/pid_file.ts";
import {
  type Ack,
  ackOf,
  allEvents,
  type Answer,
  checkStore,
  configure,
  request,
  waitForLog,
  withDeadline,
} from "./_load_helpers.ts";
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

/** Overall bound of each test. */
const TEST_DEADLINE_MS = 60_000;
const WORKERS = ["--http-workers", "2"];

/** A fresh data dir configured for two HTTP workers, with a daemon on it. */
async function withWorkerServer(
  label: string,
  fn: (dir: string, base: string, pid: number) => Promise<void>,
): Promise<void> {
  await withDataDir((dir) =>
    withDeadline(TEST_DEADLINE_MS, label, async () => {
      await configure(dir, WORKERS);
      const info = await startDaemon(dir);
      await fn(dir, `http://127.0.0.1:${info.port}`, info.pid);
    })
  );
}

/** Stop the daemon through the CLI and wait until it is gone. */
async function stop(dir: string, pid: number): Promise<void> {
  ok(await dbx(["stop", "--data-dir", dir]), "dbx stop");
  assert(await waitForExit(pid, 15_000), "the server exited after dbx stop");
}

function expect201(answer: Answer, what: string): void {
  assert.equal(answer.status, 201, `${what}: ${answer.status} ${JSON.stringify(answer.json)}`);
}

function expectError(answer: Answer, status: number, code: string, what: string): void {
  assert.equal(answer.status, status, `${what}: ${answer.status} ${JSON.stringify(answer.json)}`);
  assert.equal(answer.json?.code, code, `${what}: code of ${JSON.stringify(answer.json)}`);
  assert.equal(typeof answer.json?.message, "string", `${what}: message`);
}

Deno.test(
  "workers: 32 concurrent clients on both append routes and batches all get 201; the store is gap-free and complete",
  OPTS,
  async () => {
    await withWorkerServer("workers load", async (dir, base, pid) => {
      // The server really serves HTTP in two workers.
      await waitForLog(dir, /http in 2 workers/);
      const token = await generateToken(dir, ["--group", "load", "--user", "workers"]);
      const CLIENTS = 32;
      const ROUNDS = 15;
      const AGGREGATES = 8; // few aggregates: many clients append to the same one at once
      const acked: Ack[] = [];
      const client = async (n: number) => {
        for (let i = 0; i < ROUNDS; i++) {
          const id = `a-${(n + i) % AGGREGATES}`;
          if (i % 3 === 2) {
            const answer = await request(base, token, "POST", "/v1/events/batch", {
              events: [
                { aggregate_type: "acct", aggregate_id: id, event_type: "debited", payload: { n } },
                {
                  aggregate_type: "ledger",
                  aggregate_id: `l-${n}`,
                  event_type: "posted",
                  payload: {},
                },
              ],
            });
            expect201(answer, `batch of client ${n}`);
            assert.equal(answer.json.events.length, 2);
            for (const r of answer.json.events) acked.push(ackOf(r));
          } else if (i % 3 === 1) {
            const answer = await request(base, token, "POST", "/v1/events", {
              aggregate_type: "acct",
              aggregate_id: id,
              event_type: "debited",
              payload: { n, i },
            });
            expect201(answer, `POST /v1/events of client ${n}`);
            acked.push(ackOf(answer.json));
          } else {
            const answer = await request(base, token, "POST", `/v1/aggregates/acct/${id}/events`, {
              event_type: "credited",
              payload: { n, i, amount: String(i * 7) },
            });
            expect201(answer, `POST /v1/aggregates/acct/${id}/events of client ${n}`);
            acked.push(ackOf(answer.json));
          }
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
      const expected = CLIENTS * (ROUNDS / 3) * 4; // two singles and one batch of 2 per 3 rounds
      assert.equal(acked.length, expected);
      assert.equal(new Set(acked.map((a) => a.position)).size, acked.length, "positions unique");

      await stop(dir, pid);
      await withEngine(dir, true, async (engine) => {
        const all = await checkStore(engine, acked);
        assert.equal(all.length, acked.length, "the store holds exactly the acknowledged events");
      });
    });
  },
);

Deno.test(
  "workers: a --limit 50 token used by 16 concurrent clients writes exactly 50 events",
  OPTS,
  async () => {
    await withWorkerServer("workers limit", async (dir, base, pid) => {
      const token = await generateToken(dir, [
        "--group",
        "quota",
        "--user",
        "u50",
        "--limit",
        "50",
      ]);
      const CLIENTS = 16;
      const ATTEMPTS = 8; // 128 attempts for 50 writes
      const answers: Answer[] = [];
      const client = async (n: number) => {
        for (let i = 0; i < ATTEMPTS; i++) {
          const id = `q-${(n + i) % 4}`;
          answers.push(
            i % 2 === 0
              ? await request(base, token, "POST", `/v1/aggregates/quota/${id}/events`, {
                event_type: "used",
                payload: { n, i },
              })
              : await request(base, token, "POST", "/v1/events", {
                aggregate_type: "quota",
                aggregate_id: id,
                event_type: "used",
                payload: { n, i },
              }),
          );
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
      assert.equal(answers.length, CLIENTS * ATTEMPTS);
      const created = answers.filter((a) => a.status === 201);
      assert.equal(created.length, 50, "exactly the limit succeeds");
      for (const a of answers) {
        if (a.status !== 201) expectError(a, 403, "limit_reached", "over the limit");
      }
      const acked = created.map((a) => ackOf(a.json));

      await stop(dir, pid);
      await withEngine(dir, true, async (engine) => {
        const all = await checkStore(engine, acked);
        const mine = all.filter((e) =>
          e.metadata.issued_by?.group === "quota" && e.metadata.issued_by?.user === "u50"
        );
        assert.equal(mine.length, 50, "the store holds exactly 50 events of the token");
        assert.deepEqual(
          new Set(mine.map((e) => e.metadata.event_id)),
          new Set(acked.map((a) => a.event_id)),
          "and they are the acknowledged ones",
        );
      });
    });
  },
);

Deno.test(
  "workers: a token scoped to acct/a-1 appends to and reads only acct/a-1 under concurrent use",
  OPTS,
  async () => {
    await withWorkerServer("workers scope", async (dir, base, pid) => {
      const [admin, scoped] = await Promise.all([
        generateToken(dir, ["--group", "ops", "--user", "admin"]),
        generateToken(dir, [
          "--group",
          "audit",
          "--user",
          "scoped",
          "--action",
          "aggregate.append",
          "--action",
          "aggregate.read",
          "--resource",
          "aggregate:acct:a-1",
        ]),
      ]);
      // Other aggregates exist, written by an unscoped token.
      const seeded: Ack[] = [];
      for (const id of ["a-2", "a-3"]) {
        const answer = await request(base, admin, "POST", `/v1/aggregates/acct/${id}/events`, {
          event_type: "opened",
          payload: {},
        });
        expect201(answer, `seed acct/${id}`);
        seeded.push(ackOf(answer.json));
      }
      const CLIENTS = 16;
      const ROUNDS = 4;
      const acked: Ack[] = [];
      const client = async (n: number) => {
        for (let i = 0; i < ROUNDS; i++) {
          const own = i % 2 === 0
            ? await request(base, scoped, "POST", "/v1/aggregates/acct/a-1/events", {
              event_type: "credited",
              payload: { n, i },
            })
            : await request(base, scoped, "POST", "/v1/events", {
              aggregate_type: "acct",
              aggregate_id: "a-1",
              event_type: "credited",
              payload: { n, i },
            });
          expect201(own, `append to acct/a-1 by client ${n}`);
          acked.push(ackOf(own.json));
          const read = await request(base, scoped, "GET", "/v1/aggregates/acct/a-1");
          assert.equal(read.status, 200, `read acct/a-1: ${JSON.stringify(read.json)}`);
          assert.equal(read.json.aggregate_id, "a-1");
          const events = await request(base, scoped, "GET", "/v1/aggregates/acct/a-1/events");
          assert.equal(events.status, 200, `events of acct/a-1: ${JSON.stringify(events.json)}`);

          expectError(
            await request(base, scoped, "POST", "/v1/aggregates/acct/a-2/events", {
              event_type: "credited",
              payload: {},
            }),
            403,
            "forbidden",
            "append to acct/a-2",
          );
          expectError(
            await request(base, scoped, "POST", "/v1/events", {
              aggregate_type: "acct",
              aggregate_id: "a-2",
              event_type: "credited",
              payload: {},
            }),
            403,
            "forbidden",
            "POST /v1/events for acct/a-2",
          );
          expectError(
            await request(base, scoped, "POST", "/v1/events/batch", {
              events: [
                {
                  aggregate_type: "acct",
                  aggregate_id: "a-1",
                  event_type: "credited",
                  payload: {},
                },
                {
                  aggregate_type: "acct",
                  aggregate_id: "a-2",
                  event_type: "credited",
                  payload: {},
                },
              ],
            }),
            403,
            "forbidden",
            "a batch touching acct/a-2",
          );
          expectError(
            await request(base, scoped, "GET", "/v1/aggregates/acct/a-2"),
            403,
            "forbidden",
            "read acct/a-2",
          );
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
      assert.equal(acked.length, CLIENTS * ROUNDS);

      const list = await request(base, scoped, "GET", "/v1/aggregates");
      assert.equal(list.status, 200, JSON.stringify(list.json));
      assert.deepEqual(
        list.json.map((a: { aggregate_type: string; aggregate_id: string }) =>
          `${a.aggregate_type}/${a.aggregate_id}`
        ),
        ["acct/a-1"],
        "the scoped token lists only acct/a-1",
      );
      const all = await request(base, admin, "GET", "/v1/aggregates");
      assert.equal(all.json.length, 3, "the unscoped token sees all three");

      await stop(dir, pid);
      await withEngine(dir, true, async (engine) => {
        const stored = await checkStore(engine, [...seeded, ...acked]);
        assert.equal(stored.length, seeded.length + acked.length, "no refused write is stored");
        const a1 = stored.filter((e) => e.aggregate_id === "a-1");
        assert.equal(a1.length, acked.length);
        assert(a1.every((e) => e.metadata.issued_by?.user === "scoped"));
        assert.equal(stored.filter((e) => e.aggregate_id === "a-2").length, 1, "a-2 untouched");
      });
    });
  },
);

Deno.test(
  "workers: kill -9 under 32 concurrent REST clients loses no acknowledged append; a restart serves again",
  OPTS,
  async () => {
    await withWorkerServer("workers crash", async (dir, base, pid) => {
      await waitForLog(dir, /http in 2 workers/);
      const token = await generateToken(dir, ["--group", "load", "--user", "crash"]);
      const CLIENTS = 32;
      const AGGREGATES = 12;
      const ACKS_BEFORE_KILL = 600;
      const acked: Ack[] = [];
      let killed = false;
      const client = async (n: number) => {
        for (let i = 0; !killed; i++) {
          const id = `a-${(n + i) % AGGREGATES}`;
          try {
            if (i % 5 === 4) {
              const answer = await request(base, token, "POST", "/v1/events/batch", {
                events: [
                  { aggregate_type: "acct", aggregate_id: id, event_type: "debited", payload: {} },
                  {
                    aggregate_type: "acct",
                    aggregate_id: `b-${n}`,
                    event_type: "credited",
                    payload: {},
                  },
                ],
              });
              if (answer.status !== 201) {
                throw new Error(`batch ${answer.status} ${JSON.stringify(answer.json)}`);
              }
              for (const r of answer.json.events) acked.push(ackOf(r));
            } else {
              const answer = i % 2 === 0
                ? await request(base, token, "POST", `/v1/aggregates/acct/${id}/events`, {
                  event_type: "credited",
                  payload: { n, i },
                })
                : await request(base, token, "POST", "/v1/events", {
                  aggregate_type: "acct",
                  aggregate_id: id,
                  event_type: "debited",
                  payload: { n, i },
                });
              if (answer.status !== 201) {
                throw new Error(`append ${answer.status} ${JSON.stringify(answer.json)}`);
              }
              acked.push(ackOf(answer.json));
            }
          } catch (err) {
            if (killed) return; // refused or cut off by the kill: not acknowledged
            throw err;
          }
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
      // A client that fails before the kill fails the test at once.
      const failure = Promise.race(clients).then(() => {
        if (!killed) throw new Error("a client stopped before the kill");
      });
      failure.catch(() => {});
      const loadDeadline = Date.now() + 30_000;
      while (acked.length < ACKS_BEFORE_KILL) {
        if (Date.now() > loadDeadline) {
          killed = true; // let the clients end
          assert.fail(`only ${acked.length} of ${ACKS_BEFORE_KILL} appends acknowledged in 30 s`);
        }
        await Promise.race([failure, new Promise((r) => setTimeout(r, 5))]);
      }
      Deno.kill(pid, "SIGKILL");
      killed = true;
      await Promise.all(clients);
      assert(await waitForExit(pid, 10_000), "the server died");
      assert(acked.length >= ACKS_BEFORE_KILL);

      await withEngine(dir, false, async (engine) => {
        const all = await checkStore(engine, acked);
        assert(all.length >= acked.length);
        assert.equal((await allEvents(engine)).length, all.length);
      });

      // The PID file is stale; status says so, and a new start (workers again) serves.
      assert.equal((await readPidFile(dir))?.pid, pid);
      assert(!isProcessAlive(pid));
      const status = await dbx(["status", "--data-dir", dir]);
      fails(status, 1, /dbx is not running/, "status after kill -9");
      const again = await startDaemon(dir);
      await waitForLog(dir, new RegExp(`pid ${again.pid}, .*http in 2 workers`));
      const againBase = `http://127.0.0.1:${again.port}`;
      const read = await request(againBase, token, "GET", "/v1/aggregates/acct/a-0");
      assert.equal(read.status, 200, JSON.stringify(read.json));
      const after = await request(againBase, token, "POST", "/v1/aggregates/acct/a-0/events", {
        event_type: "credited",
        payload: {},
      });
      expect201(after, "append after the restart");
      assert.equal(after.json.version, read.json.version + 1);
      await stop(dir, again.pid);
    });
  },
);
