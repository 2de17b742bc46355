/**
 * Durability that a crash test cannot see: kill -9 leaves unsynced data in the OS page
 * cache, so a writer that acknowledges before the write-ahead log is synced survives
 * every crash test. Here the real engine runs under `strace -f` (Debian package
 * `strace`, installed when missing) and every acknowledged append, batch and control
 * operation must have been preceded by an fdatasync/fsync of the RocksDB WAL that began
 * after the request and finished before the acknowledgement. A self-check runs the same
 * measurement on the raw storage with `sync: true` and `sync: false`, proving that it
 * tells the two apart.
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { storePath } from "../../src/engine/engine.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { outputWithin } from "../_helpers/deadline.ts";
import { ensureTool } from "../_helpers/system.ts";
import { randomDek, withTempDir } from "./helpers.ts";

const PROBE = fileURLToPath(new URL("./fixtures/sync_probe.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PROBE_DEADLINE_MS = 60_000;

interface Sync {
  pid: string;
  call: string;
  path: string;
  /** Line index where the call was entered and where it returned. */
  start: number;
  end: number;
  ok: boolean;
}

interface Trace {
  syncs: Sync[];
  req: Map<string, number>;
  ack: Map<string, number>;
}

const MARK = /readlink(?:at)?\((?:AT_FDCWD(?:<[^>]*>)?, )?"\/dbx-sync-probe\/(req|ack)\/([^"]+)"/;
const SYNC_DONE = /^(\d+)\s+(fdatasync|fsync)\(\d+<([^>]*)>\)\s+=\s+(-?\d+|\?)/;
const SYNC_ENTER = /^(\d+)\s+(fdatasync|fsync)\(\d+<([^>]*)>\s+<unfinished \.\.\.>/;
const SYNC_RESUMED = /^(\d+)\s+<\.\.\. (fdatasync|fsync) resumed>\)\s+=\s+(-?\d+|\?)/;

/** Parse `strace -f -y` output into syncs (with entry and exit order) and probe marks. */
function parseTrace(text: string): Trace {
  const trace: Trace = { syncs: [], req: new Map(), ack: new Map() };
  const open = new Map<string, Sync>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const mark = MARK.exec(line);
    if (mark) {
      const map = mark[1] === "req" ? trace.req : trace.ack;
      assert(!map.has(mark[2]), `mark ${mark[1]} ${mark[2]} seen twice`);
      map.set(mark[2], i);
      continue;
    }
    let m = SYNC_DONE.exec(line);
    if (m) {
      trace.syncs.push({ pid: m[1], call: m[2], path: m[3], start: i, end: i, ok: m[4] === "0" });
      continue;
    }
    m = SYNC_ENTER.exec(line);
    if (m) {
      open.set(m[1], { pid: m[1], call: m[2], path: m[3], start: i, end: -1, ok: false });
      continue;
    }
    m = SYNC_RESUMED.exec(line);
    if (m) {
      const sync = open.get(m[1]);
      assert(sync && sync.call === m[2], `resumed ${m[2]} without its start: ${line}`);
      open.delete(m[1]);
      sync.end = i;
      sync.ok = m[3] === "0";
      trace.syncs.push(sync);
    }
  }
  return trace;
}

/** What the trace shows about a set of tracked operations. */
interface Coverage {
  /** Labels acknowledged with no WAL sync that began after the request and ended before. */
  unsynced: string[];
  /** Completed WAL syncs between the first request and the last acknowledgement. */
  walSyncs: number;
}

function coverage(trace: Trace, labels: string[], isWal: (path: string) => boolean): Coverage {
  const walSyncs = trace.syncs.filter((s) => s.ok && isWal(s.path));
  const unsynced: string[] = [];
  let first = Infinity;
  let last = -Infinity;
  for (const label of labels) {
    const req = trace.req.get(label);
    const ack = trace.ack.get(label);
    assert(req !== undefined && ack !== undefined, `${label} was not both requested and acked`);
    assert(req < ack, `${label} acknowledged before it was requested`);
    first = Math.min(first, req);
    last = Math.max(last, ack);
    if (!walSyncs.some((s) => s.start > req && s.end < ack)) unsynced.push(label);
  }
  return {
    unsynced,
    walSyncs: walSyncs.filter((s) => s.start > first && s.end < last).length,
  };
}

