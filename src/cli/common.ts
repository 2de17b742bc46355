import { type Command, InvalidArgumentError } from "commander";

/** Options every command accepts. */
export interface CommonOptions {
  config?: string;
  dataDir?: string;
}

/** Adds `--config` and `--data-dir`, which every command accepts. */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option("--config <path>", "configuration file (default: <data-dir>/config.toml)")
    .option("--data-dir <path>", "data directory (default: $HOME/.eventdbx)");
}

/** Adds `--json` for machine-readable output. */
export function withJsonOption(cmd: Command): Command {
  return cmd.option("--json", "print JSON instead of text");
}

/** Commander argument parser for a non-negative integer. */
export function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("must be a non-negative integer");
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("is too large");
  return n;
}

/** Commander argument parser for a positive integer. */
export function parsePositiveInt(value: string): number {
  const n = parseNonNegativeInt(value);
  if (n === 0) throw new InvalidArgumentError("must be at least 1");
  return n;
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Print a value as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Print rows as an aligned text table. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  console.log(line(headers));
  for (const row of rows) console.log(line(row));
}
