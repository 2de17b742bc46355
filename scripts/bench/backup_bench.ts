/**
 * Backup and restore benchmarks (targets 12a and 12b), on one store of 1,000,000 events over
 * 10,000 aggregates (100 events each, the engine suites' PAYLOAD), built once per run:
 *
 * 12a `backup` — `dbx backup` of the store reaches ≥ 50% of the rate of `tar czf` of the same
 *   data directory (the server stopped; the same bytes of store to read and compress). Both
 *   are whole CLI processes, run alternately (tar, backup, tar, backup, …, after one warm-up
 *   of each so both see the same warm OS cache); ratio = summed tar time / summed backup
 *   time (the rate ratio on the same data).
 * 12b `restore` — `dbx restore` of that archive into a new directory, which includes checking
 *   every member's SHA-256 and verifying every aggregate's Merkle root and the global
 *   position index, takes ≤ 2× a whole-store `dbx verify` of the source directory. Runs
 *   verify, restore, verify; the ratio uses the mean of the two verifies.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { Engine } from "../../src/engine/engine.ts";
import { appendMany, inputs } from "./engine_bench.ts";
import {
  type BenchContext,
  DENO_CONFIG,
  fmtBytes,
  fmtMs,
  progress,
  type Suite,
  sum,
} from "./harness.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

function sizes(quick: boolean) {
  return quick
    ? { events: 50_000, aggregates: 500, rounds: 2 }
    : { events: 1_000_000, aggregates: 10_000, rounds: 3 };
}

interface Store {
  dir: string;
  events: number;
  bytes: number;
}

async function run(cmd: string, args: string[], label: string): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    env: { DBX_NO_UPGRADE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - start;
  if (!out.success) {
    throw new Error(`${label} failed (exit ${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

const dbx = (args: string[], label: string) =>
  run(Deno.execPath(), ["run", "-A", "--config", DENO_CONFIG, MAIN, ...args], label);

async function duBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) total += await duBytes(path);
    else if (e.isFile) total += (await Deno.stat(path)).size;
  }
  return total;
}

/** The store: built with the engine after `dbx config` wrote its config.toml. */
function buildStore(ctx: BenchContext): Promise<Store> {
  return ctx.fixture("backup-store", async () => {
    const { events, aggregates } = sizes(ctx.quick);
    const dir = join(await ctx.tempDir("backup-store"), "data");
    await dbx([
      "config",
      "--dek",
      btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))),
      "--data-dir",
      dir,
    ], "config");
    const { config } = await loadConfig({ dataDir: dir }, { create: false });
    const engine = await Engine.open({ dataDir: dir, dek: dekBytes(config) });
    const report = progress((m) => ctx.log(m), "building the store", events);
    try {
      await appendMany(
        engine,
        events,
        1000,
        (start, count) => inputs("customer", (i) => `c-${(start + i) % aggregates}`, count),
        report,
      );
    } finally {
      await engine.close();
    }
    await new Promise((r) => setTimeout(r, 3000)); // let compaction settle
    const bytes = await duBytes(dir);
    ctx.log(`store: ${events} events over ${aggregates} aggregates, ${fmtBytes(bytes)} on disk`);
    return { dir, events, bytes };
  });
}

async function runBackup(ctx: BenchContext): Promise<void> {
  const store = await buildStore(ctx);
  const out = await ctx.tempDir("backup-out");
  const tarOut = join(out, "dir.tar.gz");
  const archive = join(out, "backup.tar.gz");
  const tar = () => run("tar", ["czf", tarOut, "-C", store.dir, "."], "tar czf");
  const backup = () =>
    dbx(["backup", "--output", archive, "--force", "--data-dir", store.dir], "dbx backup");
  await tar();
  await backup(); // warm-up of each
  const tarMs: number[] = [];
  const backupMs: number[] = [];
  for (let r = 0; r < sizes(ctx.quick).rounds; r++) {
    tarMs.push(await tar());
    backupMs.push(await backup());
    ctx.log(`round ${r + 1}: tar czf ${fmtMs(tarMs[r])}, dbx backup ${fmtMs(backupMs[r])}`);
  }
  const tarSize = (await Deno.stat(tarOut)).size;
  const archiveSize = (await Deno.stat(archive)).size;
  const mbps = (ms: number[]) => (store.bytes / (1 << 20)) / (sum(ms) / ms.length / 1000);
  ctx.record({
    id: "12a",
    title: "backup of a 1M-event store vs tar czf of its data directory",
    measured: `${mbps(backupMs).toFixed(1)} MiB/s (${fmtMs(sum(backupMs) / backupMs.length)})`,
    baseline: `${mbps(tarMs).toFixed(1)} MiB/s (${fmtMs(sum(tarMs) / tarMs.length)})`,
    ratio: sum(tarMs) / sum(backupMs),
    comparison: ">=",
    threshold: 0.5,
    details: {
      events: store.events,
      data_dir_bytes: store.bytes,
      backup_ms: backupMs,
      tar_ms: tarMs,
      archive_bytes: archiveSize,
      tar_bytes: tarSize,
    },
  });
}

async function runRestore(ctx: BenchContext): Promise<void> {
  const store = await buildStore(ctx);
  const out = await ctx.tempDir("restore-out");
  const archive = join(out, "backup.tar.gz");
  await dbx(["backup", "--output", archive, "--data-dir", store.dir], "dbx backup");
  const verify = () => dbx(["verify", "--data-dir", store.dir], "dbx verify");
  let n = 0;
  const restore = () =>
    dbx(["restore", "--input", archive, "--data-dir", join(out, `restored-${++n}`)], "restore");
  const v1 = await verify();
  const restoreMs = await restore();
  const v2 = await verify();
  const verifyMs = (v1 + v2) / 2;
  ctx.log(`dbx verify ${fmtMs(v1)}, dbx restore ${fmtMs(restoreMs)}, dbx verify ${fmtMs(v2)}`);
  ctx.record({
    id: "12b",
    title: "restore (with verification) vs a whole-store dbx verify",
    measured: fmtMs(restoreMs),
    baseline: fmtMs(verifyMs),
    ratio: restoreMs / verifyMs,
    comparison: "<=",
    threshold: 2,
    details: { events: store.events, restore_ms: restoreMs, verify_ms: [v1, v2] },
  });
}

export const backupSuites: Suite[] = [
  {
    name: "backup",
    description: "12a: dbx backup of a 1M-event store vs tar czf of the same data directory",
    run: runBackup,
  },
  {
    name: "restore",
    description: "12b: dbx restore (verified) of that backup vs a whole-store dbx verify",
    run: runRestore,
  },
];
