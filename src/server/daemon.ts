/**
 * Daemon mode: `dbx start` without `--foreground` re-runs itself as a detached child
 * (`start --foreground …`) in its own session, with stdin closed and stdout/stderr appended
 * to `<data-dir>/dbx.log`, then waits until the child has written its PID file and answers
 * `GET /health`. The child is the server; the parent only reports and exits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { DbxError } from "../errors.ts";
import { logFilePath, type PidInfo, readPidFile, serverUrl } from "./pid_file.ts";

/** How long the parent waits for the daemon to come up. */
export const DAEMON_START_TIMEOUT_MS = 15_000;
/** Lines of the log shown when the daemon fails to start. */
const LOG_TAIL_LINES = 20;

/**
 * V8 flags of the server process, measured in issue 11 (README "Memory"). By default V8 lets
 * the old generation grow to about 4× what survived the last full GC before the next one (on
 * a machine with 2 GB or more), lets each isolate's young generation grow to 64 MiB and keeps
 * freed heap pages resident for 8 s: under 64 REST clients the heap swung from 28 to 115 MB.
 * Growing it by 1.5× instead, 8 MiB semi-spaces (a 16 MiB young generation) and handing freed
 * pages back at once took the server's peak RSS down by about 70 MiB, for more GC work
 * (README "Memory" has the figures). The heap limit stays V8's own (no
 * `--max-old-space-size`), so they add no out-of-memory risk. The flags reach the server in
 * every launch: `deno task start|dbx` (deno.json), the daemon (`selfCommand` under `deno run`)
 * and the compiled binary (scripts/compile.ts compiles them in), which keeps them when it
 * re-runs itself. tests/server/runtime_settings.test.ts checks all three.
 */
export const SERVER_V8_FLAGS: readonly string[] = [
  "--heap-growing-percent=50",
  "--max-semi-space-size=8",
  "--memory-pool-timeout=0",
];

/**
 * glibc malloc settings of the server process, which must be in its environment when it
 * starts (glibc reads them once). By default every thread that allocates concurrently gets
 * an arena of its own, up to 8 per core, and RocksDB's and the runtime's threads each keep
 * freed memory in theirs; allocations from 128 KiB up are served from the heap once a large
 * block has been freed, and leave holes there. RSS then grew with the store: 100 MiB more
 * from 100k to 1M events. Two arenas and a fixed 128 KiB mmap threshold (larger blocks are
 * mapped and unmapped, as glibc does before its threshold adapts) keep it flat. Set by
 * `deno task start|dbx` and by the daemon spawner for its child; a user's own value wins. A
 * foreground server started otherwise (systemd, a container) needs them in its environment:
 * README "Memory".
 */
export const SERVER_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "131072",
};

/** The program and leading arguments that re-run this `dbx`. */
export interface SelfCommand {
  command: string;
  args: string[];
}

/**
 * How to run this same `dbx` again with `args`: a compiled binary runs itself (with the V8
 * flags compiled into it); under `deno run` the Deno binary runs the same main module with
 * all permissions and the server's V8 flags.
 *
 * @example
 * ```ts
 * selfCommand(["start", "--foreground"]);
 * // { command: "/usr/bin/deno", args: ["run", "-A", "--v8-flags=--heap-growing-percent=50,…",
 * //   "/src/dbx/main.ts", "start", "--foreground"] }
 * ```
 */
export function selfCommand(args: string[]): SelfCommand {
  const exec = Deno.execPath();
  const isDeno = /^deno(\.exe)?$/i.test(basename(exec));
  if (!isDeno) return { command: exec, args };
  const main = Deno.mainModule.startsWith("file:")
    ? fileURLToPath(Deno.mainModule)
    : Deno.mainModule;
  return {
    command: exec,
    args: ["run", "-A", `--v8-flags=${SERVER_V8_FLAGS.join(",")}`, main, ...args],
  };
}