/** Run the probe in `mode` under strace; returns the parsed trace and a WAL path test. */
async function traceProbe(
  dir: string,
  mode: string,
): Promise<{ trace: Trace; isWal: (path: string) => boolean; raw: string }> {
  await ensureTool("strace", "strace");
  const out = join(dir, "strace.txt");
  const child = new Deno.Command("strace", {
    args: [
      "-f",
      "-qq",
      "-y",
      "-e",
      "trace=fdatasync,fsync,?readlink,readlinkat",
      "-o",
      out,
      Deno.execPath(),
      "run",
      "-A",
      PROBE,
      mode,
      dir,
    ],
    cwd: ROOT,
    env: {
      DBX_PROBE_DEK: Buffer.from(randomDek()).toString("base64"),
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await outputWithin(child, PROBE_DEADLINE_MS, `the probe (${mode}) under strace`);
  const stderr = new TextDecoder().decode(output.stderr);
  if (/PTRACE|Operation not permitted/i.test(stderr) && !output.success) {
    throw new Error(`strace cannot trace here (ptrace refused): ${stderr}`);
  }
  assertEquals(output.code, 0, `probe ${mode} failed: ${stderr}`);
  assertEquals(new TextDecoder().decode(output.stdout).trim(), "done", stderr);
  const raw = await Deno.readTextFile(out);
  const store = await Deno.realPath(storePath(dir));
  const isWal = (path: string) => path.startsWith(`${store}/`) && /\/\d+\.log$/.test(path);
  return { trace: parseTrace(raw), isWal, raw };
}

const labels = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}.${i}`);

Deno.test("every acknowledged append, batch and control operation waited for a synced WAL", async () => {
  await withTempDir(async (dir) => {
    const { trace, isWal, raw } = await traceProbe(dir, "engine");
    const show = (what: string, c: Coverage) =>
      `${what}: acknowledged before a WAL sync: ${c.unsynced.join(", ")}\n` +
      raw.split("\n").filter((l) => l.includes("dbx-sync-probe") || /sync/.test(l)).slice(0, 400)
        .join("\n");

    // Sequential appends: each one has a sync of its own, between its request and its ack.
    const seq = coverage(trace, labels("seq", 6), isWal);
    assertEquals(seq.unsynced, [], show("sequential appends", seq));
    assert(seq.walSyncs >= 6, `6 sequential appends, ${seq.walSyncs} WAL syncs`);

    // Concurrent appends: every ack covered, and group-committed (far fewer syncs than acks).
    const con = coverage(trace, labels("con", 64), isWal);
    assertEquals(con.unsynced, [], show("concurrent appends", con));
    assert(
      con.walSyncs >= 1 && con.walSyncs <= 16,
      `64 concurrent appends took ${con.walSyncs} WAL syncs (group commit: 1..16)`,
    );

    // Atomic batches, sequential and concurrent.
    const bat = coverage(trace, labels("bat", 4), isWal);
    assertEquals(bat.unsynced, [], show("sequential batches", bat));
    assert(bat.walSyncs >= 4, `4 sequential batches, ${bat.walSyncs} WAL syncs`);
    const cbat = coverage(trace, labels("cbat", 8), isWal);
    assertEquals(cbat.unsynced, [], show("concurrent batches", cbat));
    assert(cbat.walSyncs >= 1, "concurrent batches were synced");

    const big = coverage(trace, ["big.0"], isWal);
    assertEquals(big.unsynced, [], show("a batch over 4 MiB", big));

    // Snapshot, archive and restore are written by the same writer.
    const ctl = coverage(trace, ["ctl.snapshot", "ctl.archive", "ctl.restore"], isWal);
    assertEquals(ctl.unsynced, [], show("control operations", ctl));
  });
});

Deno.test("self-check: the trace tells a synced write from an unsynced one", async () => {
  // The same raw writes, with sync true: the measurement sees a WAL sync before each ack.
  await withTempDir(async (dir) => {
    const { trace, isWal } = await traceProbe(dir, "raw-sync");
    const c = coverage(trace, labels("raw", 6), isWal);
    assertEquals(c.unsynced, [], "sync: true writes are seen as synced");
    assert(c.walSyncs >= 6, `6 synced writes, ${c.walSyncs} WAL syncs`);
  });
  // With sync false (the fault a writer could have): no WAL sync at all, every ack unsynced.
  await withTempDir(async (dir) => {
    const { trace, isWal } = await traceProbe(dir, "raw-nosync");
    const c = coverage(trace, labels("raw", 6), isWal);
    assertEquals(c.walSyncs, 0, "sync: false writes show no WAL sync");
    assertEquals(c.unsynced, labels("raw", 6), "every sync: false write is reported unsynced");
  });
});
