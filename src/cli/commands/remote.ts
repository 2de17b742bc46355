/**
 * `dbx remote add|rm|ls|show|key`: the replication remotes of this node (one store, the same
 * as the Admin API's `/admin/remotes`) and this node's own replication key.
 *
 * `remote add` pins the remote's Ed25519 public key: pushes and pulls then talk only to a
 * node proving it holds that key, and a pinned remote may push to this node.
 */
import type { Command } from "commander";
import { DEFAULT_REMOTE_PORT, type Remote } from "../../api/operations.ts";
import { resolveLocation } from "../../config/mod.ts";
import { identityPaths, loadOrCreateIdentity } from "../../replication/identity.ts";
import { withBackend } from "../backend.ts";
import {
  type CommonOptions,
  parsePositiveInt,
  printJson,
  printTable,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";

interface JsonFlags extends CommonOptions {
  json?: boolean;
}

interface AddFlags extends JsonFlags {
  publicKey: string;
  port?: number;
}

interface KeyFlags extends JsonFlags {
  showPath?: boolean;
}

function printRemote(remote: Remote): void {
  console.log(`name:       ${remote.name}`);
  console.log(`endpoint:   ${remote.endpoint}`);
  console.log(`public key: ${remote.public_key}`);
  console.log(`created:    ${remote.created_at}`);
  console.log(`updated:    ${remote.updated_at}`);
}

/**
 * Register `dbx remote` and its sub-commands.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * const program = new Command("dbx");
 * registerRemote(program);
 * await program.parseAsync(["remote", "ls", "--json"], { from: "user" });
 * ```
 */
export function registerRemote(program: Command): void {
  const remote = program
    .command("remote")
    .description("manage replication remotes (pinned Ed25519 keys) and this node's key");

  const add = remote
    .command("add <name> <ip>")
    .description(
      "register a remote and pin its Ed25519 public key (replaces an existing one of that name)",
    )
    .requiredOption("--public-key <base64>", "the remote's replication public key (dbx remote key)")
    .option(
      "--port <n>",
      `the remote's socket port (default ${DEFAULT_REMOTE_PORT})`,
      parsePositiveInt,
    );
  withJsonOption(add);
  withCommonOptions(add);
  add.action(async (name: string, ip: string, flags: AddFlags) => {
    const { remote, created } = await withBackend(flags, "write", (db) =>
      db.call("upsertRemote", {
        name,
        host: ip,
        port: flags.port ?? DEFAULT_REMOTE_PORT,
        public_key: flags.publicKey,
      }));
    if (flags.json) printJson({ ...remote, created });
    else console.log(`${created ? "added" : "updated"} remote ${remote.name} (${remote.endpoint})`);
  });

  const rm = remote.command("rm <name>").description("remove a remote (its key is unpinned)");
  withJsonOption(rm);
  withCommonOptions(rm);
  rm.action(async (name: string, flags: JsonFlags) => {
    const result = await withBackend(flags, "write", (db) => db.call("removeRemote", { name }));
    if (flags.json) printJson(result);
    else console.log(`removed remote ${result.name}`);
  });

  const ls = remote.command("ls").description("list remotes with their endpoints");
  withJsonOption(ls);
  withCommonOptions(ls);
  ls.action(async (flags: JsonFlags) => {
    const remotes = await withBackend(flags, "read", (db) => db.call("listRemotes", {}));
    if (flags.json) printJson(remotes);
    else if (remotes.length === 0) console.log("no remotes configured");
    else printTable(["NAME", "ENDPOINT"], remotes.map((r) => [r.name, r.endpoint]));
  });

  const show = remote.command("show <name>").description("show a remote's endpoint and pinned key");
  withJsonOption(show);
  withCommonOptions(show);
  show.action(async (name: string, flags: JsonFlags) => {
    const found = await withBackend(flags, "read", (db) => db.call("getRemote", { name }));
    if (flags.json) printJson(found);
    else printRemote(found);
  });

  const key = remote
    .command("key")
    .description("print this node's replication public key (created on first use)")
    .option("--show-path", "also print where the key pair is stored");
  withJsonOption(key);
  withCommonOptions(key);
  key.action(async (flags: KeyFlags) => {
    const { dataDir } = resolveLocation({ configPath: flags.config, dataDir: flags.dataDir });
    const me = await loadOrCreateIdentity(dataDir);
    const paths = identityPaths(dataDir);
    if (flags.json) {
      printJson({
        public_key: me.publicKeyBase64,
        ...(flags.showPath ? { public_key_path: paths.pub, secret_key_path: paths.key } : {}),
      });
      return;
    }
    console.log(me.publicKeyBase64);
    if (flags.showPath) {
      console.log(`public key: ${paths.pub}`);
      console.log(`secret key: ${paths.key} (mode 0600)`);
    }
  });
}
