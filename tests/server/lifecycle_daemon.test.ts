/**
 * The server's lifecycle through the real CLI: start (daemon), status, a refused second
 * start, stop, stale PID files, restart and destroy.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pidFilePath, readPidFile, writePidFile } from "../../src/server/pid_file.ts";
import {
  DAEMON_TEST_OPTS as OPTS,
  dbx,
  fails,
  LOCAL_PORT,
  ok,
  startDaemon,
  waitForExit,
  withDataDir,
} from "./lifecycle_helpers.ts";
import { isProcessAlive } from "../../src/server/pid_file.ts";
import { PROCESS_DEADLINE_MS, statusWithin } from "../_helpers/deadline.ts";

/** The pid of a process that has exited (and was reaped): certainly not running. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", ""],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await statusWithin(child, PROCESS_DEADLINE_MS, "deno eval");
  return child.pid;
}

Deno.test(
  "lifecycle: start daemonises, status reports it, a second start is refused, stop ends it",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const d = ["--data-dir", dir];
      const started = await dbx(["start", ...d, ...LOCAL_PORT]);
      const out = ok(started, "start");
      assert.match(
        started.stderr,
        /created configuration .*config\.toml/,
        "says where config went",
      );
      const info = await readPidFile(dir);
      assert(info, "PID file written");
      assert.match(
        out,
        new RegExp(
          `^dbx started: pid ${info.pid}, http://127\\.0\\.0\\.1:${info.port}, log ${
            join(dir, "dbx.log").replace(/[.]/g, "\\.")
          }\\n$`,
        ),
      );
      assert.notEqual(info.port, 0, "the actual port is recorded");
      assert.equal(info.host, "127.0.0.1");
      assert.equal(info.restrict, "default");
      assert.deepEqual(info.api, ["rest", "graphql", "grpc"], "every surface by default");
      assert(isProcessAlive(info.pid), "daemon alive after the parent exited");
      if (Deno.build.os !== "windows") {
        assert.equal((await Deno.stat(pidFilePath(dir))).mode! & 0o777, 0o600, "PID file 0600");
      }
      const health = await fetch(`http://127.0.0.1:${info.port}/health`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const log = await Deno.readTextFile(join(dir, "dbx.log"));
      assert.match(log, /dbx listening on http:\/\/127\.0\.0\.1:\d+/);

      const status = ok(await dbx(["status", ...d]), "status");
      assert.match(status, /dbx is running/);
      assert.match(status, new RegExp(`pid:\\s+${info.pid}\\n`));
      assert.match(status, new RegExp(`port:\\s+${info.port}\\n`));
      assert.match(status, /uptime:\s+\d+s/);
      assert.match(status, /restrict:\s+default/);
      assert.match(status, /api:\s+rest, graphql, grpc\n/);
      assert.match(status, new RegExp(`  rest:\\s+http://127\\.0\\.0\\.1:${info.port}/v1\\n`));
      const json = JSON.parse(ok(await dbx(["status", ...d, "--json"]), "status --json"));
      assert.equal(json.running, true);
      assert.equal(json.responding, true);
      assert.equal(json.pid, info.pid);
      assert.equal(json.port, info.port);
      assert.equal(json.restrict, "default");
      assert.deepEqual(json.api, ["rest", "graphql", "grpc"]);
      const http = `http://127.0.0.1:${info.port}`;
      const socket = json.served.find((s: { surface: string }) => s.surface === "socket");
      assert.match(socket?.url ?? "", /^tcp:\/\/127\.0\.0\.1:\d+$/, "the socket, on loopback");
      assert.deepEqual(json.served.filter((s: { surface: string }) => s.surface !== "socket"), [
        { surface: "rest", url: `${http}/v1` },
        { surface: "graphql", url: `${http}/graphql` },
        { surface: "grpc", url: `grpc://127.0.0.1:${info.port}` },
      ], "REST, GraphQL and gRPC share the one port");
      assert(Number.isInteger(json.uptime_seconds) && json.uptime_seconds >= 0);

      const second = await dbx(["start", ...d, ...LOCAL_PORT]);
      fails(
        second,
        1,
        new RegExp(`dbx is already running \\(pid ${info.pid}, port ${info.port}\\)`),
        "second start",
      );
      const secondFg = await dbx(["start", "--foreground", ...d, ...LOCAL_PORT]);
      fails(secondFg, 1, /already running/, "second start --foreground");
      assert(isProcessAlive(info.pid), "the first server survived");

      const stopped = ok(await dbx(["stop", ...d]), "stop");
      assert.equal(stopped, `dbx stopped (pid ${info.pid})\n`);
      assert(!isProcessAlive(info.pid), "process gone after stop returned");
      assert.equal(await readPidFile(dir), undefined, "PID file removed");
      assert.match(await Deno.readTextFile(join(dir, "dbx.log")), /dbx stopped/);

      fails(await dbx(["status", ...d]), 1, /dbx is not running/, "status after stop");
      const notRunningJson = await dbx(["status", ...d, "--json"]);
      assert.equal(notRunningJson.code, 1);
      assert.equal(JSON.parse(notRunningJson.stdout).running, false);
      fails(await dbx(["stop", ...d]), 1, /dbx is not running/, "stop when stopped");
    });
  },
);

Deno.test(
  "lifecycle: a stale PID file is recognised, removed, and does not block start",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const d = ["--data-dir", dir];
      ok(await dbx(["config", "--dek", btoa("k".repeat(32)), ...d]), "config");
      const pid = await deadPid();
      await writePidFile(dir, {
        pid,
        host: "127.0.0.1",
        port: 1,
        started_at: new Date().toISOString(),
        restrict: "default",
        api: ["rest"],
      });
      const status = await dbx(["status", ...d]);
      fails(status, 1, /dbx is not running/, "status with a stale PID file");
      assert.match(
        status.stderr,
        new RegExp(`removed stale PID file .*process ${pid} is not running`),
      );
      assert.equal(await readPidFile(dir), undefined, "stale file removed");

      // A malformed PID file is stale too, and start goes ahead.
      await Deno.writeTextFile(pidFilePath(dir), "{ not json");
      const info = await startDaemon(dir);
      assert.notEqual(info.pid, pid);
      ok(await dbx(["stop", ...d]), "stop");

      // stop with only a stale file: a notice and "not running".
      await writePidFile(dir, { ...info, pid });
      const stop = await dbx(["stop", ...d]);
      fails(stop, 1, /dbx is not running/, "stop with a stale PID file");
      assert.match(stop.stderr, /removed stale PID file/);
    });
  },
);

Deno.test(
  "lifecycle: restart replaces the daemon; --restrict is saved; --api is checked",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const d = ["--data-dir", dir];
      const first = await startDaemon(dir, ["--restrict=strict"]);
      assert.equal(first.restrict, "strict");
      assert.match(await Deno.readTextFile(join(dir, "config.toml")), /^restrict = "strict"$/m);

      const restarted = await dbx(["restart", ...d, ...LOCAL_PORT, "--restrict=off"]);
      const out = ok(restarted, "restart");
      assert.match(out, new RegExp(`dbx stopped \\(pid ${first.pid}\\)\\ndbx started: pid \\d+`));
      const second = await readPidFile(dir);
      assert(second);
      assert.notEqual(second.pid, first.pid);
      assert(!isProcessAlive(first.pid), "old daemon gone");
      assert.equal(second.restrict, "off");
      assert.match(await Deno.readTextFile(join(dir, "config.toml")), /^restrict = "off"$/m);
      const status = ok(await dbx(["status", ...d]), "status");
      assert.match(status, new RegExp(`pid:\\s+${second.pid}\\n`));
      assert.match(status, /restrict:\s+off/);
      ok(await dbx(["stop", ...d]), "stop");

      // restart with nothing running just starts; bare --restrict means default; --api all
      // serves every surface, with no notice.
      const fresh = await dbx(["restart", ...d, ...LOCAL_PORT, "--restrict", "--api", "all"]);
      ok(fresh, "restart when stopped");
      assert.doesNotMatch(fresh.stderr, /not available yet/);
      const third = await readPidFile(dir);
      assert(third);
      assert.equal(third.restrict, "default");
      assert.deepEqual(third.api, ["rest", "graphql", "grpc"]);
      ok(await dbx(["stop", ...d]), "stop");

      // --api graphql serves GraphQL alone: REST's routes are 404, /health stays.
      const graphqlOnly = await startDaemon(dir, ["--api", "graphql"]);
      assert.deepEqual(graphqlOnly.api, ["graphql"]);
      const base = `http://127.0.0.1:${graphqlOnly.port}`;
      const health = await fetch(`${base}/health`);
      assert.equal(health.status, 200, "GET /health with REST off");
      await health.body?.cancel();
      const rest = await fetch(`${base}/v1/aggregates`);
      assert.equal(rest.status, 404, "REST is off");
      assert.equal((await rest.json()).code, "not_found");
      const graphql = await fetch(`${base}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      assert.equal(graphql.status, 401, "GraphQL is on and needs a token");
      await graphql.body?.cancel();
      ok(await dbx(["stop", ...d]), "stop");
    });
  },
);

Deno.test("lifecycle: bad start options are usage errors and start nothing", OPTS, async () => {
  await withDataDir(async (dir) => {
    const d = ["--data-dir", dir];
    const cases: [string[], RegExp][] = [
      [["--port", "70000"], /--port.*must be a port from 0 to 65535/],
      [["--port", "-1"], /--port/],
      [["--port", "http"], /must be a port/],
      [["--restrict=sometimes"], /restrict mode must be off, default, strict/],
      [["--api", "soap"], /--api.*Allowed choices are rest, graphql, grpc, all/],
      [["--host", ""], /--host.*must be a host name or IP address/],
      [["--host", "a b"], /must be a host name/],
      [["--bogus"], /unknown option '--bogus'/],
    ];
    for (const [args, pattern] of cases) {
      const r = await dbx(["start", ...d, ...args]);
      fails(r, 2, pattern, `start ${args.join(" ")}`);
    }
    assert.equal(await readPidFile(dir), undefined);
  });
});

Deno.test(
  "lifecycle: a port in use fails start with the child's error, nothing left running",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        const port = (blocker.addr as Deno.NetAddr).port;
        const r = await dbx([
          "start",
          "--data-dir",
          dir,
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
        ]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /dbx did not start: the server process ended/);
        assert.match(
          r.stderr,
          new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`),
        );
        assert.equal(await readPidFile(dir), undefined, "no PID file");
        const fg = await dbx([
          "start",
          "--foreground",
          "--data-dir",
          dir,
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
        ]);
        fails(fg, 1, /port is already in use/, "foreground on a used port");
      } finally {
        blocker.close();
      }
    });
  },
);

Deno.test(
  "lifecycle: destroy refuses while running and without --yes, then removes everything",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const d = ["--data-dir", dir];
      const info = await startDaemon(dir);
      fails(
        await dbx(["destroy", "--yes", ...d]),
        1,
        new RegExp(`dbx is running \\(pid ${info.pid}, port ${info.port}\\); stop it first`),
        "destroy while running",
      );
      assert(isProcessAlive(info.pid));
      ok(await dbx(["stop", ...d]), "stop");
      assert(await waitForExit(info.pid));

      fails(
        await dbx(["destroy", ...d]),
        1,
        /without confirmation: pass --yes/,
        "no --yes on a non-TTY",
      );
      assert((await Deno.stat(join(dir, "store"))).isDirectory, "nothing deleted yet");

      const destroyed = ok(await dbx(["destroy", "--yes", ...d]), "destroy --yes");
      assert.match(destroyed, new RegExp(`destroyed ${dir.replace(/[.]/g, "\\.")}`));
      await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
      assert.match(ok(await dbx(["destroy", "--yes", ...d]), "again"), /nothing to destroy/);
    });
  },
);

Deno.test(
  "lifecycle: destroy removes a config file kept outside the data dir, and refuses foreign dirs",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const elsewhere = `${dir}-config.toml`;
      ok(
        await dbx([
          "config",
          "--dek",
          btoa("k".repeat(32)),
          "--config",
          elsewhere,
          "--data-dir",
          dir,
        ]),
        "config",
      );
      const info = await startDaemon(dir, ["--config", elsewhere]);
      ok(await dbx(["stop", "--data-dir", dir]), "stop");
      assert(await waitForExit(info.pid));
      ok(await dbx(["destroy", "--yes", "--config", elsewhere, "--data-dir", dir]), "destroy");
      await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
      await assert.rejects(() => Deno.stat(elsewhere), Deno.errors.NotFound);

      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(join(dir, "notes.txt"), "mine");
      fails(
        await dbx(["destroy", "--yes", "--data-dir", dir]),
        1,
        /does not look like an EventDBX data directory/,
        "foreign directory",
      );
      assert.equal(await Deno.readTextFile(join(dir, "notes.txt")), "mine");
    });
  },
);

Deno.test("lifecycle: every lifecycle command has --help", OPTS, async () => {
  for (const cmd of ["start", "stop", "status", "restart", "destroy"]) {
    const r = await dbx([cmd, "--help"]);
    const out = ok(r, `${cmd} --help`);
    assert.match(out, new RegExp(`Usage: dbx ${cmd}`));
    assert.match(out, /--data-dir <path>/);
    assert.match(out, /--config <path>/);
  }
  const start = ok(await dbx(["start", "--help"]), "start --help");
  for (
    const flag of [
      "--port <u16>",
      "--host <addr>",
      "--foreground",
      "--restrict [mode]",
      "--api <surface>",
    ]
  ) {
    assert(start.includes(flag), `start --help names ${flag}`);
  }
});

Deno.test(
  "lifecycle: config.toml may set the host; a bad host there is refused",
  OPTS,
  async () => {
    await withDataDir(async (dir) => {
      ok(await dbx(["config", "--dek", btoa("k".repeat(32)), "--data-dir", dir]), "config");
      const path = join(dir, "config.toml");
      const text = await Deno.readTextFile(path);
      // Linux routes all of 127.0.0.0/8 to loopback: a host that is not the default.
      const host = Deno.build.os === "linux" ? "127.0.0.2" : "localhost";
      await Deno.writeTextFile(
        path,
        text.replace(/^port = .*$/m, `port = 7070\nhost = "${host}"`),
      );
      ok(await dbx(["start", "--data-dir", dir, "--port", "0"]), "start without --host");
      const info = await readPidFile(dir);
      assert(info);
      if (host === "127.0.0.2") {
        assert.equal(info.host, "127.0.0.2");
        const status = ok(await dbx(["status", "--data-dir", dir]), "status");
        assert.match(status, /address:\s+http:\/\/127\.0\.0\.2:\d+/);
        assert.match(status, /responding: yes/);
      }
      ok(await dbx(["stop", "--data-dir", dir]), "stop");
      await Deno.writeTextFile(path, text.replace(/^port = .*$/m, 'port = 7070\nhost = "a b"'));
      fails(
        await dbx(["start", "--data-dir", dir, "--port", "0"]),
        1,
        /host must be a host name or IP address/,
        "bad host in config.toml",
      );
    });
  },
);
