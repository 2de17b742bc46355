/** Shared helpers for the config tests: temp dirs and the real CLI as a subprocess. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PROCESS_DEADLINE_MS, runWithin } from "../_helpers/deadline.ts";

export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** Every secret a test hands to the CLI; no output may ever contain one. */
export const secrets = new Set<string>();

/** A fresh 32-byte DEK in base64, registered as a secret. */
export function freshDek(): string {
  const dek = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  secrets.add(dek);
  return dek;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `dbx <args>` and check that nothing it printed contains a secret. */
export async function dbx(args: string[], env?: Record<string, string>): Promise<CliResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const output = await runWithin(command, PROCESS_DEADLINE_MS, `dbx ${args[0] ?? ""}`);
  const result = {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
  for (const secret of secrets) {
    assert(!result.stdout.includes(secret), `stdout of dbx ${args[0]} leaked a secret`);
    assert(!result.stderr.includes(secret), `stderr of dbx ${args[0]} leaked a secret`);
  }
  return result;
}

/** A temp dir removed after `fn`, whatever happens. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-config-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Permission bits of a path. */
export async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

/** True when the path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The error text of a failed run, which must be exactly one line. */
export function oneLineError(result: CliResult): string {
  const text = result.stderr.split("\n").filter((line) => line && !line.startsWith("npm warn"))
    .join("\n");
  assert(!text.includes("\n"), `expected a one-line error, got:\n${text}`);
  return text;
}
