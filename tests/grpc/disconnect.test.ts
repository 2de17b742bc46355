/**
 * Regression test for the Deno HTTP/2 crash (Deno 2.9.4–2.9.6 end a gRPC server's process
 * when a client disconnects abruptly; the project pins 2.9.3): the real `dbx start` daemon
 * serves a client, a separate Node process, that makes 300 calls and is then killed with
 * SIGKILL while calls and a stream are in flight; another cuts its socket in the middle of a
 * message. The server must live on: a further gRPC call and REST's /health answer, the
 * acknowledged writes are all there, and the log shows no fatal error.
 */
import { isProcessAlive } from "../../src/server/pid_file.ts";
import { configure, withDeadline } from "../server/_load_helpers.ts";
import {
  DAEMON_TEST_OPTS as OPTS,
  dbx,
  generateToken,
  ok,
  startDaemon,
  waitForExit,
  withDataDir,
} from "../server/lifecycle_helpers.ts";
import { assert, assertEquals, expectOk, runClient, spawnClient } from "./_grpc_setup.ts";

Deno.test(
  "grpc: a client that makes 300 calls and is killed with SIGKILL does not take the server down",
  OPTS,
  async () => {
    await withDataDir((dir) =>
      withDeadline(150_000, "the disconnect regression", async () => {
        await configure(dir, []);
        const info = await startDaemon(dir);
        const target = `127.0.0.1:${info.port}`;
        const token = await generateToken(dir, ["--group", "crash", "--user", "c"]);

        for (let round = 1; round <= 2; round++) {
          const killed = await spawnClient(target, [
            { hammer: 300, token, aggregate: `crash/c-${round}`, kill: true },
          ]);
          assertEquals(killed.signal, "SIGKILL", `round ${round}: ${killed.stderr}`);
          // The server is still there and serves both doors.
          assert(isProcessAlive(info.pid), `round ${round}: the server died`);
          const [after] = await runClient(target, [{
            call: "GetAggregate",
            token,
            request: { aggregate_type: "crash", aggregate_id: `c-${round}` },
          }]);
          // 150 appends of the 300 calls were acknowledged (more may have landed before the kill).
          assert(expectOk(after, "a call after the kill").aggregate.version >= 150);
          const health = await fetch(`http://${target}/health`);
          assertEquals(health.status, 200);
          await health.body?.cancel();
        }

        // A socket cut in the middle of a message, a few times, then a normal client.
        for (let i = 0; i < 3; i++) {
          const [cut] = await runClient(target, [
            { destroy: "/eventdbx.api.EventService/AppendEvent", token },
          ]);
          assertEquals(cut.destroyed, true);
        }
        const [served] = await runClient(target, [{ hammer: 20, token, aggregate: "crash/c-3" }]);
        assertEquals(served.calls, 20);
        assert(isProcessAlive(info.pid), "the server died after the cut sockets");
        const health = await fetch(`http://${target}/health`);
        assertEquals(health.status, 200);
        await health.body?.cancel();

        ok(await dbx(["stop", "--data-dir", dir]), "dbx stop");
        assert(await waitForExit(info.pid, 20_000), "the server exited after dbx stop");
        const log = await Deno.readTextFile(`${dir}/dbx.log`);
        assert(!/panic|fatal|uncaught/i.test(log), log);
        assert(/dbx stopped \(pid \d+\) on SIGTERM/.test(log), log);
      })
    );
  },
);
