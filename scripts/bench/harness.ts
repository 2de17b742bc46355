/**
 * Benchmark harness: suites, targets, timing helpers, child processes and the report.
 *
 * A suite measures one or more targets. A target always compares a measured figure with a
 * baseline measured side by side in the same run (absolute times on a small shared machine
 * are noisy; ratios of interleaved measurements are not), and states its threshold, so the
 * report can say PASS or FAIL. Benchmarks never run inside the test suite.
 */
import { fileURLToPath } from "node:url";

/** How a ratio is judged against its threshold. */
export type Comparison = "<=" | "<" | ">=";

/** One measured target, as printed in the summary and written to results.json. */
export interface TargetResult {
  /** Short id, e.g. "1" or "1b". */
  id: string;
  /** Suite that measured it. */
  suite: string;
  title: string;
  /** The figure under test, human readable (e.g. "4.2k ev/s"). */
  measured: string;
  /** The side-by-side baseline, human readable. */
  baseline: string;
  /** measured / baseline (the direction is stated by `comparison`). */
  ratio: number;
  threshold: number;
  comparison: Comparison;
  /** null for informational rows (reported, not judged). */
  pass: boolean | null;
  /** Raw numbers, for results.json. */
  details: Record<string, unknown>;
  /** For write-path targets: the measured side's write path (see write_path.ts). */
  write_path?: string;
}

/** A suite whose run failed: its targets are reported as ERROR. */
export interface SuiteError {
  suite: string;
  message: string;
}

/** What a suite gets to work with. */
export interface BenchContext {
  /** Reduced sizes (not the official ones). */
  readonly quick: boolean;
  /** Whether the suite of that name is selected in this run. */
  willRun(suite: string): boolean;
  /** Print one progress/detail line. */
  log(message: string): void;
  /** Record a measured target. */
  record(target: Omit<TargetResult, "suite" | "pass"> & { informational?: boolean }): void;
  /** A fresh temp dir under /tmp, removed at the end of the run. */
  tempDir(label: string): Promise<string>;
  /** A value shared between suites of one run, built on first use. */
  fixture<T>(name: string, build: () => Promise<T>): Promise<T>;
  /** Run on cleanup (close engines, …), newest first. */
  onCleanup(fn: () => Promise<void> | void): void;
}

export interface Suite {
  /** Name used by `--only`. */
  name: string;
  /** Which targets it measures, for `--list`. */
  description: string;
  run(ctx: BenchContext): Promise<void>;
}

/** The absolute path of a file next to this one. */
export function here(file: string): string {
  return fileURLToPath(new URL(file, import.meta.url));
}

/** The project's deno.json (children need it for the npm import map). */
export const DENO_CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

/** Judge `ratio` against `threshold`. */
export function judge(ratio: number, comparison: Comparison, threshold: number): boolean {
  if (!Number.isFinite(ratio)) return false;
  switch (comparison) {
    case "<=":
      return ratio <= threshold;
    case "<":
      return ratio < threshold;
    case ">=":
      return ratio >= threshold;
  }
}

// --- statistics ------------------------------------------------------------

/** Median of a non-empty list. */
export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Percentile (0–100) by linear interpolation between closest ranks. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

/** Geometric mean: the right average for ratios (a 2× and a 0.5× cancel out). */
export function geometricMean(values: number[]): number {
  if (values.length === 0) return NaN;
  return Math.exp(values.reduce((acc, v) => acc + Math.log(v), 0) / values.length);
}

export function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Milliseconds taken by `fn`. */
export async function timeMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

// --- memory ----------------------------------------------------------------

/** Run a full GC when the process was started with `--v8-flags=--expose-gc`. */
export function forceGc(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  gc();
  return true;
}

// --- formatting ------------------------------------------------------------

/** 12345 -> "12.3k". */
export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (Math.abs(n) >= 100) return n.toFixed(0);
  return n.toFixed(1);
}

