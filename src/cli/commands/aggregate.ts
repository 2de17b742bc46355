/**
 * `dbx aggregate …`: append, read, verify and maintain aggregates.
 * Handlers parse flags, call one API operation (locally or through the running server,
 * chosen once by `withBackend`) and format; nothing more.
 */
import { join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import type {
  AggregateRecord,
  AppendInput,
  EventRecord,
  ListedAggregate,
  StagedEvent,
} from "../../api/operations.ts";
import { DbxError } from "../../errors.ts";
import { type ExportFormat, renderExport, zipFiles } from "../../export/state_export.ts";
import { type Backend, withBackend } from "../backend.ts";
import {
  type CommonOptions,
  parseNonNegativeInt,
  parsePositiveInt,
  printJson,
  printTable,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";
import { CliExit } from "../exit.ts";

interface TargetOptions extends CommonOptions {
  aggregate: string;
  aggregateId: string;
  json?: boolean;
}

/** Adds the `--aggregate` and `--aggregate-id` pair every per-aggregate command takes. */
function target(cmd: Command): Command {
  return withCommonOptions(
    cmd
      .requiredOption("--aggregate <type>", "aggregate type")
      .requiredOption("--aggregate-id <id>", "aggregate id"),
  );
}

/** Parse `KEY=VALUE` (split at the first `=`). */
export function parseField(value: string, previous: Record<string, string> = {}) {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got ${JSON.stringify(value)}`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

function parseJsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DbxError("invalid_input", `${name} is not valid JSON: ${(err as Error).message}`);
  }
}

interface ApplyOptions extends CommonOptions {
  aggregate: string;
  aggregateId: string;
  event: string;
  field?: Record<string, string>;
  payload?: string;
  patch?: string;
  note?: string;
  stage?: boolean;
  token?: string;
  expectedVersion?: number;
  eventId?: string;
  json?: boolean;
}

/** Largest `--payload`/`--patch` read from a file or stdin (a batch body's limit). */
const MAX_OPTION_BYTES = 8 << 20;

/**
 * The text of a JSON option: `@path` reads a file, `-` reads stdin, anything else is the JSON
 * itself (no JSON text starts with `@`), so a 1 MiB payload need not pass the command line.
 */
async function optionText(name: string, value: string): Promise<string> {
  if (value !== "-" && !value.startsWith("@")) return value;
  const source = value === "-" ? "stdin" : value.slice(1);
  let bytes: Uint8Array;
  try {
    bytes = value === "-"
      ? new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer())
      : await Deno.readFile(source);
  } catch (err) {
    throw new DbxError(
      "invalid_input",
      `${name}: cannot read ${source}: ${(err as Error).message}`,
    );
  }
  if (bytes.length > MAX_OPTION_BYTES) {
    throw new DbxError("too_large", `${name}: ${source} is larger than ${MAX_OPTION_BYTES} bytes`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new DbxError("invalid_input", `${name}: ${source} is not UTF-8 text`);
  }
}

/** Build the append input from the apply flags. */
export async function applyInput(o: ApplyOptions): Promise<AppendInput> {
  if (o.payload !== undefined && o.patch !== undefined) {
    throw new DbxError("invalid_input", "--payload and --patch are mutually exclusive");
  }
  if (o.patch !== undefined && o.field) {
    throw new DbxError("invalid_input", "--field cannot be combined with --patch");
  }
  const input: AppendInput = {
    aggregate_type: o.aggregate,
    aggregate_id: o.aggregateId,
    event_type: o.event,
  };
  if (o.patch !== undefined) {
    input.patch = parseJsonOption("--patch", await optionText("--patch", o.patch)) as AppendInput[
      "patch"
    ];
  } else {
    let payload: Record<string, unknown> = {};
    if (o.payload !== undefined) {
      const parsed = parseJsonOption("--payload", await optionText("--payload", o.payload));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new DbxError("invalid_input", "--payload must be a JSON object");
      }
      payload = parsed as Record<string, unknown>;
    }
    input.payload = { ...payload, ...(o.field ?? {}) };
  }
  if (o.note !== undefined) input.note = o.note;
  if (o.expectedVersion !== undefined) input.expected_version = o.expectedVersion;
  if (o.eventId !== undefined) input.event_id = o.eventId;
  return input;
}

function printEvent(record: EventRecord, json?: boolean): void {
  if (json) return printJson(record);
  console.log(
    `${record.aggregate_type}/${record.aggregate_id} version ${record.version} ` +
      `${record.event_type} (event ${record.metadata.event_id}, position ${record.position})`,
  );
}

function printAggregate(record: AggregateRecord): void {
  console.log(`aggregate:   ${record.aggregate_type}/${record.aggregate_id}`);
  console.log(`version:     ${record.version}`);
  console.log(`merkle_root: ${record.merkle_root}`);
  console.log(`archived:    ${record.archived}`);
  console.log(`created_at:  ${record.created_at}`);
  console.log(`updated_at:  ${record.updated_at}`);
  console.log(
    `state:       ${JSON.stringify(record.state, null, 2).replace(/\n/g, "\n             ")}`,
  );
}

function printEvents(events: EventRecord[]): void {
  printTable(
    ["VERSION", "EVENT", "CREATED_AT", "ISSUED_BY", "PAYLOAD"],
    events.map((e) => [
      String(e.version),
      e.event_type,
      e.metadata.created_at,
      e.metadata.issued_by ? `${e.metadata.issued_by.group}/${e.metadata.issued_by.user}` : "-",
      JSON.stringify(e.payload),
    ]),
  );
}

async function apply(o: ApplyOptions): Promise<void> {
  const input = await applyInput(o);
  await withBackend(o, "write", async (db) => {
    if (o.stage) {
      const { staged, event } = await db.call("stageEvent", input);
      if (o.json) printJson({ staged, event });
      else {
        console.log(
          `staged ${event.aggregate_type}/${event.aggregate_id} ${event.event_type} (${staged} staged)`,
        );
      }
      return;
    }
    printEvent((await db.call("appendEvent", input)).event, o.json);
  });
}

async function commit(o: CommonOptions & { token?: string; json?: boolean }): Promise<void> {
  const { committed, events } = await withBackend(o, "write", (db) => db.call("commitStaged", {}));
  if (o.json) printJson({ committed, events });
  else if (committed === 0) console.log("nothing staged");
  else console.log(`committed ${committed} event${committed === 1 ? "" : "s"}`);
}

/** Every page of a paged operation, from `skip`, until `limit` items (or the end). */
async function allPages<T>(
  fetch: (skip: number) => Promise<{ items: T[]; next?: number }>,
  skip = 0,
  limit = Infinity,
): Promise<{ items: T[]; next?: number }> {
  const items: T[] = [];
  let next: number | undefined = skip;
  while (next !== undefined && items.length < limit) {
    const page: { items: T[]; next?: number } = await fetch(next);
    items.push(...page.items);
    next = page.next;
  }
  return { items: items.slice(0, limit), next };
}

async function list(
  o: CommonOptions & {
    skip?: number;
    take?: number;
    stage?: boolean;
    json?: boolean;
    type?: string;
  },
): Promise<void> {
  if (o.stage) {
    const page = await withBackend(
      o,
      "read",
      (db) => db.call("listStaged", { skip: o.skip, take: o.take }),
    );
    if (o.json) return printJson(page.items);
    if (page.items.length === 0) return console.log("nothing staged");
    printTable(
      ["AGGREGATE", "ID", "EVENT", "STAGED_AT", "PAYLOAD"],
      page.items.map((s: StagedEvent) => [
        s.aggregate_type,
        s.aggregate_id,
        s.event_type,
        s.staged_at,
        JSON.stringify(s.payload ?? { patch: s.patch }),
      ]),
    );
    return;
  }
  const page = await withBackend(
    o,
    "read",
    (db) => db.call("listAggregates", { skip: o.skip, take: o.take, aggregate_type: o.type }),
  );
  const rows = page.items;
  moreHint(page.next, "aggregate list", o);
  if (o.json) return printJson(rows);
  if (rows.length === 0) return console.log("no aggregates");
  printTable(
    ["AGGREGATE", "ID", "VERSION", "MERKLE_ROOT", "ARCHIVED"],
    rows.map((r: ListedAggregate) => [
      r.aggregate_type,
      r.aggregate_id,
      String(r.version),
      r.merkle_root,
      String(r.archived),
    ]),
  );
}

async function get(
  o: TargetOptions & { version?: number; includeEvents?: boolean },
): Promise<void> {
  const target = { aggregate_type: o.aggregate, aggregate_id: o.aggregateId };
  await withBackend(o, "read", async (db) => {
    const record = await db.call("getAggregate", { ...target, version: o.version });
    const events = o.includeEvents
      ? (await allPages(
        (skip) => db.call("listEvents", { ...target, skip }),
        0,
        record.version,
      )).items
      : undefined;
    if (o.json) return printJson(events ? { ...record, events } : record);
    printAggregate(record);
    if (events) {
      console.log("events:");
      printEvents(events);
    }
  });
}

async function replay(o: TargetOptions & { skip?: number; take?: number }): Promise<void> {
  const page = await withBackend(o, "read", (db) =>
    db.call("listEvents", {
      aggregate_type: o.aggregate,
      aggregate_id: o.aggregateId,
      skip: o.skip,
      take: o.take,
    }));
  const events = page.items;
  moreHint(page.next, "aggregate replay", o);
  if (o.json) return printJson(events);
  if (events.length === 0) return console.log("no events in that range");
  printEvents(events);
}

/**
 * Say on stderr that a list was cut at a page and how to see the next one (stdout keeps the
 * listing, or its JSON, unchanged).
 */
function moreHint(
  next: number | undefined,
  command: string,
  o: CommonOptions & { take?: number; type?: string; aggregate?: string; aggregateId?: string },
): void {
  if (next === undefined) return;
  const args = [`--skip ${next}`];
  if (o.take !== undefined) args.push(`--take ${o.take}`);
  if (o.type !== undefined) args.push(`--type ${JSON.stringify(o.type)}`);
  if (o.aggregate !== undefined) {
    args.unshift(
      `--aggregate ${JSON.stringify(o.aggregate)} --aggregate-id ${JSON.stringify(o.aggregateId)}`,
    );
  }
  console.error(`more: dbx ${command} ${args.join(" ")}`);
}

async function verify(o: TargetOptions): Promise<void> {
  const result = await withBackend(o, "read", (db) =>
    db.call("verifyAggregate", {
      aggregate_type: o.aggregate,
      aggregate_id: o.aggregateId,
    }));
  if (o.json) printJson(result);
  else if (result.verified) {
    console.log(
      `verified ${result.aggregate_type}/${result.aggregate_id}: ${result.version} events, merkle_root ${result.merkle_root}`,
    );
  }
  if (!result.verified) {
    throw new CliExit(
      1,
      `verification failed for ${result.aggregate_type}/${result.aggregate_id} at version ${result.first_bad_version}: ${result.reason}`,
    );
  }
}

type ControlName = "snapshot" | "archive" | "restore";

const CONTROL_OPS = {
  snapshot: "snapshotAggregate",
  archive: "archiveAggregate",
  restore: "restoreAggregate",
} as const;

async function control(
  name: ControlName,
  o: TargetOptions & { comment?: string; token?: string },
): Promise<void> {
  const { version } = await withBackend(o, "write", (db: Backend) =>
    db.call(CONTROL_OPS[name], {
      aggregate_type: o.aggregate,
      aggregate_id: o.aggregateId,
      comment: o.comment,
    }));
  const done = { snapshot: "snapshot taken of", archive: "archived", restore: "restored" }[name];
  if (o.json) {
    printJson({ aggregate_type: o.aggregate, aggregate_id: o.aggregateId, version, action: name });
  } else console.log(`${done} ${o.aggregate}/${o.aggregateId} at version ${version}`);
}

async function remove(o: TargetOptions): Promise<void> {
  const { removed_staged } = await withBackend(o, "read", (db) =>
    db.call("removeAggregate", {
      aggregate_type: o.aggregate,
      aggregate_id: o.aggregateId,
    }));
  console.log(`removed ${o.aggregate}/${o.aggregateId} (${removed_staged} staged events dropped)`);
}

async function exportState(
  type: string | undefined,
  o: CommonOptions & {
    all?: boolean;
    output: string;
    format: ExportFormat;
    zip?: boolean;
    pretty?: boolean;
    force?: boolean;
    mode?: number;
  },
): Promise<void> {
  if (!type && !o.all) throw new DbxError("invalid_input", "name an aggregate type or pass --all");
  if (type && o.all) {
    throw new DbxError("invalid_input", "pass either an aggregate type or --all, not both");
  }
  const { items } = await withBackend(o, "read", (db) =>
    allPages((skip) =>
      // The largest page the node allows (the API caps `take` at its page_limit).
      db.call("listAggregates", {
        skip,
        take: Number.MAX_SAFE_INTEGER,
        aggregate_type: type,
        include_state: true,
      })
    ));
  const aggregates = items as AggregateRecord[];
  const files = renderExport(aggregates, o.format, o.pretty ?? false);
  const mode = o.mode ?? 0o600;
  if (o.zip) {
    const path = o.output.endsWith(".zip") ? o.output : join(o.output, "eventdbx-export.zip");
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await writeExportFile(path, zipFiles(files), mode, o.force === true);
    console.log(`exported ${aggregates.length} aggregates in ${files.length} files to ${path}`);
    return;
  }
  await Deno.mkdir(o.output, { recursive: true });
  if (!o.force) {
    // Refuse before writing anything: an export never overwrites half of an older one.
    for (const f of files) {
      if (await exists(join(o.output, f.name))) throw exportExists(join(o.output, f.name));
    }
  }
  for (const f of files) {
    await writeExportFile(join(o.output, f.name), f.data, mode, o.force === true);
  }
  console.log(
    `exported ${aggregates.length} aggregates to ${
      files.map((f) => join(o.output, f.name)).join(", ") || o.output
    }`,
  );
}

function exportExists(path: string): DbxError {
  return new DbxError("conflict", `${path} exists; pass --force to overwrite it`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Write one export file with exactly `mode` (exports hold plaintext state: 0600 unless asked
 * otherwise), never over an existing file unless `force`.
 */
async function writeExportFile(
  path: string,
  data: Uint8Array,
  mode: number,
  force: boolean,
): Promise<void> {
  try {
    await Deno.writeFile(path, data, { mode, createNew: !force });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) throw exportExists(path);
    throw new DbxError("invalid_input", `cannot write ${path}: ${(err as Error).message}`);
  }
  // The umask may have narrowed (or a replaced file kept) another mode.
  if (Deno.build.os !== "windows") await Deno.chmod(path, mode);
}

function parseMode(value: string): number {
  if (!/^0?[0-7]{3}$/.test(value)) {
    throw new InvalidArgumentError("must be an octal file mode such as 600 or 640");
  }
  return parseInt(value, 8);
}

/** Register `dbx aggregate` and its sub-commands. */
export function registerAggregate(program: Command): void {
  const agg = program.command("aggregate").description(
    "append, read, verify and maintain aggregates",
  );

  withJsonOption(
    target(agg.command("apply").description("append an event (or stage it with --stage)")),
  )
    .requiredOption("--event <name>", "event type")
    .option("--field <KEY=VALUE>", "payload field (repeatable); values are strings", parseField)
    .option("--payload <json>", "full payload as a JSON object (@file or - for stdin)")
    .option(
      "--patch <json>",
      "RFC 6902 JSON Patch applied to the current state (@file or - for stdin)",
    )
    .option("--note <text>", "note stored with the event (at most 128 characters)")
    .option("--stage", "queue the event for `aggregate commit` instead of writing it")
    .option("--token <value>", "token whose group and user are recorded as issued_by")
    .option(
      "--expected-version <n>",
      "refuse unless the aggregate is at this version",
      parseNonNegativeInt,
    )
    .option("--event-id <uuid>", "idempotency key: a retry returns the original event")
    .action(apply);

  withJsonOption(
    withCommonOptions(
      agg.command("list").description("list aggregates (or staged events with --stage)"),
    ),
  )
    .option("--skip <n>", "skip this many", parseNonNegativeInt)
    .option("--take <n>", "show at most this many (capped at page_limit)", parsePositiveInt)
    .option("--stage", "list staged events instead")
    .addOption(new Option("--type <type>", "only aggregates of this type"))
    .action(list);

  withJsonOption(target(agg.command("get").description("show an aggregate's state")))
    .option("--version <n>", "state as of this version", parsePositiveInt)
    .option("--include-events", "also list its events")
    .action(get);

  withJsonOption(target(agg.command("replay").description("list an aggregate's events in order")))
    .option("--skip <n>", "skip this many events", parseNonNegativeInt)
    .option("--take <n>", "show at most this many events", parsePositiveInt)
    .action(replay);

  withJsonOption(
    target(
      agg.command("verify").description(
        "recompute every hash and the Merkle root (exit 1 on mismatch)",
      ),
    ),
  )
    .action(verify);

  for (const name of ["snapshot", "archive", "restore"] as const) {
    const what = {
      snapshot: "store a snapshot of the current state",
      archive: "archive an aggregate (it refuses appends until restored)",
      restore: "restore an archived aggregate",
    }[name];
    withJsonOption(target(agg.command(name).description(what)))
      .option("--comment <text>", "comment kept with the change")
      .option("--token <value>", "token to use while a server runs (default: EVENTDBX_TOKEN)")
      .action((o) => control(name, o));
  }

  withJsonOption(
    target(
      agg.command("remove").description(
        "remove an aggregate that has no committed events (drops its staged events)",
      ),
    ),
  )
    .action(remove);

  withJsonOption(
    withCommonOptions(
      agg.command("commit").description("write every staged event in one atomic batch"),
    ),
  )
    .option("--token <value>", "token whose group and user are recorded as issued_by")
    .action(commit);

  withCommonOptions(
    agg.command("export").description(
      "write aggregate state (no metadata) as CSV or JSON, one file per type",
    ),
  )
    .argument("[type]", "aggregate type to export")
    .option("--all", "export every aggregate type")
    .requiredOption("--output <path>", "output directory (or .zip file with --zip)")
    .addOption(
      new Option("--format <format>", "csv or json").choices(["csv", "json"]).default("csv"),
    )
    .option("--zip", "bundle the files into one zip archive")
    .option("--pretty", "indent JSON output")
    .option("--force", "overwrite files that exist")
    .option("--mode <octal>", "file mode of what is written (default 600: owner only)", parseMode)
    .action(exportState);
}
