/**
 * `dbx verify`: the whole store, for an auditor. Every aggregate is verified
 * (`verifyAggregate`: events, Merkle roots, head, state, snapshots, its entries in the global
 * position index), listed page by page (`listAggregates`), then the global position index
 * itself (`verifyPositions`, page by page). Built from API operations only, so it runs the
 * same offline and while a server holds the store (then through its REST API), with
 * progress on stderr when that is a terminal, and a summary to file (`--json`). Exit 1 when
 * anything is wrong.
 */
import { ProgressLine } from "../progress.ts";
import type { Command } from "commander";
import type { ListedAggregate, PositionCheck, VerifyResult } from "../../api/operations.ts";
import { isDbxError } from "../../errors.ts";
import { type Backend, withBackend } from "../backend.ts";
import {
  type CommonOptions,
  parsePositiveInt,
  printJson,
  printTable,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";
import { CliExit } from "../exit.ts";

interface VerifyOptions extends CommonOptions {
  json?: boolean;
  token?: string;
  type?: string;
  indexPage?: number;
}

/** One problem found, as the summary lists it. */
export interface StoreProblem {
  /** What found it: an aggregate's verify, the aggregate listing, or the index check. */
  check: "aggregate" | "listing" | "index";
  aggregate_type?: string;
  aggregate_id?: string;
  version?: number;
  position?: number;
  reason: string;
}

/** What `dbx verify --json` prints. */
export interface StoreVerifyReport {
  verified: boolean;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  data_dir: string;
  /** True when the checks ran through the running server's API. */
  through_server: boolean;
  /** Aggregates verified, and the events of those aggregates. */
  aggregates: number;
  events: number;
  /** Snapshots stored (each is checked by its aggregate's verify). */
  snapshots: number;
  index: {
    /** Index entries (positions) and records checked. */
    entries: number;
    runs: number;
    /** Events and aggregate heads stored in the whole store, as the index check counted them. */
    events_stored: number;
    aggregates_stored: number;
  };
  /** The store's last position when the index check ended. */
  last_position: number;
  problem_count: number;
  problems: StoreProblem[];
}

/** Aggregates verified at once by `dbx verify` (their store reads overlap). */
const IN_FLIGHT = 4;

/** Errors that end the whole run: nothing more can be checked. */
const FATAL = new Set(["unauthorized", "forbidden", "unavailable", "wrong_key"]);

const count = (n: number) => n.toLocaleString("en-US");

async function verifyStore(o: VerifyOptions): Promise<void> {
  const started = new Date();
  const progress = new ProgressLine();
  const problems: StoreProblem[] = [];
  let aggregates = 0;
  let events = 0;
  let index: PositionCheck[] = [];
  let report: StoreVerifyReport;
  try {
    report = await withBackend(o, "read", async (db) => {
      const onAggregate = (result: VerifyResult) => {
        aggregates++;
        events += result.version;
        if (!result.verified) {
          problems.push({
            check: "aggregate",
            aggregate_type: result.aggregate_type,
            aggregate_id: result.aggregate_id,
            version: result.first_bad_version,
            reason: result.reason ?? "verification failed",
          });
        }
        progress.update(
          `verifying aggregates: ${count(aggregates)} (${count(events)} events), ` +
            `${problems.length} problem${problems.length === 1 ? "" : "s"} — ` +
            `${result.aggregate_type}/${result.aggregate_id}`,
        );
      };
      await verifyAggregates(db, o.type, onAggregate, problems);
      progress.update(`checking the global position index…`, true);
      index = await verifyIndex(db, o.indexPage, (page) => {
        progress.update(
          `checking the global position index: ${count(page.to)} of ${
            count(page.last_position)
          } positions`,
        );
      });
      for (const page of index) {
        for (const p of page.problems) {
          problems.push({
            check: "index",
            ...(p.aggregate_type === undefined ? {} : { aggregate_type: p.aggregate_type }),
            ...(p.aggregate_id === undefined ? {} : { aggregate_id: p.aggregate_id }),
            ...(p.version === undefined ? {} : { version: p.version }),
            position: p.position,
            reason: p.reason,
          });
        }
        if (page.more_problems) {
          problems.push({
            check: "index",
            position: page.to,
            reason: `${page.more_problems} more problems in positions ${page.from} to ${page.to}`,
          });
        }
      }
      const last = index[index.length - 1];
      const finished = new Date();
      return {
        verified: problems.length === 0,
        started_at: started.toISOString(),
        finished_at: finished.toISOString(),
        duration_ms: finished.getTime() - started.getTime(),
        data_dir: db.dataDir,
        through_server: db.remote,
        aggregates,
        events,
        snapshots: last?.snapshots ?? 0,
        index: {
          entries: index.reduce((n, page) => n + page.entries, 0),
          runs: index.reduce((n, page) => n + page.runs, 0),
          events_stored: last?.events ?? 0,
          aggregates_stored: last?.aggregates ?? 0,
        },
        last_position: last?.last_position ?? 0,
        problem_count: problems.length,
        problems,
      };
    });
  } finally {
    progress.clear();
  }
  if (o.json) printJson(report);
  else printSummary(report);
  if (!report.verified) {
    throw new CliExit(
      1,
      `verification failed: ${report.problem_count} problem${
        report.problem_count === 1 ? "" : "s"
      } found (${firstProblem(report.problems[0])})`,
    );
  }
}

/**
 * Verify every aggregate, listed page by page. A page that cannot be listed (a head whose
 * summary is unreadable) is narrowed down: the unreadable head is reported and the
 * aggregates around it are still verified.
 */
async function verifyAggregates(
  db: Backend,
  type: string | undefined,
  onResult: (result: VerifyResult) => void,
  problems: StoreProblem[],
): Promise<void> {
  // Each verify resolves to its report, made in the list's order: the summary reads the same
  // whatever finishes first.
  const verifyOne = (a: ListedAggregate): Promise<() => void> =>
    db.call("verifyAggregate", { aggregate_type: a.aggregate_type, aggregate_id: a.aggregate_id })
      .then((result) => () => onResult(result), (err) => () => {
        if (!isDbxError(err) || FATAL.has(err.code)) throw err;
        problems.push({
          check: "aggregate",
          aggregate_type: a.aggregate_type,
          aggregate_id: a.aggregate_id,
          reason: err.message,
        });
      });
  const list = (skip: number, take: number) =>
    db.call("listAggregates", { skip, take, aggregate_type: type });
  // The largest page the node allows (the API caps `take` at its page_limit).
  const PAGE = Number.MAX_SAFE_INTEGER;
  // Aggregates created meanwhile shift later ones to the next page: none is missed, and
  // one seen on the page before is not verified twice.
  let seen = new Set<string>();
  const once = async (items: ListedAggregate[]) => {
    const now = new Set<string>();
    const inFlight: Promise<() => void>[] = [];
    for (const a of items) {
      const name = `${a.aggregate_type}\u0000${a.aggregate_id}`;
      now.add(name);
      if (seen.has(name)) continue;
      // A few at a time: each verify waits on store reads, the next one's can overlap.
      if (inFlight.length >= IN_FLIGHT) (await inFlight.shift()!)();
      inFlight.push(verifyOne(a));
    }
    for (const report of inFlight) (await report)();
    seen = now;
  };
  let skip: number | undefined = 0;
  while (skip !== undefined) {
    let page: { items: ListedAggregate[]; next?: number };
    try {
      page = await list(skip, PAGE);
    } catch (err) {
      if (!isDbxError(err) || FATAL.has(err.code)) throw err;
      skip = await aroundUnlistable(skip, err, list, once, problems);
      continue;
    }
    await once(page.items);
    skip = page.next;
  }
}

/** How far past a failed page's start an unlistable head is looked for. */
const PROBES = 10_000;

/**
 * A page from `skip` could not be listed: find the first head from there that cannot be
 * read (a listing of `take: 0` reads exactly one), report it, verify the aggregates before
 * it, and say where to go on (undefined: the listing ends).
 */
async function aroundUnlistable(
  skip: number,
  failure: Error,
  list: (skip: number, take: number) => Promise<{ items: ListedAggregate[]; next?: number }>,
  verifyAll: (items: ListedAggregate[]) => Promise<void>,
  problems: StoreProblem[],
): Promise<number | undefined> {
  for (let bad = skip; bad < skip + PROBES; bad++) {
    let probe: { items: ListedAggregate[]; next?: number };
    try {
      probe = await list(bad, 0);
    } catch (err) {
      if (!isDbxError(err) || FATAL.has(err.code)) throw err;
      problems.push({ check: "listing", reason: err.message });
      // Listing an aggregate also reads the head after it: the one just before `bad` cannot
      // be listed (and so verified) on its own.
      if (bad - 1 > skip) await verifyAll((await list(skip, bad - 1 - skip)).items);
      if (bad > skip) {
        problems.push({
          check: "listing",
          reason: `the aggregate listed just before that head (number ${bad}) cannot be ` +
            "listed, so it was not verified",
        });
      }
      return bad + 1;
    }
    if (probe.next === undefined) break; // the listing ends before any unreadable head
  }
  throw failure;
}

/** Check the global position index, page by page. */
async function verifyIndex(
  db: Backend,
  take: number | undefined,
  onPage: (page: PositionCheck) => void,
): Promise<PositionCheck[]> {
  const pages: PositionCheck[] = [];
  let from: number | undefined = 1;
  while (from !== undefined) {
    const page: PositionCheck = await db.call(
      "verifyPositions",
      take === undefined ? { from } : { from, take },
    );
    pages.push(page);
    onPage(page);
    from = page.next;
  }
  return pages;
}

function where(p: StoreProblem): string {
  if (p.aggregate_type === undefined) {
    return p.check === "index" ? "global position index" : "aggregate listing";
  }
  return `${p.aggregate_type}/${p.aggregate_id}`;
}

function firstProblem(p: StoreProblem | undefined): string {
  if (!p) return "";
  const at = p.version === undefined ? "" : ` at version ${p.version}`;
  return `first: ${where(p)}${at}: ${p.reason}`;
}

function printSummary(r: StoreVerifyReport): void {
  console.log(`store verification: ${r.verified ? "VERIFIED" : "FAILED"}`);
  console.log(
    `data directory:     ${r.data_dir}${r.through_server ? " (through the server)" : ""}`,
  );
  console.log(`started:            ${r.started_at}`);
  console.log(`finished:           ${r.finished_at} (${(r.duration_ms / 1000).toFixed(1)} s)`);
  console.log(
    `aggregates:         ${count(r.aggregates)} (${count(r.index.aggregates_stored)} stored)`,
  );
  console.log(`events:             ${count(r.events)} (${count(r.index.events_stored)} stored)`);
  console.log(`snapshots:          ${count(r.snapshots)}`);
  console.log(
    `index entries:      ${count(r.index.entries)} in ${count(r.index.runs)} records, ` +
      `last position ${count(r.last_position)}`,
  );
  console.log(`problems:           ${count(r.problem_count)}`);
  if (r.problems.length === 0) return;
  printTable(
    ["AGGREGATE", "VERSION", "POSITION", "REASON"],
    r.problems.map((p) => [
      where(p),
      p.version === undefined ? "-" : String(p.version),
      p.position === undefined ? "-" : String(p.position),
      p.reason,
    ]),
  );
}

/** Register `dbx verify`. */
export function registerVerify(program: Command): void {
  withJsonOption(
    withCommonOptions(
      program.command("verify").description(
        "verify the whole store: every aggregate, head, snapshot and the global position " +
          "index (exit 1 when anything is wrong)",
      ),
    ),
  )
    .option("--type <type>", "verify only the aggregates of this type (the index is checked whole)")
    .option("--index-page <n>", "index entries checked per request", parsePositiveInt)
    .option("--token <value>", "token to use while a server runs (default: EVENTDBX_TOKEN)")
    .action(verifyStore);
}
