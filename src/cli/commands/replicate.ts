/**
 * `dbx push <remote>` and `dbx pull <remote>`: replicate events with a remote over its
 * socket (port 6363), fast-forward only. The local side is this node's API — the local
 * store, or the running server that holds it (which then imports through its writer); the
 * remote side is an encrypted session authenticated against the remote's pinned key.
 *
 * A diverged aggregate (or one the other side refused) is reported and makes the command
 * exit 1; every other aggregate still moves. Running the same command again moves only
 * what is still missing.
 */
import { formatBytes, ProgressLine } from "../progress.ts";
import { type Command, InvalidArgumentError } from "commander";
import type { AggregateRef } from "../../api/operations.ts";
import { resolveLocation } from "../../config/mod.ts";
import { DbxError } from "../../errors.ts";
import { openPeerSession } from "../../replication/client.ts";
import { loadOrCreateIdentity } from "../../replication/identity.ts";
import { apiSide } from "../../replication/requests.ts";
import {
  DEFAULT_BATCH_SIZE,
  MAX_BATCH_SIZE,
  transfer,
  type TransferProgress,
  type TransferSummary,
} from "../../replication/transfer.ts";
import { parseEndpoint } from "../../remotes/remote.ts";
import { withBackend } from "../backend.ts";
import {
  collect,
  type CommonOptions,
  parsePositiveInt,
  printJson,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";
import { CliExit } from "../exit.ts";

interface TransferFlags extends CommonOptions {
  dryRun?: boolean;
  schema?: boolean;
  schemaOnly?: boolean;
  batchSize?: number;
  aggregate?: string[];
  aggregateId?: string[];
  json?: boolean;
  token?: string;
}

function parseBatchSize(value: string): number {
  const n = parsePositiveInt(value);
  if (n > MAX_BATCH_SIZE) throw new InvalidArgumentError(`must be at most ${MAX_BATCH_SIZE}`);
  return n;
}

/** `TYPE:ID` (split at the first colon). */
function parseAggregateId(value: string): AggregateRef {
  const at = value.indexOf(":");
  if (at <= 0 || at === value.length - 1) {
    throw new DbxError("invalid_input", `--aggregate-id must look like TYPE:ID, not ${value}`);
  }
  return { aggregate_type: value.slice(0, at), aggregate_id: value.slice(at + 1) };
}

function report(direction: "push" | "pull", name: string, summary: TransferSummary): void {
  const moved = direction === "push" ? `to ${name}` : `from ${name}`;
  const verb = summary.dry_run
    ? `dry run: would ${direction}`
    : direction === "push"
    ? "pushed"
    : "pulled";
  console.log(
    `${verb} ${summary.events} events of ${summary.moved_aggregates} aggregates ${moved}` +
      (summary.dry_run ? "" : ` (${formatBytes(summary.bytes)})`) +
      ` in ${(summary.elapsed_ms / 1000).toFixed(1)} s; ${summary.aggregates} aggregates ` +
      `checked, ${summary.up_to_date} up to date, ${summary.diverged.length} diverged` +
      (summary.failed.length > 0 ? `, ${summary.failed.length} refused` : "") +
      (summary.schemas > 0
        ? `; ${summary.schemas} schemas ${summary.dry_run ? "would be " : ""}copied`
        : ""),
  );
}

/** Divergences and refusals go to stderr, also beside `--json` output. */
function reportProblems(summary: TransferSummary): void {
  for (const d of summary.diverged) console.error(`diverged: ${d.message}`);
  for (const f of summary.failed) {
    console.error(`refused: ${f.aggregate_type}/${f.aggregate_id}: ${f.message}`);
  }
}

async function run(direction: "push" | "pull", name: string, flags: TransferFlags) {
  const { dataDir } = resolveLocation({ configPath: flags.config, dataDir: flags.dataDir });
  const ids = (flags.aggregateId ?? []).map(parseAggregateId);
  const me = await loadOrCreateIdentity(dataDir);
  const writes = direction === "pull" && !flags.dryRun;
  const summary = await withBackend(flags, writes ? "write" : "read", async (db) => {
    const remote = await db.call("getRemote", { name });
    const { host, port } = parseEndpoint(remote.endpoint);
    const peer = await openPeerSession(me, {
      name,
      hostname: host,
      port,
      publicKey: remote.public_key,
    });
    const progress = new ProgressLine();
    try {
      const local = apiSide(db);
      const remoteName = `remote ${name}`;
      const onProgress = flags.json ? undefined : (p: TransferProgress) =>
        progress.update(
          `${direction}: ${p.aggregates} aggregates checked, ${p.events} events, ` +
            formatBytes(p.bytes),
        );
      const result = await transfer({
        source: direction === "push" ? local : peer,
        sink: direction === "push" ? peer : local,
        sourceName: direction === "push" ? "local" : remoteName,
        sinkName: direction === "push" ? remoteName : "local",
        filter: { aggregateTypes: flags.aggregate, aggregateIds: ids },
        batchSize: flags.batchSize ?? DEFAULT_BATCH_SIZE,
        dryRun: flags.dryRun,
        schemas: flags.schemaOnly ? "only" : flags.schema ? "with" : undefined,
        onProgress,
      });
      return result;
    } finally {
      progress.clear();
      peer.close();
    }
  });
  if (flags.json) printJson({ direction, remote: name, ...summary });
  else report(direction, name, summary);
  reportProblems(summary);
  if (summary.diverged.length > 0 || summary.failed.length > 0) throw new CliExit(1);
}

function register(program: Command, direction: "push" | "pull", description: string): void {
  const cmd = program
    .command(`${direction} <name>`)
    .description(description)
    .option("--dry-run", "report what would move and every divergence; write nothing")
    .option("--schema", "copy schema definitions (of the aggregates covered) too")
    .option("--schema-only", "copy only schema definitions, no events")
    .option(
      "--batch-size <n>",
      `events per batch (default ${DEFAULT_BATCH_SIZE}, at most ${MAX_BATCH_SIZE})`,
      parseBatchSize,
    )
    .option("--aggregate <type>", "only aggregates of this type (repeatable)", collect)
    .option("--aggregate-id <type:id>", "only this aggregate (repeatable)", collect)
    .option("--token <value>", "token for the local server, when one holds the store");
  withJsonOption(cmd);
  withCommonOptions(cmd);
  cmd.action((name: string, flags: TransferFlags) => run(direction, name, flags));
}

/**
 * Register `dbx push` and `dbx pull`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * const program = new Command("dbx");
 * registerReplication(program);
 * await program.parseAsync(["push", "standby", "--dry-run"], { from: "user" });
 * ```
 */
export function registerReplication(program: Command): void {
  register(
    program,
    "push",
    "stream local events to a remote, fast-forward only (--dry-run reports what would move)",
  );
  register(
    program,
    "pull",
    "fast-forward this node from a remote (--dry-run reports what would move)",
  );
}
