/**
 * `dbx --remote tcp://host:port --token <token> <command…>`: run one command on a server,
 * over its control socket (Noise-encrypted, authenticated by the token), and print what it
 * printed there with its exit code. The server decides what may run (an allowlist of
 * commands, then the token's scopes through its API); see remote_commands.ts.
 */
import { ControlClient, DEFAULT_CONTROL_PORT } from "../control_protocol/client.ts";
import { DbxError } from "../errors.ts";
import { TOKEN_ENV } from "./backend.ts";

const USAGE =
  "usage: dbx --remote tcp://HOST[:PORT] [--token TOKEN] [--timeout SECONDS] <command…>";

/** Where `--remote` points. */
export interface RemoteTarget {
  hostname: string;
  port: number;
}

/**
 * Parse a `--remote` address: `tcp://host:port`, `tcp://host` (port 6363), `host:port`,
 * IPv6 in brackets.
 *
 * @example
 * ```ts
 * parseRemote("tcp://db.example:6363"); // { hostname: "db.example", port: 6363 }
 * parseRemote("tcp://[::1]"); // { hostname: "::1", port: 6363 }
 * ```
 */
export function parseRemote(text: string): RemoteTarget {
  const bare = text.trim().replace(/^tcp:\/\//i, "");
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+)(?::(\d{1,5}))?\/?$/.exec(bare);
  const port = match?.[2] === undefined ? DEFAULT_CONTROL_PORT : Number(match[2]);
  if (!match || port < 1 || port > 65_535 || /^[a-z]+:\/\//i.test(bare)) {
    throw new DbxError(
      "invalid_input",
      `--remote must be tcp://HOST[:PORT] (got ${JSON.stringify(text)})`,
    );
  }
  return { hostname: match[1].replace(/^\[|\]$/g, ""), port };
}

/** The leading options of a remote invocation, and the command after them. */
function splitArgs(
  args: string[],
): { remote?: string; token?: string; timeout?: number; command: string[] } {
  const out: { remote?: string; token?: string; timeout?: number; command: string[] } = {
    command: [],
  };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    if (!["--remote", "--token", "--timeout"].includes(name)) break;
    const value = eq > 0 && name !== arg ? arg.slice(eq + 1) : args[++i];
    if (value === undefined) throw new DbxError("invalid_input", `${name} needs a value; ${USAGE}`);
    if (name === "--remote") out.remote = value;
    else if (name === "--token") out.token = value;
    else {
      const seconds = Number(value);
      if (!Number.isFinite(seconds) || seconds <= 0) {
        throw new DbxError("invalid_input", "--timeout must be a positive number of seconds");
      }
      out.timeout = seconds;
    }
  }
  out.command = args.slice(i);
  return out;
}

/**
 * Run a remote invocation (`args` as given to dbx, starting with `--remote`); returns the
 * exit code: the remote command's, 1 when the server refused or failed, 2 on usage errors.
 */
export async function runRemote(args: string[]): Promise<number> {
  let parsed;
  let target: RemoteTarget;
  try {
    parsed = splitArgs(args);
    target = parseRemote(parsed.remote ?? "");
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 2;
  }
  const token = parsed.token ?? Deno.env.get(TOKEN_ENV)?.trim();
  if (!token) {
    console.error(`error: dbx --remote needs a token: --token TOKEN or ${TOKEN_ENV}`);
    return 2;
  }
  if (parsed.command.length === 0) {
    console.error(`error: no command given; ${USAGE}`);
    return 2;
  }
  const timeoutMs = (parsed.timeout ?? 120) * 1000;
  let client: ControlClient | undefined;
  try {
    client = await ControlClient.connect({ ...target, token, timeoutMs });
    const answer = await client.request({ kind: "runCommand", args: parsed.command, token: "" });
    if (answer.kind === "error") {
      console.error(`error: ${answer.message} (${answer.code})`);
      return 1;
    }
    if (answer.kind !== "runCommand") {
      console.error("error: the server answered with something else than the command's result");
      return 1;
    }
    const encoder = new TextEncoder();
    if (answer.stdout) await Deno.stdout.write(encoder.encode(answer.stdout));
    if (answer.stderr) await Deno.stderr.write(encoder.encode(answer.stderr));
    return answer.exitCode;
  } catch (err) {
    console.error(`error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  } finally {
    client?.close();
  }
}
