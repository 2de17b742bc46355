/**
 * The server's memory settings (README "Memory") reach it in every launch: the daemon's
 * process has the V8 flags and the malloc settings (a user's own value wins), and the deno.json
 * tasks and the compile script use the same flags as src/server/daemon.ts.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { selfCommand, SERVER_ENV, SERVER_V8_FLAGS, serverEnv } from "../../src/server/daemon.ts";
import { readPidFile } from "../../src/server/pid_file.ts";
import {
  DAEMON_TEST_OPTS,
  dbx,
  LOCAL_PORT,
  ok,
  type RunOptions,
  withDataDir,
} from "./lifecycle_helpers.ts";

const V8_FLAGS_ARG = `--v8-flags=${SERVER_V8_FLAGS.join(",")}`;
const ROOT = new URL("../../", import.meta.url);

/** A process's environment and command line, from /proc (Linux). */
function processOf(pid: number): { env: Map<string, string>; args: string[] } {
  const split = (path: string) => Deno.readTextFileSync(path).split("\0").filter(Boolean);
  const env = new Map(
    split(`/proc/${pid}/environ`).map((entry) => {
      const at = entry.indexOf("=");
      return [entry.slice(0, at), entry.slice(at + 1)] as [string, string];
    }),
  );
  return { env, args: split(`/proc/${pid}/cmdline`) };
}

Deno.test("serverEnv adds SERVER_ENV without overriding the caller's values", () => {
  assert.deepEqual(serverEnv({ HOME: "/home/a" }), { HOME: "/home/a", ...SERVER_ENV });
  assert.equal(serverEnv({ MALLOC_ARENA_MAX: "4" }).MALLOC_ARENA_MAX, "4");
});

Deno.test("selfCommand runs main.ts under deno run with the server's V8 flags", () => {
  const self = selfCommand(["start", "--foreground"]);
  assert.equal(self.command, Deno.execPath());
  assert.deepEqual(self.args.slice(0, 3), ["run", "-A", V8_FLAGS_ARG]);
  assert.deepEqual(self.args.slice(-2), ["start", "--foreground"]);
});

Deno.test("deno.json's start and dbx tasks set the server's V8 flags and environment", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const env = Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`).join(" ");
  for (const task of ["start", "dbx"]) {
    assert.match(config.tasks[task], new RegExp(`^${env} deno run -A ${V8_FLAGS_ARG} main\\.ts`));
  }
});

Deno.test("the compile script compiles the server's V8 flags into the binary", async () => {
  const source = await Deno.readTextFile(fileURLToPath(new URL("scripts/compile.ts", ROOT)));
  assert.match(source, /import \{ SERVER_V8_FLAGS \} from "\.\.\/src\/server\/daemon\.ts"/);
  assert.match(source, /`--v8-flags=\$\{SERVER_V8_FLAGS\.join\(","\)\}`/);
});

Deno.test({
  name: "the daemon runs with the V8 flags and MALLOC_ARENA_MAX; a user's value wins",
  ignore: Deno.build.os !== "linux",
  ...DAEMON_TEST_OPTS,
  fn: async () => {
    const cases: [RunOptions, string][] = [
      [{ unsetEnv: ["MALLOC_ARENA_MAX"] }, SERVER_ENV.MALLOC_ARENA_MAX],
      [{ env: { MALLOC_ARENA_MAX: "3" } }, "3"],
    ];
    for (const [options, expected] of cases) {
      await withDataDir(async (dir) => {
        ok(await dbx(["start", "--data-dir", dir, ...LOCAL_PORT], options), "dbx start");
        const info = await readPidFile(dir);
        assert(info, "no PID file after start");
        const server = processOf(info.pid);
        assert.equal(server.env.get("MALLOC_ARENA_MAX"), expected);
        for (const [name, value] of Object.entries(SERVER_ENV)) {
          if (name !== "MALLOC_ARENA_MAX") assert.equal(server.env.get(name), value, name);
        }
        assert(server.args.includes(V8_FLAGS_ARG), `daemon command line: ${server.args}`);
        ok(await dbx(["stop", "--data-dir", dir]), "dbx stop");
      });
    }
  },
});
