/**
 * `dbx token generate|list|revoke|refresh`: manage the node's access tokens.
 *
 * Tokens are kept (sealed with the DEK) in `<data-dir>/tokens.json` and signed
 * by `<data-dir>/node.key`. A server running on the same data directory sees
 * changes made here within a second. Write counts live in the store, so `list`
 * and `refresh --limit` read them from it (read-only, also while a server runs).
 */
import { type Command, InvalidArgumentError } from "commander";
import {
  ACTIONS,
  MAX_EXPIRATION_SECONDS,
  TokenAuthority,
  type TokenInfo,
  type UsedWrites,
} from "../../auth/authority.ts";
import { serverClient } from "../../client/proxy.ts";
import { dekBytes, loadConfig } from "../../config/mod.ts";
import { Engine } from "../../engine/engine.ts";
import { isDbxError } from "../../errors.ts";
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

/** Open the token authority of the configured data directory. */
async function openAuthority(
  flags: CommonOptions,
): Promise<{ auth: TokenAuthority; dataDir: string; dek: Uint8Array }> {
  const { config, dataDir } = await loadConfig(
    { configPath: flags.config, dataDir: flags.dataDir },
    { create: true },
  );
  const dek = dekBytes(config);
  return { auth: await TokenAuthority.open({ dataDir, dek }), dataDir, dek };
}

async function withAuthority<T>(
  flags: CommonOptions,
  run: (auth: TokenAuthority, dataDir: string, dek: Uint8Array) => Promise<T>,
): Promise<T> {
  const { auth, dataDir, dek } = await openAuthority(flags);
  try {
    return await run(auth, dataDir, dek);
  } finally {
    await auth.close();
  }
}

/**
 * Run `use` with a counter reader backed by the store opened read-only (so it
 * works while a server holds the store). A store that does not exist yet has
 * counted nothing.
 */
async function withUsedWrites<T>(
  dataDir: string,
  dek: Uint8Array,
  use: (usedWrites: UsedWrites) => Promise<T>,
): Promise<T> {
  let engine: Engine | undefined;
  try {
    engine = await Engine.open({ dataDir, dek, readOnly: true });
  } catch (err) {
    if (!isDbxError(err, "not_found")) throw err;
  }
  try {
    return await use((id) => engine ? engine.usedWrites(id) : Promise.resolve(0));
  } finally {
    await engine?.close();
  }
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
    const options = {
      group: flags.group,
      user: flags.user,
      expiration: flags.expiration,
      limit: flags.limit,
      keepAlive: flags.keepAlive,
      actions: flags.action,
      resources: flags.resource,
    };
    const server = await serverClient(flags); // a running server owns the tokens
    const { token, info } = server
      ? await server.generateToken(options)
      : await withAuthority(flags, (auth) => auth.generate(options));
    if (flags.json) printJson({ token, ...info });
    else console.log(token);
  });

  const list = token
    .command("list")
    .description("list issued tokens with status, expiry and remaining writes");
  withJsonOption(list);
  withCommonOptions(list);
  list.action(async (flags: ListFlags) => {
    const infos = await withAuthority(flags, async (auth, dataDir, dek) => {
      const first = await auth.list();
      if (first.every((i) => i.limit === null)) return first;
      return await withUsedWrites(dataDir, dek, (usedWrites) => auth.list(usedWrites));
    });
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
    const server = await serverClient(flags); // a running server owns the tokens
    const info = server
      ? await server.revokeToken(flags.token)
      : await withAuthority(flags, (auth) => auth.revoke(flags.token));
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
    const server = await serverClient(flags); // a running server owns the tokens
    const { token, info } = server
      ? await server.refreshToken(flags.token, { expiration: flags.expiration, limit: flags.limit })
      : await withAuthority(flags, (auth, dataDir, dek) => {
        const options = { expiration: flags.expiration, limit: flags.limit };
        if (flags.limit === undefined) return auth.refresh(flags.token, options);
        return withUsedWrites(dataDir, dek, (used) => auth.refresh(flags.token, options, used));
      });
    if (flags.json) printJson({ token, ...info });
    else console.log(token);
  });
}
