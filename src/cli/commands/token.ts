/**
 * `dbx token generate|list|revoke|refresh`: manage the node's access tokens.
 *
 * Tokens are kept (sealed with the DEK) in `<data-dir>/tokens.json` and signed
 * by `<data-dir>/node.key`. A server running on the same data directory sees
 * changes made here within a second. Write counts live in the store, so `list`
 * and `refresh --limit` read them from it (read-only, also while a server runs).
 */
import { type Command, InvalidArgumentError } from "commander";
import { ACTIONS, MAX_EXPIRATION_SECONDS, type TokenInfo } from "../../api/operations.ts";
import { withBackend } from "../backend.ts";
import {
  collect,
  type CommonOptions,
  parseNonNegativeInt,
  parsePositiveInt,
  printJson,
  printTable,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";

interface GenerateFlags extends CommonOptions {
  group: string;
  user: string;
  expiration?: number;
  limit?: number;
  keepAlive?: boolean;
  action?: string[];
  resource?: string[];
  json?: boolean;
}

interface ListFlags extends CommonOptions {
  json?: boolean;
}

interface RevokeFlags extends CommonOptions {
  token: string;
  json?: boolean;
}

interface RefreshFlags extends CommonOptions {
  token: string;
  expiration?: number;
  limit?: number;
  json?: boolean;
}

function parseExpiration(value: string): number {
  const seconds = parsePositiveInt(value);
  if (seconds > MAX_EXPIRATION_SECONDS) {
    throw new InvalidArgumentError(`must be at most ${MAX_EXPIRATION_SECONDS} seconds (100 years)`);
  }
  return seconds;
}

/**
 * Token commands manage the node's tokens: locally, or through the running server (which
 * owns them while it runs). `--token` names the token being revoked or refreshed here, not
 * the caller, so the caller is always the CLI's own.
 */
function manage<T>(flags: CommonOptions, run: Parameters<typeof withBackend<T>>[2]): Promise<T> {
  const { config, dataDir } = flags;
  return withBackend({ config, dataDir }, "write", run);
}

function expiryText(info: TokenInfo): string {
  if (info.expires_at === null) return "never";
  return info.keep_alive ? `${info.expires_at} (keep-alive)` : info.expires_at;
}

function writesText(info: TokenInfo): string {
  return info.limit === null ? "unlimited" : `${info.remaining_writes}/${info.limit}`;
}

function printInfoTable(infos: TokenInfo[]): void {
  printTable(
    ["ID", "GROUP", "USER", "STATUS", "EXPIRES", "WRITES LEFT", "ACTIONS", "RESOURCES"],
    infos.map((i) => [
      i.id,
      i.group,
      i.user,
      i.status,
      expiryText(i),
      writesText(i),
      i.actions.join(","),
      i.resources.join(","),
    ]),
  );
}

/**
 * Register `dbx token` and its sub-commands.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * const program = new Command("dbx");
 * registerToken(program);
 * await program.parseAsync(["token", "list", "--json"], { from: "user" });
 * ```
 */
export function registerToken(program: Command): void {
  const token = program
    .command("token")
    .description("issue, list, revoke and refresh access tokens (Ed25519-signed JWTs)");

  const generate = token
    .command("generate")
    .description(
      "issue a new token for a group and user; prints the token alone on stdout.\n" +
        "Without --action/--resource the token may do every action on every resource.",
    )
    .requiredOption("--group <name>", "Unix-style group the token acts for")
    .requiredOption("--user <name>", "user the token acts for (recorded as issued_by)")
    .option("--expiration <secs>", "lifetime in seconds (default: never expires)", parseExpiration)
    .option(
      "--limit <writes>",
      "total events the token may write (default: unlimited)",
      parseNonNegativeInt,
    )
    .option(
      "--keep-alive",
      "slide the expiry to now + --expiration on every use (needs --expiration)",
    )
    .option(
      "--action <action>",
      `allowed action, repeatable: ${ACTIONS.join(", ")} or * ` +
        "(wildcards * and ?; default: *)",
      collect,
    )
    .option(
      "--resource <pattern>",
      "allowed resource, repeatable: aggregate:TYPE:ID or schema:TYPE " +
        "(wildcards * and ?; default: *)",
      collect,
    );
  withJsonOption(generate);
  withCommonOptions(generate);
  generate.action(async (flags: GenerateFlags) => {
    const { token, info } = await manage(flags, (db) =>
      db.call("generateToken", {
        group: flags.group,
        user: flags.user,
        expiration: flags.expiration,
        limit: flags.limit,
        keep_alive: flags.keepAlive,
        actions: flags.action,
        resources: flags.resource,
      }));
    if (flags.json) printJson({ token, ...info });
    else console.log(token);
  });

  const list = token
    .command("list")
    .description("list issued tokens with status, expiry and remaining writes");
  withJsonOption(list);
  withCommonOptions(list);
  list.action(async (flags: ListFlags) => {
    const infos = await manage(flags, (db) => db.call("listTokens", {}));
    if (flags.json) printJson(infos);
    else if (infos.length === 0) console.log("no tokens issued");
    else printInfoTable(infos);
  });

  const revoke = token
    .command("revoke")
    .description("revoke a token immediately (give the token or its id from `token list`)")
    .requiredOption("--token <value>", "the token, or its id");
  withJsonOption(revoke);
  withCommonOptions(revoke);
  revoke.action(async (flags: RevokeFlags) => {
    const info = await manage(flags, (db) => db.call("revokeToken", { token: flags.token }));
    if (flags.json) printJson(info);
    else console.log(`revoked token ${info.id} (${info.group}/${info.user})`);
  });

  const refresh = token
    .command("refresh")
    .description(
      "extend a token's lifetime or write allowance; it keeps its id, and the re-signed\n" +
        "token is printed alone on stdout. Without options, the lifetime restarts from now.",
    )
    .requiredOption("--token <value>", "the token, or its id")
    .option("--expiration <secs>", "new lifetime in seconds, from now", parseExpiration)
    .option(
      "--limit <writes>",
      "grant this many more writes from now (new limit = writes used + this)",
      parseNonNegativeInt,
    );
  withJsonOption(refresh);
  withCommonOptions(refresh);
  refresh.action(async (flags: RefreshFlags) => {
    const { token, info } = await manage(flags, (db) =>
      db.call("refreshToken", {
        token: flags.token,
        expiration: flags.expiration,
        limit: flags.limit,
      }));
    if (flags.json) printJson({ token, ...info });
    else console.log(token);
  });
}
