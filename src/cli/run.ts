import { basename } from "node:path";
import process from "node:process";
import { Command, CommanderError } from "commander";
import { isDbxError } from "../errors.ts";
import { CliExit } from "./exit.ts";
import { registerCommands } from "./commands/mod.ts";
import { expandUpgradeShortcut, remindOfUpgrade } from "./commands/upgrade.ts";

export const VERSION = "0.1.0";

/**
 * What `dbx --version` prints: the version, the Deno version and the build target.
 *
 * @example
 * ```ts
 * versionText(); // "dbx 0.1.0 (deno 2.9.3, x86_64-unknown-linux-gnu)"
 * ```
 */
export function versionText(): string {
  return `${programName()} ${VERSION} (deno ${Deno.version.deno}, ${Deno.build.target})`;
}

/**
 * Commander echoes a mistyped `--opt=value` whole; the value may be a secret
 * (`--deek=<key>`), so only the option name is shown.
 */
export function redactUnknownOption(message: string): string {
  return message.replace(/(unknown option '[^'=]+)=[^']*'/g, "$1=…'");
}

/**
 * The name to show in usage: `eventdbx` when the binary was installed under
 * that (older) name, else `dbx`. Under `deno run` the executable is `deno`.
 */
export function programName(executable = Deno.execPath()): string {
  return basename(executable).replace(/\.exe$/i, "") === "eventdbx" ? "eventdbx" : "dbx";
}

/** Build the `dbx` command tree. */
export function buildProgram(): Command {
  const program = new Command(programName())
    .description("EventDBX: an event-sourced, append-only, verifiable write-side database")
    .version(
      versionText(),
      "-V, --version",
      "print the version, the Deno version and the build target",
    )
    // Program options only before the sub-command: `aggregate get --version N` is the
    // sub-command's own option, not a request for the program's version.
    .enablePositionalOptions()
    // Handled before parsing (runCli); declared so that --help shows it.
    .option(
      "--remote <tcp://host:port>",
      "run the command on that server over its control socket, with the token of --token " +
        "<token> (or EVENTDBX_TOKEN); e.g. dbx --remote tcp://db:6363 --token … aggregate list",
    )
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Commander prints "error: ..." itself; keep it to one line on stderr.
      writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(redactUnknownOption(s))),
      writeOut: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
    });
  registerCommands(program);
  // Every sub-command inherits the override so that usage errors return here.
  const inherit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride();
      sub.showSuggestionAfterError(true);
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

/**
 * Run the CLI and return the process exit code: 0 success, 1 failure, 2 usage error.
 */
export async function runCli(args: string[]): Promise<number> {
  // `dbx --remote tcp://host:port --token … <command>`: the command runs on that server.
  if (args[0] === "--remote" || args[0]?.startsWith("--remote=")) {
    const { runRemote } = await import("./remote.ts");
    return await runRemote(args);
  }
  // Every file and directory this process creates is its owner's alone, whatever the umask it
  // was started with (RocksDB's files included: they take their mode from it).
  if (Deno.build.os !== "windows") process.umask(0o077);
  args = expandUpgradeShortcut(args);
  remindOfUpgrade(args);
  return await runCommandLine(args);
}

/**
 * Parse and run one command line (no process set-up): what `runCli` runs, and what a server
 * runs for `dbx --remote` (remote_runner.ts).
 */
export async function runCommandLine(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      return 2;
    }
    if (err instanceof CliExit) {
      if (err.message) console.error(err.message);
      return err.exitCode;
    }
    if (isDbxError(err)) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    console.error(`error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  }
}
