/**
 * `dbx verify` (the whole store) and `dbx aggregate verify`, through the real CLI, offline
 * and with a server running, on a store tampered in every way verify must see: a flipped
 * byte in a head's sealed state, a head state re-sealed with an injected field, the last
 * event removed with the head rewound consistently, a snapshot re-sealed with another
 * state, a gap in the global position index and a dangling entry in it. Also REST `.../verify`
 * and `GET /v1/verify/positions`, and reads of a tampered head (REST 500 code integrity,
 * CLI exit 1).
 */
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { Engine, storePath } from "../../src/engine/engine.ts";
import { headKey } from "../../src/engine/keys.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { MAIN, runDbx, runDbxOk } from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { event } from "../engine/helpers.ts";
import {
  addDanglingEntry,
  flipHeadState,
  removeIndexRecordOf,
  resealHeadState,
  resealSnapshot,
  rewindLastEvent,
} from "../engine/_verify_tamper.ts";
import {
  DAEMON_TEST_OPTS,
  dbx as dbxEnv,
  generateToken,
  serverUrlOf,
  startDaemon,
  withDataDir,
} from "../server/lifecycle_helpers.ts";

const T = "patient";
const DEK = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

/** The first bad version each tampered aggregate must be reported with. */
const EXPECTED: Record<string, { version: number; reason: RegExp }> = {
  "p-1": { version: 8, reason: /state stored in its head \(at version 8\) cannot be decrypted/ },
  "p-2": { version: 8, reason: /state stored in its head \(at version 8\) does not match/ },
  "p-3": { version: 10, reason: /global position index names version 10 .*beyond/ },
  "p-4": { version: 5, reason: /snapshot at version 5 does not match/ },
  "p-5": { version: 2, reason: /which the global position index does not hold/ },
  "p-6": { version: 9, reason: /names version 9 at position \d+, beyond the aggregate's head/ },
};

interface Tampered {
  gapAt: number;
  danglingAt: number;
}

/** Configure `dir` and write aggregates p-1 … p-7 of `patient` (each event its own write). */
async function populate(dir: string, counts: Record<string, number>): Promise<void> {
  await runDbxOk(dir, ["config", "--dek", DEK()]);
  const { config } = await loadConfig({ dataDir: dir }, { create: false });
  const engine = await Engine.open({ dataDir: dir, dek: dekBytes(config) });
  try {
    for (const [id, count] of Object.entries(counts)) {
      for (let n = 1; n <= count; n++) {
        await engine.append(event(T, id, { n, [`f${n % 3}`]: `v${n}` }));
        if (id === "p-4" && n === 5) await engine.snapshot(T, id);
      }
    }
  } finally {
    await engine.close();
  }
}

/** A store with one aggregate per kind of tampering (p-1 … p-6) and a clean one (p-7). */
async function tamperedStore(dir: string): Promise<Tampered> {
  await populate(dir, { "p-1": 10, "p-2": 10, "p-3": 10, "p-4": 7, "p-5": 3, "p-6": 2, "p-7": 4 });
  const { config } = await loadConfig({ dataDir: dir }, { create: false });
  const dek = dekBytes(config);
  const storage = await openRocksStorage(storePath(dir));
  try {
    await flipHeadState(storage, T, "p-1");
    await resealHeadState(storage, dek, T, "p-2", { injected: "yes" });
    await rewindLastEvent(storage, dek, T, "p-3");
    await resealSnapshot(storage, dek, T, "p-4", 5, (s) => ({ ...s, n: "55" }));
    const gapAt = await removeIndexRecordOf(storage, T, "p-5", 2);
    const danglingAt = await addDanglingEntry(storage, T, "p-6", 9);
    return { gapAt, danglingAt };
  } finally {
    await storage.close();
  }
}

const aggregateVerify = (id: string, ...more: string[]) => [
  "aggregate",
  "verify",
  "--aggregate",
  T,
  "--aggregate-id",
  id,
  ...more,
];

interface Report {
  verified: boolean;
  through_server: boolean;
  aggregates: number;
  events: number;
  snapshots: number;
  index: { entries: number; runs: number; events_stored: number; aggregates_stored: number };
  last_position: number;
  duration_ms: number;
  started_at: string;
  finished_at: string;
  problem_count: number;
  problems: {
    check: string;
    aggregate_type?: string;
    aggregate_id?: string;
    version?: number;
    position?: number;
    reason: string;
  }[];
}

/** The whole-store report of a tampered store names every case, and nothing about p-7. */
function assertTamperedReport(report: Report, tampered: Tampered, remote: boolean): void {
  assertEquals(report.verified, false);
  assertEquals(report.through_server, remote);
  assertEquals(report.aggregates, 7);
  assertEquals(report.problem_count, report.problems.length);
  for (const [id, want] of Object.entries(EXPECTED)) {
    const found = report.problems.find((p) => p.check === "aggregate" && p.aggregate_id === id);
    assert(found, `${id} is not reported: ${JSON.stringify(report.problems)}`);
    assertEquals(found.aggregate_type, T);
    assertEquals(found.version, want.version, found.reason);
    assert(want.reason.test(found.reason), found.reason);
  }
  assert(!report.problems.some((p) => p.aggregate_id === "p-7"), "the clean aggregate is reported");
  const index = report.problems.filter((p) => p.check === "index");
  const gap = index.find((p) => p.position === tampered.gapAt);
  assert(gap && /a gap/.test(gap.reason), JSON.stringify(index));
  const dangling = index.find((p) => p.aggregate_id === "p-6" && p.version === 9);
  assert(dangling && /dangling/.test(dangling.reason), JSON.stringify(index));
  assertEquals(dangling.position, tampered.danglingAt);
  const removed = index.find((p) => p.aggregate_id === "p-3" && p.version === 10);
  assert(removed && /dangling/.test(removed.reason), JSON.stringify(index));
}

function assertReportShape(report: Report): void {
  for (const field of ["started_at", "finished_at"] as const) {
    assert(!Number.isNaN(Date.parse(report[field])), `${field}: ${report[field]}`);
  }
  assert(Number.isInteger(report.duration_ms) && report.duration_ms >= 0);
  for (const field of ["aggregates", "events", "snapshots", "last_position"] as const) {
    assert(Number.isInteger(report[field]), `${field}: ${report[field]}`);
  }
  assert(Number.isInteger(report.index.entries) && Number.isInteger(report.index.runs));
  assert(Array.isArray(report.problems));
}

Deno.test(
  "dbx verify: a clean store verifies (exit 0), offline and through a server",
  DAEMON_TEST_OPTS,
  async () => {
    await withDataDir(async (dir) => {
      await populate(dir, { "p-1": 9, "p-4": 6, "p-7": 2 });
      const text = await runDbx(dir, ["verify"]);
      assertEquals(text.code, 0, text.stderr);
      assert(text.stdout.includes("VERIFIED"), text.stdout);
      assert(/aggregates:\s+3 \(3 stored\)/.test(text.stdout), text.stdout);
      assert(/events:\s+17\b/.test(text.stdout), text.stdout);
      // Progress is for terminals only: none on a pipe.
      assertEquals(text.stderr, "");

      const offline: Report = JSON.parse(await runDbxOk(dir, ["verify", "--json"]));
      assertReportShape(offline);
      assertEquals(offline.verified, true);
      assertEquals(offline.through_server, false);
      assertEquals(offline.aggregates, 3);
      assertEquals(offline.events, 17);
      assertEquals(offline.snapshots, 1);
      assertEquals(offline.index, {
        entries: 17,
        runs: 17,
        events_stored: 17,
        aggregates_stored: 3,
      });
      assertEquals(offline.last_position, 17);
      assertEquals(offline.problems, []);

      await startDaemon(dir);
      const remote = await dbxEnv(["verify", "--json", "--index-page", "5", "--data-dir", dir]);
      assertEquals(remote.code, 0, remote.stderr);
      const report: Report = JSON.parse(remote.stdout);
      assertReportShape(report);
      assertEquals(report.through_server, true);
      assertEquals(report.verified, true);
      for (const field of ["aggregates", "events", "snapshots", "last_position"] as const) {
        assertEquals(report[field], offline[field], field);
      }
      assertEquals(report.index.entries, 17);
      assertEquals(report.index.events_stored, 17);
      assertEquals(report.problems, []);
    });
  },
);

Deno.test("dbx verify goes on past a head that cannot be read at all", async () => {
  await withTempDir(async (dir) => {
    await populate(dir, { "p-1": 2, "p-2": 2, "p-3": 2, "p-4": 2, "p-5": 2 });
    const storage = await openRocksStorage(storePath(dir));
    try {
      const value = Uint8Array.from((await storage.get(headKey(T, "p-4")))!);
      value[4] = 0x41; // the head's JSON no longer parses
      await storage.write([{ type: "put", key: headKey(T, "p-4"), value }], { sync: true });
    } finally {
      await storage.close();
    }
    const one = await runDbx(dir, aggregateVerify("p-4"));
    assertEquals(one.code, 1, one.stderr);
    assert(/patient\/p-4 at version 2: the aggregate's head cannot be read/.test(one.stderr));

    const r = await runDbx(dir, ["verify", "--json"]);
    assertEquals(r.code, 1, r.stderr);
    const report: Report = JSON.parse(r.stdout);
    const listing = report.problems.filter((p) => p.check === "listing");
    assert(
      listing.some((p) => /integrity error: .*head of patient\/p-4/.test(p.reason)),
      JSON.stringify(report.problems),
    );
    // The aggregates before and after it are still verified (but for the one just before,
    // which cannot be listed without reading p-4's head too, and is reported so).
    assertEquals(report.aggregates, 3);
    assert(listing.some((p) => /was not verified/.test(p.reason)), JSON.stringify(listing));
    assertEquals(report.index.aggregates_stored, 5);
  }, "dbx-verify-store-test-");
});

Deno.test("dbx verify and aggregate verify find every tampering, offline", async () => {
  await withTempDir(async (dir) => {
    const tampered = await tamperedStore(dir);
    for (const [id, want] of Object.entries(EXPECTED)) {
      const r = await runDbx(dir, aggregateVerify(id));
      assertEquals(r.code, 1, `${id}: ${r.stdout} ${r.stderr}`);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert(r.stderr.includes(`patient/${id} at version ${want.version}:`), r.stderr);
      assert(want.reason.test(r.stderr), r.stderr);
    }
    const clean = await runDbx(dir, aggregateVerify("p-7"));
    assertEquals(clean.code, 0, clean.stderr);

    const json = await runDbx(dir, ["verify", "--json"]);
    assertEquals(json.code, 1, json.stderr);
    const report: Report = JSON.parse(json.stdout);
    assertReportShape(report);
    assertTamperedReport(report, tampered, false);
    assert(/^verification failed: \d+ problems found/.test(json.stderr), json.stderr);

    const text = await runDbx(dir, ["verify"]);
    assertEquals(text.code, 1);
    assert(text.stdout.includes("FAILED"), text.stdout);
    for (const [id, want] of Object.entries(EXPECTED)) {
      assert(new RegExp(`patient/${id}\\s+${want.version}\\s`).test(text.stdout), text.stdout);
    }

    // A read of the damaged head: a clear integrity error naming aggregate and version.
    const get = await runDbx(dir, ["aggregate", "get", "--aggregate", T, "--aggregate-id", "p-1"]);
    assertEquals(get.code, 1, get.stdout);
    assert(/^error: integrity error: .*patient\/p-1 version 8/.test(get.stderr), get.stderr);
    assertEquals(get.stdout, "");
  }, "dbx-verify-store-test-");
});

Deno.test(
  "dbx verify, REST verify and reads of a tampered store with a server running",
  DAEMON_TEST_OPTS,
  async () => {
    await withDataDir(async (dir) => {
      const tampered = await tamperedStore(dir);
      await startDaemon(dir);
      const url = await serverUrlOf(dir);
      const token = await generateToken(dir, ["--group", "audit", "--user", "ann"]);
      const get = async (path: string, bearer = token) => {
        const response = await fetch(url + path, {
          headers: { authorization: `Bearer ${bearer}` },
          signal: AbortSignal.timeout(30_000),
        });
        return { status: response.status, body: await response.json() };
      };

      for (const [id, want] of Object.entries(EXPECTED)) {
        const { status, body } = await get(`/v1/aggregates/${T}/${id}/verify`);
        assertEquals(status, 200, JSON.stringify(body));
        assertEquals(body.verified, false, `${id}: ${JSON.stringify(body)}`);
        assertEquals(body.first_bad_version, want.version, body.reason);
        assert(want.reason.test(body.reason), body.reason);
      }
      assertEquals((await get(`/v1/aggregates/${T}/p-7/verify`)).body.verified, true);

      const read = await get(`/v1/aggregates/${T}/p-1`);
      assertEquals(read.status, 500);
      assertEquals(read.body.code, "integrity");
      assert(read.body.message.includes("patient/p-1 version 8"), read.body.message);
      assert(!read.body.message.includes("internal server error"), read.body.message);

      const index = await get("/v1/verify/positions");
      assertEquals(index.status, 200, JSON.stringify(index.body));
      assertEquals(index.body.verified, false);
      assert(
        index.body.problems.some((p: { position: number }) => p.position === tampered.gapAt),
        JSON.stringify(index.body.problems),
      );
      // The index names every aggregate: a reader of some aggregates may not check it.
      const auditor = await generateToken(dir, [
        "--group",
        "audit",
        "--user",
        "bob",
        "--action",
        "aggregate.read",
        "--resource",
        "aggregate:patient:*",
      ]);
      assertEquals((await get("/v1/verify/positions", auditor)).status, 403);
      assertEquals(
        (await get(`/v1/aggregates/${T}/p-3/verify`, auditor)).body.first_bad_version,
        10,
      );

      const remote = await dbxEnv(["verify", "--json", "--data-dir", dir]);
      assertEquals(remote.code, 1, remote.stderr);
      assertTamperedReport(JSON.parse(remote.stdout), tampered, true);

      const one = await dbxEnv([...aggregateVerify("p-3"), "--data-dir", dir]);
      assertEquals(one.code, 1, one.stderr);
      assert(one.stderr.includes("patient/p-3 at version 10:"), one.stderr);

      const cliRead = await dbxEnv([
        "aggregate",
        "get",
        "--aggregate",
        T,
        "--aggregate-id",
        "p-1",
        "--data-dir",
        dir,
      ]);
      assertEquals(cliRead.code, 1, cliRead.stdout);
      assert(
        /error: integrity error: .*patient\/p-1 version 8/.test(cliRead.stderr),
        cliRead.stderr,
      );
    });
  },
);

Deno.test({
  name: "dbx verify shows progress on a terminal (stderr), and only there",
  ignore: !(await hasScript()),
  fn: async () => {
    await withTempDir(async (dir) => {
      await populate(dir, { "p-1": 3, "p-2": 3 });
      const command = [Deno.execPath(), "run", "-A", MAIN, "verify"]
        .concat(["--data-dir", dir]).map((a) => `'${a}'`).join(" ");
      // `script` runs the command on a pseudo-terminal: stdout and stderr both reach it.
      const child = new Deno.Command("script", {
        args: ["-qec", command, "/dev/null"],
        env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const out = await child.output().finally(() => clearTimeout(timer));
      const text = new TextDecoder().decode(out.stdout);
      assertEquals(out.code, 0, text);
      assert(text.includes("\x1b[2K") && /verifying aggregates|position index/.test(text), text);
      assert(text.includes("VERIFIED"), text);
    }, "dbx-verify-tty-test-");
  },
});

async function hasScript(): Promise<boolean> {
  try {
    const r = await new Deno.Command("sh", {
      args: ["-c", "command -v script"],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}
