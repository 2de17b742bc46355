/** The real `dbx` CLI as a subprocess, for the suites that drive it offline. */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./assert.ts";
import { outputWithin, PROCESS_DEADLINE_MS } from "./deadline.ts";

export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `dbx <args> --data-dir <dir>`, optionally with `stdin`. A run that does not exit
 * within PROCESS_DEADLINE_MS is killed and fails the test with a clear message.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runDbx(dir, ["aggregate", "list", "--json"]);
 * ```
 */
export async function runDbx(dir: string, args: string[], stdin?: string): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args, "--data-dir", dir],
    env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1" },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await outputWithin(
    child,
    PROCESS_DEADLINE_MS,
    `dbx ${args.join(" ").slice(0, 200)}`,
  );
  // Deno itself may report waiting for the node_modules lock when runs overlap.
  const stderr = new TextDecoder().decode(output.stderr).split("\n")
    .filter((line) => line && !line.startsWith("Blocking waiting for file lock"))
    .join("\n");
  return { code: output.code, stdout: new TextDecoder().decode(output.stdout), stderr };
}

/** Run `dbx`, require exit 0, return its stdout. */
export async function runDbxOk(dir: string, args: string[], stdin?: string): Promise<string> {
  const r = await runDbx(dir, args, stdin);
  assertEquals(r.code, 0, `dbx ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** Every sub-command of `group` answers `--help` with exit 0 and its usage. */
export async function assertHelp(dir: string, group: string, commands: string[]): Promise<void> {
  for (const cmd of commands) {
    const r = await runDbx(dir, [group, cmd, "--help"]);
    assertEquals(r.code, 0, `${group} ${cmd} --help: ${r.stderr}`);
    assert(r.stdout.includes(`${group} ${cmd}`), `${group} ${cmd} --help: ${r.stdout}`);
    assert(r.stdout.includes("--data-dir") && r.stdout.includes("--config"), r.stdout);
  }
}

/**
 * Arguments of `dbx aggregate apply` for one event with `--field` values.
 *
 * @example
 * ```ts
 * await runDbxOk(dir, applyArgs("patient", "p-1", "patient-added", "name=Jane"));
 * ```
 */
export function applyArgs(type: string, id: string, event: string, ...fields: string[]): string[] {
  return [
    "aggregate",
    "apply",
    "--aggregate",
    type,
    "--aggregate-id",
    id,
    "--event",
    event,
    ...fields.flatMap((f) => ["--field", f]),
  ];
}
