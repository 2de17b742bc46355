/** Overall deadlines for waits, so that a hang fails with a clear message instead of hanging. */

/**
 * Run `fn` (or await a promise), failing with a clear message once `ms` passed (`label`
 * may be a function, called then to describe the state reached). The work itself is not
 * cancelled: cleanup in the caller's `finally` still runs.
 *
 * @example
 * ```ts
 * const status = await withDeadline(10_000, "the server to exit", () => child.status);
 * ```
 */
export async function withDeadline<T>(
  ms: number,
  label: string | (() => string),
  fn: (() => Promise<T>) | Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const what = typeof label === "function" ? label() : label;
      reject(new Error(`${what}: did not finish within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([typeof fn === "function" ? fn() : fn, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Poll `check` every `everyMs` until it returns a value other than `undefined`/`false`;
 * fail with `label` (a function is called then, to describe the state reached) once `ms`
 * passed. An exception thrown by `check` ends the wait at once.
 *
 * @example
 * ```ts
 * await waitUntil(10_000, "the PID file", async () => await exists(pidFile));
 * ```
 */
export async function waitUntil<T>(
  ms: number,
  label: string | (() => string),
  check: () => Promise<T | undefined | false> | T | undefined | false,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() >= deadline) {
      const what = typeof label === "function" ? label() : label;
      throw new Error(`${what}: not reached within ${ms} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** How long one CLI subprocess of a test may run before it counts as hung. */
export const PROCESS_DEADLINE_MS = 60_000;

/**
 * Wait for a spawned child's exit and its piped output, at most `ms`: past that the child
 * is killed (SIGKILL) and the wait fails with `label`, instead of hanging the test.
 *
 * @example
 * ```ts
 * const child = new Deno.Command("true", { stdout: "piped", stderr: "piped" }).spawn();
 * const output = await outputWithin(child, 10_000, "true");
 * ```
 */
export async function outputWithin(
  child: Deno.ChildProcess,
  ms: number,
  label: string,
): Promise<Deno.CommandOutput> {
  const output = child.output();
  try {
    return await withDeadline(ms, label, output);
  } catch (err) {
    killQuietly(child);
    await settledWithin(output, AFTER_KILL_MS);
    throw err;
  }
}

/**
 * How long a killed child's end is awaited. Its output settles only once every copy of its
 * pipes is closed, and a process spawned meanwhile elsewhere in the run may hold one: the
 * wait must not turn a deadline into a hang.
 */
const AFTER_KILL_MS = 10_000;

/** Wait for `promise` to settle, at most `ms`; its outcome (or the timeout) is ignored. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  await withDeadline(ms, "a killed child's end", promise).catch(() => {});
}

/**
 * Wait for a child's exit status, at most `ms`: past that it is killed and the wait fails.
 *
 * @example
 * ```ts
 * const status = await statusWithin(child, 10_000, "the server to exit");
 * ```
 */
export async function statusWithin(
  child: Deno.ChildProcess,
  ms: number,
  label: string,
): Promise<Deno.CommandStatus> {
  try {
    return await withDeadline(ms, label, child.status);
  } catch (err) {
    killQuietly(child);
    await settledWithin(child.status, AFTER_KILL_MS);
    throw err;
  }
}

/** SIGKILL a child that may already be gone. */
export function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // already exited
  }
}

/**
 * Spawn `command` and wait for its output at most `ms` (see outputWithin). Its stdout and
 * stderr options must say "piped" for the streams the caller reads.
 *
 * @example
 * ```ts
 * const cmd = new Deno.Command("true", { stdout: "piped", stderr: "piped" });
 * const output = await runWithin(cmd, 10_000, "true");
 * ```
 */
export function runWithin(
  command: Deno.Command,
  ms: number,
  label: string,
): Promise<Deno.CommandOutput> {
  return outputWithin(command.spawn(), ms, label);
}

/**
 * How long one test's work against an in-process server may take before it counts as hung
 * (the slowest such test takes well under a minute on a loaded machine).
 */
export const SERVER_WORK_DEADLINE_MS = 240_000;

/** How long an in-process test server may take to shut down. */
export const SHUTDOWN_DEADLINE_MS = 60_000;

/**
 * Run a test's work against its in-process server within SERVER_WORK_DEADLINE_MS: a hang
 * (an unanswered request, a stuck stream) fails the test with that message instead of
 * stalling the whole run.
 *
 * @example
 * ```ts
 * const answer = await serverWorkWithin(async () => 42);
 * ```
 */
export function serverWorkWithin<T>(work: () => Promise<T>): Promise<T> {
  return withDeadline(SERVER_WORK_DEADLINE_MS, "the test's work against its server", work);
}

/**
 * Shut an in-process test server down within SHUTDOWN_DEADLINE_MS (nothing when it never
 * started): a listener that does not close fails the test instead of stalling the run.
 *
 * @example
 * ```ts
 * declare const server: { shutdown(): Promise<void> } | undefined;
 * await shutdownWithin(server);
 * ```
 */
export async function shutdownWithin(server?: { shutdown(): Promise<void> }): Promise<void> {
  if (server) await withDeadline(SHUTDOWN_DEADLINE_MS, "the server's shutdown", server.shutdown());
}
