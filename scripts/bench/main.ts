/**
 * Benchmark runner: `deno task bench [--quick] [--only <suite>[,<suite>…]] [--list]`.
 *
 * Every target is a ratio against a baseline measured side by side in the same run, with
 * its threshold and a PASS/FAIL verdict. The run always exits 0 (it is a report); FAILs are
 * marked loudly in the summary. Results also go to `.bench/results.json`.
 *
 * Suites are registered in SUITES below; a new suite (e.g. the server benchmarks) is one
 * more module exporting `Suite` objects and one more line in that list. Suites that need the
 * same expensive data (the 1M-event aggregate) share it through `ctx.fixture`, so it is
 * built once per run whichever of them are selected.
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { backupSuites } from "./backup_bench.ts";
import { engineSuites } from "./engine_bench.ts";
import { graphqlSuites } from "./graphql_append.ts";
import { grpcSuites } from "./grpc_bench.ts";
import {
  type BenchContext,
  fmtMs,
  fmtRatio,
  judge,
  killChildren,
  type Suite,
  type SuiteError,
  type TargetResult,
  textTable,
} from "./harness.ts";
import { partsSuites } from "./engine_parts.ts";
import { memorySuites } from "./memory_bench.ts";
import { nativeLoadSuites } from "./native_load.ts";
import { pluginSuites } from "./plugins_bench.ts";
import { restSuites } from "./rest_bench.ts";
import { replicationSuites } from "./replication_bench.ts";
import { socketSuites } from "./socket_append.ts";
import { tokenSuites } from "./token_bench.ts";

/** Every suite, in the order they run. */
export const SUITES: Suite[] = [
  ...engineSuites,
  ...partsSuites,
  ...memorySuites,
  ...tokenSuites,
  ...restSuites,
  ...nativeLoadSuites,
  ...graphqlSuites,
  ...grpcSuites,
  ...socketSuites,
  ...backupSuites,
  ...replicationSuites,
  ...pluginSuites,
];

const RESULTS_DIR = fileURLToPath(new URL("../../.bench/", import.meta.url));

interface Options {
  quick: boolean;
  only: string[];
  list: boolean;
}

function usage(): string {
  return [
    "usage: deno task bench [--quick] [--only <suite>[,<suite>...]] [--list]",
    "  --quick   reduced sizes (about a minute); NOT the official target sizes",
    "  --only    run only these suites (repeatable)",
    "  --list    list the suites and exit",
  ].join("\n");
}

function parseArgs(args: string[]): Options {
  const options: Options = { quick: false, only: [], list: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--quick") options.quick = true;
    else if (arg === "--list") options.list = true;
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? args[++i] : arg.slice("--only=".length);
      if (!value) throw new Error("--only needs a suite name");
      options.only.push(...value.split(",").map((s) => s.trim()).filter(Boolean));
    } else if (arg === "--help" || arg === "-h") {
      console.log(usage());
      Deno.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  const known = new Set(SUITES.map((s) => s.name));
  const unknown = options.only.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new Error(`unknown suite ${unknown.join(", ")} (known: ${[...known].join(", ")})`);
  }
  return options;
}

class Run implements BenchContext {
  readonly quick: boolean;
  readonly targets: TargetResult[] = [];
  readonly errors: SuiteError[] = [];
  suite = "";
  #dirs: string[] = [];
  #fixtures = new Map<string, Promise<unknown>>();
  #cleanups: (() => Promise<void> | void)[] = [];

  #selected: Set<string>;

  constructor(quick: boolean, selected: string[]) {
    this.quick = quick;
    this.#selected = new Set(selected);
  }

  willRun(suite: string): boolean {
    return this.#selected.has(suite);
  }

  log(message: string): void {
    console.log(`  [${this.suite}] ${message}`);
  }

  record(target: Omit<TargetResult, "suite" | "pass"> & { informational?: boolean }): void {
    const { informational, ...rest } = target;
    const result: TargetResult = {
      ...rest,
      suite: this.suite,
      pass: informational ? null : judge(target.ratio, target.comparison, target.threshold),
    };
    this.targets.push(result);
    const verdict = result.pass === null ? "info" : result.pass ? "PASS" : "FAIL  <<<<<<<<";
    this.log(
      `target ${result.id}: ${result.measured} vs ${result.baseline} -> ratio ${
        fmtRatio(result.ratio)
      } (need ${result.comparison} ${result.threshold}) ${verdict}`,
    );
    if (result.write_path) this.log(`target ${result.id} write path: ${result.write_path}`);
  }

