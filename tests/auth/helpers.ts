/** Shared helpers for the auth tests: temp dirs, keys, clocks and the real CLI. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TokenAuthority, type TokenAuthorityOptions } from "../../src/auth/authority.ts";
import { DbxError } from "../../src/errors.ts";
import { PROCESS_DEADLINE_MS, runWithin } from "../_helpers/deadline.ts";

export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A fresh random 32-byte DEK. */
export function freshDek(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** A temp dir removed after `fn`, whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-auth-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A clock tests move by hand (epoch milliseconds). */
export class ManualClock {
  ms: number;
  constructor(start = Date.UTC(2030, 0, 1)) {
    this.ms = start;
  }
  now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** Open an authority on a temp dir, run `fn`, close it and remove the dir. */
export function withAuthority<T>(
  fn: (
    auth: TokenAuthority,
    ctx: { dir: string; dek: Uint8Array; clock: ManualClock },
  ) => Promise<T>,
  options: Partial<TokenAuthorityOptions> = {},
): Promise<T> {
  return withTempDir(async (dir) => {
    const dek = freshDek();
    const clock = new ManualClock();
    const auth = await TokenAuthority.open({ dataDir: dir, dek, now: clock.now, ...options });
    try {
      return await fn(auth, { dir, dek, clock });
    } finally {
      await auth.close();
    }
  });
}

/** Assert `fn` throws a DbxError with `code` (and `reason`, when given); returns it. */
export function assertRefused(
  fn: () => unknown,
  code: string,
  reason?: string,
): DbxError {
  try {
    fn();
  } catch (err) {
    assert(err instanceof DbxError, `expected a DbxError, got ${err}`);
    assert.equal(err.code, code, `code of "${err.message}"`);
    if (reason !== undefined) assert.equal(err.details?.reason, reason, err.message);
    return err;
  }
  assert.fail(`expected a DbxError ${code}${reason ? ` (${reason})` : ""}, nothing was thrown`);
}

/** Async version of assertRefused. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  code: string,
  messagePart?: string | RegExp,
): Promise<DbxError> {
  try {
    await fn();
  } catch (err) {
    assert(err instanceof DbxError, `expected a DbxError, got ${err}`);
    assert.equal(err.code, code, `code of "${err.message}"`);
    if (typeof messagePart === "string") assert.ok(err.message.includes(messagePart), err.message);
    if (messagePart instanceof RegExp) assert.match(err.message, messagePart);
    return err;
  }
  assert.fail(`expected a DbxError ${code}, nothing was thrown`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real `dbx` as a subprocess. */
export async function dbx(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const output = await runWithin(command, PROCESS_DEADLINE_MS, `dbx ${args.slice(0, 2).join(" ")}`);
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    // `deno run` itself (not dbx) prints this when parallel runs share node_modules.
    stderr: new TextDecoder().decode(output.stderr)
      .replace(/^Blocking waiting for file lock on node_modules directory\n/gm, ""),
  };
}
