/**
 * Backpressure of the writer's queue on the real server (`[server] write_queue_limit = 4`),
 * with HTTP on the engine's thread and in two workers: a burst of concurrent appends gets
 * some 503 "overloaded" answers with a Retry-After header and nothing else; every 201 is
 * durable (checked after kill -9), nothing refused is stored, and appends succeed again
 * once the burst is over.
 */
import assert from "node:assert/strict";
import {
  type Ack,
  ackOf,
  type Answer,
  checkStore,
  configure,
  request,
  waitForLog,
  withDeadline,
} from "./_load_helpers.ts";
import {
  DAEMON_TEST_OPTS as OPTS,
  generateToken,
  startDaemon,
  waitForExit,
  withDataDir,
  withEngine,
} from "./lifecycle_helpers.ts";

const QUEUE_LIMIT = 4;
const BURST = 200;
/** Bursts tried until one overflows the queue (each is 200 concurrent appends). */
const MAX_BURSTS = 5;
const RECOVERY_APPENDS = 10;
const TEST_DEADLINE_MS = 60_000;

interface Sent {
  /** Aggregate id (type "burst"). */
  id: string;
  event_id: string;
  answer: Answer;
}

for (const workers of [0, 2]) {
  Deno.test(
    `write queue (http workers ${workers}): a burst over --write-queue-limit ${QUEUE_LIMIT} gets 503 overloaded with Retry-After; 201s are durable, 503s are not stored, appends recover`,
    OPTS,
    async () => {
      await withDataDir((dir) =>
        withDeadline(TEST_DEADLINE_MS, `write queue, ${workers} workers`, async () => {
          await configure(dir, [
            "--http-workers",
            String(workers),
            "--write-queue-limit",
            String(QUEUE_LIMIT),
          ]);
          const info = await startDaemon(dir);
          const base = `http://127.0.0.1:${info.port}`;
          await waitForLog(
            dir,
            workers === 0 ? /http on the engine thread/ : new RegExp(`http in ${workers} workers`),
          );
          const token = await generateToken(dir, ["--group", "burst", "--user", "b"]);

          const sent: Sent[] = [];
          const burst = async (round: number) => {
            const results = await Promise.all(
              Array.from({ length: BURST }, async (_, i) => {
                const event_id = crypto.randomUUID();
                const id = `r${round}-${i}`;
                // Each its own aggregate; both append routes.
                const answer = i % 2 === 0
                  ? await request(base, token, "POST", `/v1/aggregates/burst/${id}/events`, {
                    event_type: "hit",
                    event_id,
                    payload: { i },
                  })
                  : await request(base, token, "POST", "/v1/events", {
                    aggregate_type: "burst",
                    aggregate_id: id,
                    event_type: "hit",
                    event_id,
                    payload: { i },
                  });
                return { id, event_id, answer };
              }),
            );
            sent.push(...results);
            return results.filter((r) => r.answer.status === 503).length;
          };
          let refusedBursts = 0;
          for (let round = 0; round < MAX_BURSTS && refusedBursts === 0; round++) {
            if (await burst(round) > 0) refusedBursts++;
          }

          const created = sent.filter((s) => s.answer.status === 201);
          const refused = sent.filter((s) => s.answer.status === 503);
          const other = sent.filter((s) => s.answer.status !== 201 && s.answer.status !== 503);
          assert.deepEqual(
            other.map((s) => `${s.answer.status} ${JSON.stringify(s.answer.json)}`),
            [],
            "no answer other than 201 and 503",
          );
          assert(
            refused.length > 0,
            `a burst of ${BURST} concurrent appends overflows a queue of ${QUEUE_LIMIT} ` +
              `(${MAX_BURSTS} bursts tried, ${created.length} accepted)`,
          );
          assert(created.length > 0, "the queue still takes appends during the burst");
          for (const { answer } of refused) {
            assert.equal(answer.json?.code, "overloaded", JSON.stringify(answer.json));
            assert.match(answer.json.message, /write queue/, "the message names the queue");
            const retryAfter = answer.headers.get("retry-after");
            assert.match(retryAfter ?? "", /^[1-9][0-9]*$/, `Retry-After is ${retryAfter}`);
          }
          for (const { event_id, answer } of created) {
            assert.equal(answer.json.metadata.event_id, event_id, "the 201 echoes the event id");
            assert.equal(answer.json.version, 1);
          }

          // Recovery: once the burst is answered the queue is empty again, so sequential
          // appends succeed, and so do as many concurrent ones as the limit allows.
          const recovered: Sent[] = [];
          const append = async (id: string, i: number): Promise<Sent> => {
            const event_id = crypto.randomUUID();
            const answer = await request(base, token, "POST", `/v1/aggregates/burst/${id}/events`, {
              event_type: "after",
              event_id,
              payload: { i },
            });
            assert.equal(
              answer.status,
              201,
              `recovery append ${id} #${i}: ${JSON.stringify(answer.json)}`,
            );
            return { id, event_id, answer };
          };
          for (let i = 0; i < RECOVERY_APPENDS; i++) recovered.push(await append("after", i));
          recovered.push(
            ...await Promise.all(
              Array.from({ length: QUEUE_LIMIT }, (_, i) => append(`after-${i}`, i)),
            ),
          );

          // Durability: kill -9, then every acknowledged append is in the store and no refused one.
          Deno.kill(info.pid, "SIGKILL");
          assert(await waitForExit(info.pid, 10_000), "the server died");
          const acked: Ack[] = [...created, ...recovered].map((s) => ackOf(s.answer.json));
          await withEngine(dir, false, async (engine) => {
            const stored = await checkStore(engine, acked);
            const storedIds = new Set(stored.map((e) => e.metadata.event_id));
            assert.equal(stored.length, acked.length, "the store holds exactly the 201s");
            assert.deepEqual(storedIds, new Set(acked.map((a) => a.event_id)));
            const leaked = refused.filter((s) => storedIds.has(s.event_id));
            assert.deepEqual(leaked.map((s) => s.event_id), [], "no refused append is stored");
            for (const s of refused) {
              assert.equal(await engine.exists("burst", s.id), false, `burst/${s.id} not created`);
            }
          });
        })
      );
    },
  );
}
