/**
 * `dbx restore --input <path> [--data-dir <path>] [--force]`: a backup back into a data
 * directory, verified (every member's SHA-256, every aggregate's Merkle root, the global
 * position index) before it replaces anything. The work is done by
 * src/maintenance/restore.ts; this is the command-line adapter.
 */
import type { Command } from "commander";
import { resolveLocation } from "../../config/mod.ts";
import { DbxError } from "../../errors.ts";
import { restoreArchive } from "../../maintenance/restore.ts";
import { inspectPidFile } from "../../server/pid_file.ts";
import { type CommonOptions, printJson, withCommonOptions, withJsonOption } from "../common.ts";
import { formatBytes, ProgressLine } from "../progress.ts";

interface RestoreCliOptions extends CommonOptions {
  input: string;
  force?: boolean;
  json?: boolean;
}

const count = (n: number) => n.toLocaleString("en-US");

async function restore(o: RestoreCliOptions): Promise<void> {
  const { dataDir } = resolveLocation({ configPath: o.config, dataDir: o.dataDir });
  const pid = await inspectPidFile(dataDir);
  if (pid.state === "running") {
    throw new DbxError(
      "unavailable",
      `refusing to restore: a server (pid ${pid.info.pid}) is running on ${dataDir}; ` +
        "stop it first (dbx stop)",
    );
  }
  const progress = new ProgressLine();
  let summary;
  try {
    summary = await restoreArchive({
      input: o.input,
      target: dataDir,
      force: o.force,
      onProgress: (p) => {
        if (p.phase === "extract") {
          const pct = p.total ? Math.floor((p.read / p.total) * 100) : 100;
          progress.update(
            `restoring: ${pct}% of ${formatBytes(p.total)}, ${count(p.records)} records`,
          );
        } else if (p.phase === "verify") {
          progress.update(
            `verifying: ${count(p.aggregates)} of ${count(p.total)} aggregates ` +
              `(${count(p.events)} events)`,
          );
        } else {
          progress.update(
            `checking the global position index: ${count(p.positions)} of ${count(p.total)}`,
          );
        }
      },
    });
  } finally {
    progress.clear();
  }
  if (o.json) {
    printJson(summary);
    return;
  }
  console.log(
    `restored ${summary.target} from the backup of ${summary.created_at} ` +
      `(dbx ${summary.program_version})\n` +
      `  verified: ${count(summary.aggregates)} aggregates, ${count(summary.events)} events, ` +
      `global position ${count(summary.global_position)}\n` +
      `  files: config.toml${summary.files.map((f) => `, ${f}`).join("")}` +
      (summary.replaced ? "\n  the previous contents of the directory were replaced" : ""),
  );
}

/** Register `dbx restore`. */
export function registerRestore(program: Command): void {
  withJsonOption(
    withCommonOptions(
      program.command("restore").description(
        "restore a backup archive into the data directory (verified before it replaces " +
          "anything; the server must be stopped)",
      ),
    ),
  )
    .requiredOption("--input <path>", "backup archive written by dbx backup")
    .option("--force", "replace a data directory that is not empty")
    .action(restore);
}