  async tempDir(label: string): Promise<string> {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: `dbx-bench-${label}-` });
    this.#dirs.push(dir);
    return dir;
  }

  fixture<T>(name: string, build: () => Promise<T>): Promise<T> {
    let value = this.#fixtures.get(name);
    if (!value) {
      value = build();
      this.#fixtures.set(name, value);
    }
    return value as Promise<T>;
  }

  onCleanup(fn: () => Promise<void> | void): void {
    this.#cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.#cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error(`warning: cleanup failed: ${(err as Error).message}`);
      }
    }
    this.removeDirsSync();
  }

  removeDirsSync(): void {
    for (const dir of this.#dirs.splice(0)) {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    }
  }
}

function summary(run: Run, selected: Suite[]): string {
  const rows = run.targets.map((t) => [
    t.id,
    t.title,
    t.measured,
    t.baseline,
    fmtRatio(t.ratio),
    `${t.comparison} ${t.threshold}`,
    t.pass === null ? "info" : t.pass ? "PASS" : "FAIL <<<",
  ]);
  for (const error of run.errors) {
    rows.push(["-", `suite ${error.suite}`, "-", "-", "-", "-", "ERROR <<<"]);
  }
  const failed = run.targets.filter((t) => t.pass === false).length + run.errors.length;
  const passed = run.targets.filter((t) => t.pass === true).length;
  const paths = run.targets.filter((t) => t.write_path !== undefined);
  return [
    textTable(["#", "target", "measured", "baseline", "ratio", "threshold", "result"], rows),
    ...(paths.length === 0 ? [] : [
      "",
      textTable(
        ["#", "write path of the measured side"],
        paths.map((t) => [t.id, t.write_path!]),
      ),
    ]),
    "",
    `${passed} passed, ${failed} failed${
      run.errors.length ? ` (${run.errors.length} suite errors)` : ""
    } — suites: ${selected.map((s) => s.name).join(", ")}`,
  ].join("\n");
}

async function writeResults(data: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}results.json`;
  const temp = `${path}.${Deno.pid}.tmp`;
  await writeFile(temp, JSON.stringify(data, null, 2) + "\n");
  await rename(temp, path);
  return path;
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(Deno.args);
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n${usage()}`);
    Deno.exit(2);
  }
  if (options.list) {
    for (const suite of SUITES) console.log(`${suite.name.padEnd(10)} ${suite.description}`);
    return;
  }
  const selected = options.only.length
    ? SUITES.filter((s) => options.only.includes(s.name))
    : SUITES;
  const run = new Run(options.quick, selected.map((s) => s.name));

  const onSignal = () => {
    killChildren();
    run.removeDirsSync();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const startedAt = new Date();
  const loadBefore = loadavg();
  console.log(
    `EventDBX benchmarks — Deno ${Deno.version.deno}, ${cpus().length} CPUs, load ${
      loadBefore.map((l) => l.toFixed(2)).join(" ")
    }`,
  );
  if (run.quick) {
    console.log("QUICK MODE: reduced sizes — these are NOT the official target sizes.");
  }
  const durations: Record<string, number> = {};
  try {
    for (const suite of selected) {
      run.suite = suite.name;
      console.log(`\n== ${suite.name}: ${suite.description}`);
      const start = performance.now();
      try {
        await suite.run(run);
      } catch (err) {
        const message = (err as Error).stack ?? String(err);
        run.errors.push({ suite: suite.name, message: (err as Error).message ?? String(err) });
        console.error(`  [${suite.name}] ERROR: ${message}`);
      }
      durations[suite.name] = Math.round(performance.now() - start);
      run.log(`suite took ${fmtMs(durations[suite.name])}`);
    }
  } finally {
    await run.cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }

  const totalMs = Date.now() - startedAt.getTime();
  console.log(
    `\n== Summary${run.quick ? " (QUICK MODE — not the official sizes)" : ""}, ${fmtMs(totalMs)}\n`,
  );
  console.log(summary(run, selected));
  const path = await writeResults({
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    quick: run.quick,
    official_sizes: !run.quick,
    suites: selected.map((s) => s.name),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    cpus: cpus().length,
    total_memory_bytes: totalmem(),
    load_average_before: loadBefore,
    load_average_after: loadavg(),
    duration_ms: totalMs,
    suite_duration_ms: durations,
    targets: run.targets,
    errors: run.errors,
  });
  console.log(`\nresults written to ${path}`);
}

if (import.meta.main) {
  await main();
  // A report: exit 0 even when a target fails.
  Deno.exit(0);
}