export function fmtRate(eventsPerSecond: number): string {
  return `${fmtCount(eventsPerSecond)} ev/s`;
}

/** A duration given in milliseconds, in a fitting unit. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  const us = ms * 1000;
  return us >= 10 ? `${us.toFixed(1)} µs` : `${us.toFixed(2)} µs`;
}

export function fmtBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function fmtRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return String(ratio);
  return ratio >= 100 ? ratio.toFixed(0) : ratio >= 0.1 ? ratio.toFixed(2) : ratio.toFixed(4);
}

/** A plain text table with a header rule; columns sized to their content. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join(
    "\n",
  );
}

/** A progress reporter that prints at most every `everyMs` (and always at the end). */
export function progress(
  log: (message: string) => void,
  label: string,
  total: number,
  everyMs = 10_000,
): (done: number) => void {
  const start = performance.now();
  let last = start;
  return (done: number) => {
    const now = performance.now();
    if (done < total && now - last < everyMs) return;
    last = now;
    const rate = done / ((now - start) / 1000);
    log(
      `${label}: ${fmtCount(done)}/${fmtCount(total)} (${Math.floor((done / total) * 100)}%) ${
        fmtRate(rate)
      }, ${fmtMs(now - start)} elapsed`,
    );
  };
}

// --- child processes -------------------------------------------------------

const running = new Set<Deno.ChildProcess>();

/**
 * Run `scripts/bench/child.ts <mode> <args-json>` in a fresh Deno process and return the
 * JSON object it prints as its last stdout line. Its stderr (progress) is passed through.
 */
export async function runChild<T>(
  mode: string,
  args: Record<string, unknown>,
  options: { exposeGc?: boolean } = {},
): Promise<T> {
  const denoArgs = ["run", "-A", "--config", DENO_CONFIG];
  if (options.exposeGc) denoArgs.push("--v8-flags=--expose-gc");
  denoArgs.push(here("./child.ts"), mode, JSON.stringify(args));
  const child = new Deno.Command(Deno.execPath(), {
    args: denoArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  running.add(child);
  try {
    const { code, stdout } = await child.output();
    const text = new TextDecoder().decode(stdout).trim();
    if (code !== 0) throw new Error(`child "${mode}" exited with code ${code}: ${text}`);
    const last = text.split("\n").pop() ?? "";
    try {
      return JSON.parse(last) as T;
    } catch {
      throw new Error(`child "${mode}" printed no result: ${text.slice(-500)}`);
    }
  } finally {
    running.delete(child);
  }
}

/** Kill the children this process started (on Ctrl-C). */
export function killChildren(): void {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/**
 * CPU time (ms) this process's threads have used so far, split into the JS thread
 * (the main thread, whose task id is the process id) and every other thread
 * (RocksDB, the runtime's pool, V8's GC helpers). Linux only: undefined elsewhere.
 * CPU time says where a throughput limit lies better than wall time on a noisy machine.
 */
export function threadCpuMs(): { js: number; other: number } | undefined {
  try {
    const ticksToMs = 10; // USER_HZ is 100 on Linux
    let js = 0;
    let other = 0;
    for (const entry of Deno.readDirSync("/proc/self/task")) {
      const stat = Deno.readTextFileSync(`/proc/self/task/${entry.name}/stat`);
      // Fields after the parenthesised name: utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ms = (Number(fields[11]) + Number(fields[12])) * ticksToMs;
      if (Number(entry.name) === Deno.pid) js += ms;
      else other += ms;
    }
    return { js, other };
  } catch {
    return undefined;
  }
}

/** Run a suite's cleanups, last first; a failing one is logged and the others still run. */
export async function runCleanups(
  ctx: BenchContext,
  cleanups: (() => Promise<void> | void)[],
): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      ctx.log(`warning: cleanup failed: ${(err as Error).message}`);
    }
  }
}
