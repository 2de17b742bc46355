/**
 * kill -9 of a real server (`dbx start`, a subprocess) while it delivers to an HTTP
 * plugin: after a restart every event arrives, those acknowledged before the kill are not
 * sent again, and only the one in flight (unacknowledged) is repeated.
 */
import { assert, assertEquals } from "../_helpers/assert.ts";
import {
  DAEMON_TEST_OPTS,
  dbx,
  generateToken,
  ok,
  startDaemon,
  waitForExit,
  withDataDir,
} from "../server/lifecycle_helpers.ts";
import { eventually, httpReceiver } from "./_setup.ts";

/** Events acknowledged before the kill, and events appended after them. */
const ACKED = 5;
const LATER = 4;

Deno.test(
  "crash: kill -9 during delivery loses nothing and repeats only the unacknowledged",
  DAEMON_TEST_OPTS,
  async () => {
    let hang = true;
    const hung = Promise.withResolvers<number>();
    const http = httpReceiver((r) => (hang && r.position > ACKED ? hung.promise : 200));
    try {
      await withDataDir(async (dir) => {
        ok(
          await dbx([
            "plugin",
            "config",
            "http",
            "--name",
            "hook",
            "--endpoint",
            http.url,
            "--data-dir",
            dir,
          ]),
          "plugin config",
        );
        const token = await generateToken(dir, ["--group", "ops", "--user", "crash"]);
        let info = await startDaemon(dir);
        const post = async (base: string, n: number) => {
          const res = await fetch(`${base}/v1/events`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({
              aggregate_type: "acct",
              aggregate_id: `a-${n % 2}`,
              event_type: "credited",
              payload: { n },
            }),
            signal: AbortSignal.timeout(15_000),
          });
          const body = await res.json();
          assertEquals(res.status, 201, JSON.stringify(body));
          return body.position as number;
        };
        const queue = async (base: string) => {
          const res = await fetch(`${base}/v1/plugin-queue`, {
            headers: { authorization: `Bearer ${token}` },
          });
          return (await res.json()).plugins[0];
        };
        let base = `http://127.0.0.1:${info.port}`;
        for (let n = 1; n <= ACKED; n++) assertEquals(await post(base, n), n);
        await eventually(
          () => `cursor at ${ACKED}`,
          async () => (await queue(base)).cursor === ACKED,
        );
        for (let n = ACKED + 1; n <= ACKED + LATER; n++) await post(base, n);
        // The first later event is in flight, unanswered: kill now.
        await eventually(
          "the event in flight",
          () => http.received.some((r) => r.position === ACKED + 1),
        );
        Deno.kill(info.pid, "SIGKILL");
        assert(await waitForExit(info.pid), "the server died");
        hang = false;
        hung.resolve(200); // answers to a dead connection: not an acknowledgement

        info = await startDaemon(dir);
        base = `http://127.0.0.1:${info.port}`;
        const total = ACKED + LATER;
        await eventually(
          () => `every event after the restart (${http.received.map((r) => r.position)})`,
          () => new Set(http.received.map((r) => r.position)).size === total,
        );
        await eventually("no lag", async () => (await queue(base)).lag === 0);
        const times = (p: number) => http.received.filter((r) => r.position === p).length;
        for (let p = 1; p <= ACKED; p++) assertEquals(times(p), 1, `acknowledged ${p} once`);
        assertEquals(times(ACKED + 1), 2, "the unacknowledged one again");
        for (let p = ACKED + 2; p <= total; p++) assertEquals(times(p), 1, `later ${p} once`);
        // In order per aggregate across the restart (the repeat included).
        const seen = new Map<string, number>();
        for (const r of http.received) {
          const key = r.aggregate_id;
          assert(r.version >= (seen.get(key) ?? 0), `${key} v${r.version} went backwards`);
          seen.set(key, r.version);
        }
        const listed = ok(await dbx(["queue", "--data-dir", dir]), "dbx queue");
        assert(/hook\s+http\s+yes\s+9\s+0\s+0\s+0/.test(listed), listed);

        // The other commands through the running server's API.
        const json = async (args: string[]) =>
          JSON.parse(ok(await dbx([...args, "--json", "--data-dir", dir]), args.join(" ")));
        assertEquals(await json(["plugin", "replay", "hook", "acct", "a-0"]), {
          name: "hook",
          queued: 4,
        });
        await eventually("the replay", () => http.received.length === total + 1 + 4);
        assertEquals(
          http.received.slice(-4).map((r) => [r.aggregate_id, r.version]),
          [["a-0", 1], ["a-0", 2], ["a-0", 3], ["a-0", 4]],
        );
        assertEquals(await json(["queue", "retry"]), { retried: 0 });
        assertEquals(await json(["queue", "clear", "--yes"]), { cleared: 0 });
        assertEquals((await json(["plugin", "test", "hook"]))[0].ok, true);
        assertEquals((await json(["plugin", "disable", "hook"])).enabled, false);
        assertEquals((await json(["plugin", "enable", "hook"])).enabled, true);
      });
    } finally {
      await http.close();
    }
  },
);
