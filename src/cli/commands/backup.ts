/**
 * `dbx backup --output <path> [--force]`: one tar.gz of the data directory (store,
 * configuration, schemas, tokens, node key, staged events), consistent while a server runs.
 * The work is done by src/maintenance/backup.ts; this is the command-line adapter.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { resolveLocation } from "../../config/mod.ts";
import { backupDataDir } from "../../maintenance/backup.ts";
import { type CommonOptions, printJson, withCommonOptions, withJsonOption } from "../common.ts";
import { VERSION } from "../run.ts";
import { formatBytes, ProgressLine } from "../progress.ts";

interface BackupCliOptions extends CommonOptions {
  output: string;
  force?: boolean;
  json?: boolean;
}

const count = (n: number) => n.toLocaleString("en-US");

async function backup(o: BackupCliOptions): Promise<void> {
  const { dataDir, configPath } = resolveLocation({ configPath: o.config, dataDir: o.dataDir });
  const progress = new ProgressLine();
  let summary;
  try {
    summary = await backupDataDir({
      dataDir,
      configPath,
      output: resolve(o.output),
      force: o.force,
      programVersion: VERSION,
      onProgress: (p) =>
        progress.update(
          `backing up: ${count(p.records)} records, ${formatBytes(p.bytes)} read, ` +
            `${formatBytes(p.written)} written`,
        ),
    });
  } finally {
    progress.clear();
  }
  if (o.json) {
    printJson(summary);
    return;
  }
  console.log(
    `backup written to ${summary.path} (${formatBytes(summary.bytes)}, mode 0600)\n` +
      `  global position ${count(summary.global_position)}: ${count(summary.aggregates)} ` +
      `aggregates, ${count(summary.events)} events, ${count(summary.records)} records\n` +
      `  files: config.toml${summary.files.map((f) => `, ${f}`).join("")}\n` +
      `  sha256 ${summary.sha256}\n` +
      `  it holds the configuration with the data encryption key: keep it private`,
  );
}

/** Register `dbx backup`. */
export function registerBackup(program: Command): void {
  withJsonOption(
    withCommonOptions(
      program.command("backup").description(
        "write one tar.gz of the store, configuration, schemas and tokens (consistent while " +
          "a server runs)",
      ),
    ),
  )
    .requiredOption("--output <path>", "archive to write (e.g. dbx-backup.tar.gz)")
    .option("--force", "replace an existing file at --output")
    .action(backup);
}
