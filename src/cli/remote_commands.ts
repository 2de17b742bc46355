/**
 * Which `dbx` commands a server runs for `dbx --remote`, with which options: an allowlist.
 * Everything runs through the API with the caller's token (its scopes decide the rest);
 * this list keeps out what must never run for a remote caller whatever its token:
 *
 * - server lifecycle (`start`, `stop`, `restart`, `status`), `destroy`, `config`, tokens
 *   (they show or make secrets), backups, upgrades, replication and plugin management;
 * - anything that reads or writes the server's files: `--payload @file` / `--patch @file`
 *   and `-` (stdin), `schema load`, `schema dump --output`, `aggregate export`, and the
 *   options that pick another data directory or configuration (`--config`, `--data-dir`);
 * - `--token`: the command runs with the token of the connection, never another.
 */

/** Options that take a value (the rest are flags). */
const VALUE_OPTIONS = new Set([
  "--aggregate",
  "--aggregate-id",
  "--event",
  "--field",
  "--payload",
  "--patch",
  "--note",
  "--expected-version",
  "--event-id",
  "--skip",
  "--take",
  "--type",
  "--version",
  "--comment",
  "--events",
  "--snapshot-threshold",
  "--add",
  "--remove",
  "--lock",
  "--rules",
  "--index-page",
]);

const TARGET = ["--aggregate", "--aggregate-id"];

/** Each allowed command: its options and how many operands it takes. */
const ALLOWED: Record<string, { options: string[]; operands?: number }> = {
  "aggregate list": { options: ["--skip", "--take", "--type", "--stage", "--json"] },
  "aggregate get": { options: [...TARGET, "--version", "--include-events", "--json"] },
  "aggregate replay": { options: [...TARGET, "--skip", "--take", "--json"] },
  "aggregate verify": { options: [...TARGET, "--json"] },
  "aggregate apply": {
    options: [
      ...TARGET,
      "--event",
      "--field",
      "--payload",
      "--patch",
      "--note",
      "--stage",
      "--expected-version",
      "--event-id",
      "--json",
    ],
  },
  "aggregate snapshot": { options: [...TARGET, "--comment", "--json"] },
  "aggregate archive": { options: [...TARGET, "--comment", "--json"] },
  "aggregate restore": { options: [...TARGET, "--comment", "--json"] },
  "aggregate commit": { options: ["--json"] },
  "schema list": { options: ["--json"] },
  "schema show": { options: ["--aggregate", "--json"], operands: 1 },
  "schema create": {
    options: ["--aggregate", "--events", "--snapshot-threshold", "--json"],
    operands: 1,
  },
  "schema add": { options: ["--aggregate", "--events", "--json"], operands: 1 },
  "schema remove": { options: ["--aggregate", "--event", "--json"], operands: 2 },
  "schema annotate": { options: ["--note", "--clear", "--json"], operands: 2 },
  "schema alter": {
    options: [
      "--event",
      "--add",
      "--remove",
      "--snapshot-threshold",
      "--clear-snapshot-threshold",
      "--lock",
      "--field",
      "--type",
      "--rules",
      "--clear-rules",
      "--clear-type",
      "--json",
    ],
    operands: 1,
  },
  "schema delete": { options: [], operands: 1 },
  "schema dump": { options: [], operands: 1 },
  verify: { options: ["--type", "--index-page", "--json"] },
};

const HELP = new Set(["--help", "-h"]);
const WHY: Record<string, string> = {
  "--config": "it would pick a configuration file on the server",
  "--data-dir": "it would pick a data directory on the server",
  "--token": "the command runs with the token of the connection",
  "--output": "it would write a file on the server",
};

/** The commands a remote caller may run, for messages and help. */
export function allowedRemoteCommands(): string[] {
  return Object.keys(ALLOWED);
}

/**
 * Why `args` (what follows `dbx`) may not run for a remote caller, or undefined when it may.
 *
 * @example
 * ```ts
 * remoteCommandRefusal(["aggregate", "list", "--json"]); // undefined
 * remoteCommandRefusal(["stop"]); // "\"stop\" is not a command dbx runs remotely; …"
 * ```
 */
export function remoteCommandRefusal(args: readonly string[]): string | undefined {
  if (args.length === 0) return "no command given";
  if (args.length === 1 && HELP.has(args[0])) return undefined;
  const group = args[0];
  const isGroup = Object.keys(ALLOWED).some((k) => k.startsWith(`${group} `));
  if (isGroup && args.length === 2 && HELP.has(args[1])) return undefined;
  const name = isGroup ? `${group} ${args[1] ?? ""}`.trim() : group;
  const spec = Object.hasOwn(ALLOWED, name) ? ALLOWED[name] : undefined;
  if (!spec) {
    return `${JSON.stringify(name)} is not a command dbx runs remotely; allowed: ` +
      allowedRemoteCommands().join(", ");
  }
  let operands = 0;
  let onlyOperands = false;
  const rest = args.slice(isGroup ? 2 : 1);
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (onlyOperands || arg === "-" || !arg.startsWith("-")) {
      if (arg === "-") return "reading stdin (-) is not possible remotely";
      operands++;
      continue;
    }
    if (arg === "--") {
      onlyOperands = true;
      continue;
    }
    if (HELP.has(arg)) continue;
    const eq = arg.indexOf("=");
    const option = eq < 0 ? arg : arg.slice(0, eq);
    if (Object.hasOwn(WHY, option)) return `${option} is not allowed remotely: ${WHY[option]}`;
    if (!option.startsWith("--") || !spec.options.includes(option)) {
      return `option ${option} is not allowed remotely for "${name}"`;
    }
    if (!VALUE_OPTIONS.has(option)) continue;
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < rest.length) value = rest[++i];
    if ((option === "--payload" || option === "--patch") && value !== undefined) {
      if (value === "-" || value.startsWith("@")) {
        return `${option} ${value === "-" ? "-" : "@file"} would read the server's ${
          value === "-" ? "stdin" : "files"
        }; give the JSON itself`;
      }
    }
  }
  if (operands > (spec.operands ?? 0)) {
    return `"${name}" takes at most ${spec.operands ?? 0} argument${
      spec.operands === 1 ? "" : "s"
    }`;
  }
  return undefined;
}
