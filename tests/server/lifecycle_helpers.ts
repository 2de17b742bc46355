/**
 * Helpers for the lifecycle, proxy and crash suites: the real `dbx` CLI as a subprocess,
 * daemons on temp data dirs (always stopped afterwards), and tokens.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { Engine } from "../../src/engine/engine.ts";
import { isProcessAlive, type PidInfo, readPidFile } from "../../src/server/pid_file.ts";
import { outputWithin, PROCESS_DEADLINE_MS } from "../_helpers/deadline.ts";

/**
 * Options of tests that run daemons and CLI subprocesses: their streams and
 * timers outlive a single test step by design, so Deno's sanitizers are off.
 */
export const DAEMON_TEST_OPTS = { sanitizeResources: false, sanitizeOps: false };

export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Environment variables removed for the child. */
  unsetEnv?: string[];
}

/**
 * Run `dbx <args>` to completion (stdin closed, so never a TTY), at most
 * PROCESS_DEADLINE_MS (then it is killed and the test fails).
 *
 * @example
 * ```ts
 * const r = await dbx(["status", "--data-dir", dir]);
 * ```
 */
export async function dbx(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = Deno.env.toObject();
  // The caller's own token or data dir must not leak into the tests.
  delete env.EVENTDBX_TOKEN;
  delete env.EVENTDBX_DATA_DIR;
  Object.assign(env, { DBX_NO_UPGRADE_CHECK: "1" }, options.env);
  for (const name of options.unsetEnv ?? []) delete env[name];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env,
    clearEnv: true,
  }).spawn();
  // A hung command (e.g. a `stop` that never returns) fails the test instead of hanging it.
  const out = await outputWithin(child, PROCESS_DEADLINE_MS, `dbx ${args.join(" ").slice(0, 200)}`);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Assert a CLI run succeeded; returns its stdout. */
export function ok(result: CliResult, label: string): string {
  assert.equal(result.code, 0, `${label}: exit ${result.code}\nstderr: ${result.stderr}`);
  return result.stdout;
}

/** Assert a CLI run failed with `code` and a stderr matching `pattern`. */
export function fails(result: CliResult, code: number, pattern: RegExp, label: string): void {
  assert.equal(
    result.code,
    code,
    `${label}: expected exit ${code}, got ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
  );
  assert.match(result.stderr, pattern, label);
  assert.doesNotMatch(result.stderr, /\n\s+at /, `${label}: no stack trace`);
}

/** Options every daemon in the tests uses: an OS-picked port on loopback. */
export const LOCAL_PORT = ["--port", "0", "--host", "127.0.0.1"];

/**
 * Start a daemon on `dir`; returns its PID file contents.
 *
 * @example
 * ```ts
 * const info = await startDaemon(dir);
 * ```
 */
export async function startDaemon(dir: string, extra: string[] = []): Promise<PidInfo> {
  const r = await dbx(["start", "--data-dir", dir, ...LOCAL_PORT, ...extra]);
  ok(r, "dbx start");
  const info = await readPidFile(dir);
  assert(info, `no PID file after start: ${r.stdout} ${r.stderr}`);
  return info;
}

/** Wait until a process is gone (bounded; returns false if it is still alive). */
export async function waitForExit(pid: number, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** End whatever server the PID file of `dir` names: SIGTERM, then SIGKILL. */
export async function killServer(dir: string): Promise<void> {
  const info = await readPidFile(dir).catch(() => undefined);
  if (!info || !isProcessAlive(info.pid)) return;
  try {
    Deno.kill(info.pid, "SIGTERM");
  } catch { /* already gone */ }
  if (await waitForExit(info.pid, 15_000)) return;
  try {
    Deno.kill(info.pid, "SIGKILL");
  } catch { /* already gone */ }
  await waitForExit(info.pid, 5_000);
}

/**
 * Run `fn` with a fresh data dir; afterwards any daemon on it is ended and the dir removed.
 *
 * @example
 * ```ts
 * await withDataDir(async (dir) => { await startDaemon(dir); ... });
 * ```
 */
export async function withDataDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const parent = await Deno.makeTempDir({ prefix: "dbx-server-test-" });
  const dir = join(parent, "data");
  try {
    return await fn(dir);
  } finally {
    await killServer(dir);
    await Deno.remove(parent, { recursive: true }).catch(() => {});
  }
}

/**
 * Issue a token through the CLI (`token generate`); returns the token string.
 *
 * @example
 * ```ts
 * const token = await generateToken(dir, ["--group", "ops", "--user", "alice"]);
 * ```
 */
export async function generateToken(
  dir: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  const r = await dbx(["token", "generate", "--data-dir", dir, ...args], options);
  return ok(r, "token generate").trim();
}

/** The URL of the server serving `dir`. */
export async function serverUrlOf(dir: string): Promise<string> {
  const info = await readPidFile(dir);
  assert(info, "no PID file");
  return `http://127.0.0.1:${info.port}`;
}

/** Open the store of `dir` (read-only when `readOnly`), run `fn`, close it. */
export async function withEngine<T>(
  dir: string,
  readOnly: boolean,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const { config } = await loadConfig({ dataDir: dir }, { create: false });
  const engine = await Engine.open({ dataDir: dir, dek: dekBytes(config), readOnly });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}
