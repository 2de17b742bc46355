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

interface BackupCliOptions extends CommonOptions {
  output: string;
  force?: boolean;
  json?: boolean;
}

/** One line of progress on stderr, redrawn in place, only when stderr is a terminal. */
export class ProgressLine {
  readonly #on = Deno.stderr.isTerminal();
  readonly #encoder = new TextEncoder();
  #last = 0;
  #shown = false;

  update(text: string, force = false): void {
    if (!this.#on) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    let columns = 80;
    try {
      columns = Deno.consoleSize().columns;
    } catch {
      // not a console
    }
    const line = text.length >= columns ? text.slice(0, columns - 2) + "…" : text;
    Deno.stderr.writeSync(this.#encoder.encode(`\r\x1b[2K${line}`));
    this.#shown = true;
  }

  clear(): void {
    if (this.#on && this.#shown) Deno.stderr.writeSync(this.#encoder.encode("\r\x1b[2K"));
    this.#shown = false;
  }
}

/** 12345678 -> "11.8 MiB". */
export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
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
