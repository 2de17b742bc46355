/**
 * `dbx queue [list]|clear|retry`: the plugins' delivery queue. `dbx queue` shows each
 * plugin's cursor, lag and counts, then the events waiting for a retry (pending) and those
 * given up on after `plugin_max_attempts` (dead) with their last error.
 */
import { type Command, InvalidArgumentError } from "commander";
import type { QueueReport } from "../../api/operations.ts";
import { DbxError } from "../../errors.ts";
import { withBackend } from "../backend.ts";
import {
  type CommonOptions,
  parsePositiveInt,
  printJson,
  printTable,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";
import { CliExit } from "../exit.ts";

interface ListFlags extends CommonOptions {
  plugin?: string;
  status?: "pending" | "dead";
  eventId?: string;
  take?: number;
  json?: boolean;
}

interface ChangeFlags extends CommonOptions {
  plugin?: string;
  eventId?: string;
  yes?: boolean;
  json?: boolean;
}

function parseStatus(value: string): "pending" | "dead" {
  if (value !== "pending" && value !== "dead") {
    throw new InvalidArgumentError("must be pending or dead");
  }
  return value;
}

function manage<T>(flags: CommonOptions, run: Parameters<typeof withBackend<T>>[2]): Promise<T> {
  return withBackend({ config: flags.config, dataDir: flags.dataDir }, "write", run);
}

function selection(flags: ChangeFlags): { name?: string; event_id?: string } {
  const out: { name?: string; event_id?: string } = {};
  if (flags.plugin !== undefined) out.name = flags.plugin;
  if (flags.eventId !== undefined) out.event_id = flags.eventId;
  return out;
}

function printReport(report: QueueReport): void {
  if (report.plugins.length === 0) {
    console.log("no plugins configured");
    return;
  }
  printTable(
    ["PLUGIN", "KIND", "ENABLED", "CURSOR", "LAG", "PENDING", "DEAD"],
    report.plugins.map((p) => [
      p.name,
      p.kind,
      p.enabled ? "yes" : "no",
      p.cursor === null ? "-" : String(p.cursor),
      String(p.lag),
      String(p.pending),
      String(p.dead),
    ]),
  );
  console.log("");
  if (report.entries.length === 0) {
    console.log("the queue is empty");
    return;
  }
  printTable(
    ["STATUS", "PLUGIN", "EVENT ID", "AGGREGATE", "VERSION", "ATTEMPTS", "NEXT ATTEMPT", "ERROR"],
    report.entries.map((e) => [
      e.status,
      e.plugin,
      e.event_id,
      `${e.aggregate_type}/${e.aggregate_id}`,
      String(e.version),
      String(e.attempts),
      e.next_attempt_at ?? "-",
      e.last_error ?? "",
    ]),
  );
  if (report.truncated) console.log("(more entries: use --take, --plugin or --status)");
}

function addSelection(cmd: Command): Command {
  return cmd
    .option("--plugin <name>", "only this plugin's queue")
    .option("--event-id <uuid>", "only this event");
}

/**
 * Register `dbx queue` and its sub-commands.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * const program = new Command("dbx");
 * registerQueue(program);
 * await program.parseAsync(["queue", "--json"], { from: "user" });
 * ```
 */
export function registerQueue(program: Command): void {
  const queue = program
    .command("queue")
    .description("inspect, retry and clear the plugins' delivery queue");

  const list = addSelection(
    queue.command("list", { isDefault: true })
      .description("show each plugin's cursor and lag, and the pending and dead events"),
  )
    .option("--status <status>", "only pending or dead events", parseStatus)
    .option("--take <n>", "events to list (default 100, at most 1000)", parsePositiveInt);
  withJsonOption(list);
  withCommonOptions(list);
  list.action(async (flags: ListFlags) => {
    const input: Record<string, unknown> = { ...selection(flags) };
    if (flags.status !== undefined) input.status = flags.status;
    if (flags.take !== undefined) input.take = flags.take;
    const report = await manage(flags, (db) => db.call("pluginQueue", input));
    if (flags.json) printJson(report);
    else printReport(report);
  });

  const retry = addSelection(
    queue.command("retry").description(
      "try queued events again now with a fresh count of attempts (dead ones too)",
    ),
  );
  withJsonOption(retry);
  withCommonOptions(retry);
  retry.action(async (flags: ChangeFlags) => {
    const r = await manage(flags, (db) => db.call("retryPluginQueue", selection(flags)));
    if (flags.json) printJson(r);
    else console.log(`retrying ${r.retried} event${r.retried === 1 ? "" : "s"}`);
  });

  const clear = addSelection(
    queue.command("clear").description("remove dead events from the queue (asks unless --yes)"),
  ).option("--yes", "do not ask for confirmation");
  withJsonOption(clear);
  withCommonOptions(clear);
  clear.action(async (flags: ChangeFlags) => {
    if (!flags.yes) {
      if (!Deno.stdin.isTerminal()) {
        throw new DbxError(
          "invalid_input",
          "refusing to clear the queue without confirmation: pass --yes",
        );
      }
      const answer = prompt("Remove the dead events from the queue? [y/N]");
      if (answer === null || !/^y(es)?$/i.test(answer.trim())) {
        throw new CliExit(1, "not confirmed; nothing was removed");
      }
    }
    const r = await manage(flags, (db) => db.call("clearPluginQueue", selection(flags)));
    if (flags.json) printJson(r);
    else console.log(`removed ${r.cleared} dead event${r.cleared === 1 ? "" : "s"}`);
  });
}
