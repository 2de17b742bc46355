/**
 * No descriptor is closed twice. In a multi-threaded server a second close(2) of a number
 * may land on a descriptor just given to another thread (a store file, a connection): a
 * spawn then fails with EBADF, or a read waits forever. Deno 2.9.3's node:net does this for
 * every connection accepted on a Unix socket, which is why gRPC's private upstream is a
 * loopback port. Here the real foreground server runs under `strace -f` (Debian package
 * `strace`, installed when missing) while gRPC clients call, stream and disconnect, REST
 * answers and the server stops; not one close(2) may fail with EBADF.
 */
import { join } from "node:path";
import { readPidFile } from "../../src/server/pid_file.ts";
import { statusWithin, waitUntil } from "../_helpers/deadline.ts";
import { ensureTool } from "../_helpers/system.ts";
import { configure } from "../server/_load_helpers.ts";
import {
  DAEMON_TEST_OPTS as OPTS,
  dbx,
  generateToken,
  LOCAL_PORT,
  MAIN,
  ok,
  withDataDir,
} from "../server/lifecycle_helpers.ts";
import { assert, assertEquals, expectOk, runClient } from "./_grpc_setup.ts";

Deno.test(
  "grpc: serving gRPC and REST, and stopping, closes no descriptor twice",
  OPTS,
  async () => {
    await ensureTool("strace", "strace");
    await withDataDir(async (dir) => {
      await configure(dir, []);
      const token = await generateToken(dir, ["--group", "fd", "--user", "f"]);
      // Outside the data dir: the server must not see it as one of its files.
      const traceDir = await Deno.makeTempDir({ prefix: "dbx-fd-trace-" });
      const trace = join(traceDir, "close.trace");
      const child = new Deno.Command("strace", {
        args: [
          "-f",
          "-qq",
          "-Z", // only failed calls
          "-e",
          "trace=close",
          "-o",
          trace,
          Deno.execPath(),
          "run",
          "-A",
          MAIN,
          "start",
          "--foreground",
          "--data-dir",
          dir,
          ...LOCAL_PORT,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        env: { DBX_NO_UPGRADE_CHECK: "1", NO_COLOR: "1" },
      }).spawn();
      const stderr = new Response(child.stderr).text();
      try {
        let ended = false;
        child.status.then(() => (ended = true));
        const info = await waitUntil(60_000, "the server's PID file", async () => {
          // strace that may not trace here, or a server that cannot start, ends at once.
          if (ended) throw new Error(`the traced server ended before serving: ${await stderr}`);
          return (await readPidFile(dir)) ?? undefined;
        });
        const target = `127.0.0.1:${info.port}`;
        // Calls on fresh connections, a hammering client, cut sockets, and REST beside them.
        for (let round = 0; round < 3; round++) {
          const [health, appended] = await runClient(target, [
            { call: "Health" },
            {
              call: "AppendEvent",
              token,
              request: {
                aggregate_type: "fd",
                aggregate_id: `f-${round}`,
                event_type: "opened",
                payload_json: JSON.stringify({ round }),
              },
            },
          ]);
          expectOk(health, "Health");
          expectOk(appended, "AppendEvent");
          const [hammered] = await runClient(target, [
            { hammer: 40, token, aggregate: `fd/h-${round}` },
          ]);
          assertEquals(hammered.calls, 40);
          const [cut] = await runClient(target, [
            { destroy: "/eventdbx.api.EventService/AppendEvent", token },
          ]);
          assertEquals(cut.destroyed, true);
          const rest = await fetch(`http://${target}/health`);
          assertEquals(rest.status, 200);
          await rest.body?.cancel();
        }
        ok(await dbx(["stop", "--data-dir", dir]), "dbx stop");
        const status = await statusWithin(child, 60_000, "the traced server to exit");
        assert(status.success, `the server exited with ${status.code}: ${await stderr}`);
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
        await child.status;
      }
      const text = await Deno.readTextFile(trace);
      await Deno.remove(traceDir, { recursive: true });
      if (/ptrace|Operation not permitted/.test(text.slice(0, 500))) {
        throw new Error(`strace cannot trace here: ${text.slice(0, 500)}`);
      }
      const doubled = text.split("\n").filter((line) => /close\(\d+\)\s+= -1 EBADF/.test(line));
      assertEquals(doubled, [], `descriptors closed twice:\n${doubled.slice(0, 20).join("\n")}`);
    });
  },
);