/**
 * `env` with SERVER_ENV added where `env` does not set those variables itself.
 *
 * @example
 * ```ts
 * serverEnv({ HOME: "/root" }); // { HOME: "/root", MALLOC_ARENA_MAX: "2", … }
 * serverEnv({ MALLOC_ARENA_MAX: "4" }).MALLOC_ARENA_MAX; // "4"
 * ```
 */
export function serverEnv(env: Record<string, string>): Record<string, string> {
  return { ...SERVER_ENV, ...env };
}

/** A daemon that came up. */
export interface StartedDaemon {
  pid: number;
  info: PidInfo;
  logPath: string;
}

export interface SpawnDaemonOptions {
  dataDir: string;
  /** Arguments after `start --foreground` (absolute --data-dir, --port, …). */
  args: string[];
  timeoutMs?: number;
}

/**
 * Start the server as a detached child and wait until it serves. Throws a DbxError with
 * the tail of the log when the child exits, or when it has not answered in time (it is
 * left running then: opening a large store may simply take longer).
 *
 * @example
 * ```ts
 * const { pid, info } = await spawnDaemon({ dataDir: "/tmp/db", args: ["--data-dir", "/tmp/db"] });
 * ```
 */
export async function spawnDaemon(options: SpawnDaemonOptions): Promise<StartedDaemon> {
  const logPath = logFilePath(options.dataDir);
  const self = selfCommand(["start", "--foreground", ...options.args]);
  const logStart = await fileSize(logPath);
  const fd = openSync(logPath, "a", 0o600);
  let child: ChildProcess;
  try {
    child = spawn(self.command, self.args, {
      detached: true, // own session: survives the parent and the terminal
      stdio: ["ignore", fd, fd],
      env: serverEnv(Deno.env.toObject()),
      windowsHide: true,
    });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  let exit: string | undefined;
  let spawnError: Error | undefined;
  child.on("error", (err) => spawnError = err);
  child.on("exit", (code, signal) => exit = signal ? `signal ${signal}` : `exit code ${code}`);
  const failed = async (headline: string): Promise<never> => {
    const tail = await logTail(logPath, logStart);
    throw new DbxError(
      "unavailable",
      `${headline}; log ${logPath}` + (tail ? `:\n${tail}` : ""),
    );
  };

  const timeoutMs = options.timeoutMs ?? DAEMON_START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  try {
    while (true) {
      if (spawnError) {
        await failed(`dbx did not start: cannot run ${self.command}: ${spawnError.message}`);
      }
      if (exit !== undefined) await failed(`dbx did not start: the server process ended (${exit})`);
      const info = await readPidFile(options.dataDir).catch(() => undefined);
      if (info && info.pid === child.pid && await answersHealth(serverUrl(info))) {
        return { pid: info.pid, info, logPath };
      }
      if (Date.now() > deadline) {
        // Left running: opening a large store can take long. Its pid lets the user end it.
        await failed(
          `dbx (pid ${child.pid}) has not answered within ${Math.round(timeoutMs / 1000)} s; ` +
            "it may still be opening the store: see dbx status",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    child.unref(); // let this process exit; the daemon lives on
  }
}

/**
 * True when `GET <baseUrl>/health` answers 2xx within `timeoutMs`.
 *
 * @example
 * ```ts
 * await answersHealth("http://127.0.0.1:7070"); // true while a server runs
 * ```
 */
export async function answersHealth(baseUrl: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/**
 * The last lines written to the log since byte `from`.
 *
 * @example
 * ```ts
 * await logTail("/tmp/db/dbx.log", 0); // "error: ..."
 * ```
 */
export async function logTail(path: string, from = 0, lines = LOG_TAIL_LINES): Promise<string> {
  try {
    const bytes = await Deno.readFile(path);
    const text = new TextDecoder().decode(bytes.subarray(Math.min(from, bytes.length)));
    return text.trimEnd().split("\n").slice(-lines).map((l) => `  ${l}`).join("\n");
  } catch {
    return "";
  }
}
