/**
 * `dbx schema …`: declare, inspect and change the schemas of aggregate types.
 *
 * Current seed: `create|add|remove|annotate|list`; older seed: `show|alter` and
 * the `--aggregate <name>` spelling; plus `delete`, `load` and `dump` for whole
 * schemas as JSON. Handlers only parse flags, call one SchemaStore method and print.
 */
import { type Command, InvalidArgumentError } from "commander";
import type { AggregateSchema, SchemaAlteration } from "../../api/operations.ts";
import { writeFileAtomic } from "../../config/mod.ts";
import { DbxError } from "../../errors.ts";
import { COLUMN_TYPES_HELP } from "../../schema/definition.ts";
import { schemasText, schemaText } from "../../schema/file_text.ts";
import { type Backend, withBackend } from "../backend.ts";
import {
  type CommonOptions,
  parseNonNegativeInt,
  printJson,
  printTable,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";

interface JsonOptions extends CommonOptions {
  json?: boolean;
  aggregate?: string;
}

interface CreateOptions extends JsonOptions {
  events: string[];
  snapshotThreshold?: number;
}

interface RemoveOptions extends JsonOptions {
  event?: string;
}

interface AnnotateOptions extends JsonOptions {
  note?: string;
  clear?: boolean;
}

interface AlterOptions extends JsonOptions {
  event?: string;
  add?: string[];
  remove?: string[];
  snapshotThreshold?: number;
  clearSnapshotThreshold?: boolean;
  lock?: boolean;
  field?: string;
  type?: string;
  rules?: string;
  clearRules?: boolean;
  clearType?: boolean;
}

interface LoadOptions extends CommonOptions {
  replace?: boolean;
  json?: boolean;
}

interface DumpOptions extends CommonOptions {
  output?: string;
}

/** Commander parser for comma-separated (and repeatable) name lists. */
function parseNameList(value: string, previous: string[] = []): string[] {
  const names = value.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) {
    throw new InvalidArgumentError(`empty name in list ${JSON.stringify(value)}`);
  }
  return [...previous, ...names];
}

function parseBoolean(value: string): boolean {
  const lower = value.trim().toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  throw new InvalidArgumentError("must be true or false");
}

/** A usage error (exit 2), reported the way commander reports its own. */
function usage(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: 2, code: "dbx.usage" });
}

/** The aggregate named positionally or with `--aggregate` (older seed spelling). */
function aggregateName(cmd: Command, positional: string | undefined, flag?: string): string {
  if (positional !== undefined && flag !== undefined && positional !== flag) {
    usage(cmd, `the aggregate is named twice (${positional} and --aggregate ${flag})`);
  }
  const name = positional ?? flag;
  if (name === undefined) usage(cmd, "missing aggregate name (give <name> or --aggregate <name>)");
  return name;
}

/** Run one schema operation, locally or through the running server. */
function change<T>(options: CommonOptions, run: (db: Backend) => Promise<T>): Promise<T> {
  return withBackend(options, "write", run);
}

function read<T>(options: CommonOptions, run: (db: Backend) => Promise<T>): Promise<T> {
  return withBackend(options, "read", run);
}

function orDash(value: unknown): string {
  return value === undefined || value === null || value === "" ? "-" : String(value);
}

function printSchema(schema: AggregateSchema): void {
  printTable(["PROPERTY", "VALUE"], [
    ["aggregate", schema.aggregate],
    ["locked", String(schema.locked)],
    ["snapshot_threshold", orDash(schema.snapshot_threshold)],
    ["field_locks", orDash(schema.field_locks.join(", "))],
    ["created_at", schema.created_at],
    ["updated_at", schema.updated_at],
  ]);
  console.log("");
  printTable(
    ["EVENT", "FIELDS", "NOTES"],
    Object.entries(schema.events).map(([name, def]) => [
      name,
      def.fields.length > 0 ? def.fields.join(", ") : "(any)",
      orDash(def.notes),
    ]),
  );
  const columns = Object.entries(schema.columns);
  if (columns.length === 0) return;
  console.log("");
  printTable(
    ["FIELD", "TYPE", "RULES"],
    columns.map(([field, col]) => [
      field,
      col.type,
      [col.rules ? JSON.stringify(col.rules) : "", col.properties ? "(has properties)" : ""]
        .filter((s) => s !== "").join(" ") || "-",
    ]),
  );
}

/** Print a changed schema: JSON with --json, else one line. */
function report(options: JsonOptions, schema: AggregateSchema, line: string): void {
  if (options.json) printJson(schema);
  else console.log(line);
}

async function create(
  positional: string | undefined,
  options: CreateOptions,
  cmd: Command,
): Promise<void> {
  const name = aggregateName(cmd, positional, options.aggregate);
  const schema = await change(options, (db) =>
    db.call("createSchema", {
      aggregate: name,
      events: options.events,
      snapshot_threshold: options.snapshotThreshold,
    }));
  const threshold = schema.snapshot_threshold === undefined
    ? ""
    : `; snapshot threshold ${schema.snapshot_threshold}`;
  report(
    options,
    schema,
    `created schema ${name} with events ${Object.keys(schema.events).join(", ")}${threshold}`,
  );
}

async function add(
  positional: string | undefined,
  options: CreateOptions,
  cmd: Command,
): Promise<void> {
  const name = aggregateName(cmd, positional, options.aggregate);
  const schema = await change(
    options,
    (db) => db.call("addSchemaEvents", { aggregate: name, events: options.events }),
  );
  const total = Object.keys(schema.events).length;
  report(options, schema, `schema ${name}: added ${options.events.join(", ")} (${total} events)`);
}

async function remove(
  positional: string | undefined,
  eventArg: string | undefined,
  options: RemoveOptions,
  cmd: Command,
): Promise<void> {
  const name = aggregateName(cmd, positional, options.aggregate);
  if (eventArg !== undefined && options.event !== undefined && eventArg !== options.event) {
    usage(cmd, `the event is named twice (${eventArg} and --event ${options.event})`);
  }
  const event = eventArg ?? options.event;
  if (event === undefined) usage(cmd, "missing event name (give <event> or --event <name>)");
  const schema = await change(
    options,
    (db) => db.call("removeSchemaEvent", { aggregate: name, event }),
  );
  const left = Object.keys(schema.events).length;
  report(options, schema, `schema ${name}: removed event ${event} (${left} left)`);
}

async function annotate(
  name: string,
  event: string,
  options: AnnotateOptions,
  cmd: Command,
): Promise<void> {
  if (options.note !== undefined && options.clear) usage(cmd, "give either --note or --clear");
  if (options.note === undefined && !options.clear) usage(cmd, "give --note <text> or --clear");
  const note = options.clear ? null : options.note!;
  const schema = await change(
    options,
    (db) => db.call("annotateSchemaEvent", { aggregate: name, event, note }),
  );
  report(options, schema, `schema ${name}: ${options.clear ? "cleared" : "set"} note of ${event}`);
}

async function list(options: JsonOptions): Promise<void> {
  const schemas = await read(options, (db) => db.call("listSchemas", {}));
  if (options.json) return printJson(schemas);
  if (schemas.length === 0) return console.log("no schemas");
  printTable(
    ["AGGREGATE", "EVENTS", "LOCKED", "SNAPSHOT_THRESHOLD", "COLUMNS", "UPDATED_AT"],
    schemas.map((s) => [
      s.aggregate,
      Object.keys(s.events).join(","),
      String(s.locked),
      orDash(s.snapshot_threshold),
      String(Object.keys(s.columns).length),
      s.updated_at,
    ]),
  );
}

async function show(
  positional: string | undefined,
  options: JsonOptions,
  cmd: Command,
): Promise<void> {
  const name = aggregateName(cmd, positional, options.aggregate);
  const schema = await read(options, (db) => db.call("getSchema", { aggregate: name }));
  if (options.json) printJson(schema);
  else printSchema(schema);
}

/** Turn `schema alter` flags into one alteration, refusing combinations that mean nothing. */
function alteration(options: AlterOptions, cmd: Command): SchemaAlteration {
  const changes: SchemaAlteration = {};
  const fieldsChange = options.add !== undefined || options.remove !== undefined;
  if (fieldsChange && options.event === undefined) {
    usage(cmd, "--add and --remove change an event's fields: give --event <name>");
  }
  if (options.event !== undefined) {
    if (!fieldsChange) usage(cmd, "--event needs --add <fields> and/or --remove <fields>");
    changes.event_fields = { event: options.event, add: options.add, remove: options.remove };
  }
  if (options.snapshotThreshold !== undefined && options.clearSnapshotThreshold) {
    usage(cmd, "give either --snapshot-threshold or --clear-snapshot-threshold");
  }
  if (options.snapshotThreshold !== undefined) {
    changes.snapshot_threshold = options.snapshotThreshold;
  }
  if (options.clearSnapshotThreshold) changes.snapshot_threshold = null;
  const columnChange = options.type !== undefined || options.rules !== undefined ||
    options.clearRules === true || options.clearType === true;
  if (columnChange && options.field === undefined) {
    usage(cmd, "--type, --rules, --clear-rules and --clear-type need --field <name>");
  }
  if (options.field !== undefined) {
    if (!columnChange && options.lock === undefined) {
      usage(cmd, "--field needs --lock, --type, --rules, --clear-rules or --clear-type");
    }
    if (options.lock !== undefined) {
      changes.field_lock = { field: options.field, locked: options.lock };
    }
    if (options.rules !== undefined && options.clearRules) {
      usage(cmd, "give either --rules or --clear-rules");
    }
    if (options.clearType && (options.type !== undefined || options.rules !== undefined)) {
      usage(cmd, "--clear-type cannot be combined with --type or --rules");
    }
    if (options.clearType) {
      changes.column = { field: options.field, remove: true };
    } else if (columnChange) {
      let rules: unknown = undefined;
      if (options.rules !== undefined) {
        try {
          rules = JSON.parse(options.rules);
        } catch (err) {
          throw new DbxError(
            "invalid_input",
            `--rules is not valid JSON: ${(err as Error).message}`,
          );
        }
      }
      if (options.clearRules) rules = null;
      changes.column = { field: options.field, type: options.type, rules };
    }
  } else if (options.lock !== undefined) {
    changes.locked = options.lock;
  }
  if (Object.keys(changes).length === 0) {
    usage(cmd, "nothing to alter; see dbx schema alter --help");
  }
  return changes;
}

async function alter(name: string, options: AlterOptions, cmd: Command): Promise<void> {
  const changes = alteration(options, cmd);
  const schema = await change(
    options,
    (db) => db.call("alterSchema", { aggregate: name, changes }),
  );
  report(options, schema, `altered schema ${name}`);
}

async function deleteSchema(name: string, options: CommonOptions): Promise<void> {
  await change(options, (db) => db.call("deleteSchema", { aggregate: name }));
  console.log(`deleted schema ${name}`);
}

async function readInput(file: string): Promise<string> {
  try {
    if (file === "-") return await new Response(Deno.stdin.readable).text();
    return await Deno.readTextFile(file);
  } catch (err) {
    throw new DbxError("invalid_input", `cannot read ${file}: ${(err as Error).message}`);
  }
}

async function load(file: string, options: LoadOptions): Promise<void> {
  const text = await readInput(file);
  let schemas: unknown;
  try {
    schemas = JSON.parse(text);
  } catch (err) {
    throw new DbxError("invalid_input", `schema JSON is not valid JSON: ${(err as Error).message}`);
  }
  const loaded = await change(
    options,
    (db) => db.call("importSchemas", { schemas, replace: options.replace }),
  );
  if (options.json) return printJson(loaded);
  const names = loaded.map((s) => s.aggregate).join(", ");
  console.log(`loaded ${loaded.length} schema${loaded.length === 1 ? "" : "s"}: ${names || "-"}`);
}

async function dump(name: string | undefined, options: DumpOptions): Promise<void> {
  const schemas = await read(
    options,
    async (db) =>
      name === undefined ? await db.call("listSchemas", {}) : [
        await db.call("getSchema", { aggregate: name }),
      ],
  );
  const text = name === undefined ? schemasText(schemas) : schemaText(schemas[0]);
  if (options.output === undefined) {
    await Deno.stdout.write(new TextEncoder().encode(text));
    return;
  }
  try {
    await writeFileAtomic(options.output, new TextEncoder().encode(text), 0o644);
  } catch (err) {
    throw new DbxError(
      "invalid_input",
      `cannot write ${options.output}: ${(err as Error).message}`,
    );
  }
  const count = schemas.length;
  console.log(`wrote ${count} schema${count === 1 ? "" : "s"} to ${options.output}`);
}

const RULES_HELP = `
Rules (JSON object for --rules):
  required: true             the field must be present in events that list it
  length: {min, max}         characters (text) or decoded bytes (binary)
  range: {min, max}          inclusive; integer, float, decimal, timestamp, date
  regex: "re" | ["re", ...]  JavaScript syntax, all must match (text)
  contains / does_not_contain: "s" | ["s", ...]   (text)
  format: email | url | credit_card | iso8601 | country_code   (text)

Examples:
  dbx schema alter invoice --event invoice-paid --add amount,paid_at
  dbx schema alter invoice --field amount --type "decimal(10,2)" --rules '{"range":{"min":"0"}}'
  dbx schema alter invoice --field customer_id --lock true
  dbx schema alter invoice --lock true`;

/** Register `dbx schema` and its sub-commands. */
export function registerSchema(program: Command): void {
  const schema = program.command("schema").description(
    "declare event types, fields, column types and rules per aggregate type",
  );

  withJsonOption(withCommonOptions(schema.command("create")))
    .description("create the schema of an aggregate type")
    .argument("[name]", "aggregate type")
    .option("--aggregate <name>", "aggregate type (older spelling of <name>)")
    .requiredOption("--events <list>", "event types, comma-separated (repeatable)", parseNameList)
    .option(
      "--snapshot-threshold <n>",
      "snapshot every n versions (0 = none; omitted = config default)",
      parseNonNegativeInt,
    )
    .action(create);

  withJsonOption(withCommonOptions(schema.command("add")))
    .description("declare more event types")
    .argument("[name]", "aggregate type")
    .option("--aggregate <name>", "aggregate type (older spelling of <name>)")
    .requiredOption("--events <list>", "event types, comma-separated (repeatable)", parseNameList)
    .action(add);

  withJsonOption(withCommonOptions(schema.command("remove")))
    .description("remove a declared event type")
    .argument("[name]", "aggregate type")
    .argument("[event]", "event type")
    .option("--aggregate <name>", "aggregate type (older spelling of <name>)")
    .option("--event <name>", "event type (older spelling of <event>)")
    .action(remove);

  withJsonOption(withCommonOptions(schema.command("annotate")))
    .description("set or clear the note of an event type")
    .argument("<name>", "aggregate type")
    .argument("<event>", "event type")
    .option("--note <text>", "note (at most 128 characters)")
    .option("--clear", "remove the note")
    .action(annotate);

  withJsonOption(withCommonOptions(schema.command("list")))
    .description("list schemas")
    .action(list);

  withJsonOption(withCommonOptions(schema.command("show")))
    .description("show one schema")
    .argument("[name]", "aggregate type")
    .option("--aggregate <name>", "aggregate type (older spelling of <name>)")
    .action(show);

  withJsonOption(withCommonOptions(schema.command("alter")))
    .description(
      "change a schema: event fields, snapshot threshold, locks, column types and rules",
    )
    .argument("<name>", "aggregate type")
    .option("--event <name>", "event whose permitted fields --add/--remove change")
    .option("--add <fields>", "fields to permit for --event, comma-separated", parseNameList)
    .option("--remove <fields>", "fields to stop permitting for --event", parseNameList)
    .option("--snapshot-threshold <n>", "snapshot every n versions (0 = none)", parseNonNegativeInt)
    .option("--clear-snapshot-threshold", "remove the snapshot threshold")
    .option("--lock <true|false>", "lock the aggregate type (or --field)", parseBoolean)
    .option("--field <name>", "field to lock (--lock) or to type (--type, --rules)")
    .option("--type <type>", `column type of --field: ${COLUMN_TYPES_HELP}`)
    .option(
      "--rules <json>",
      'column rules of --field as JSON, replacing the old ones, e.g. \'{"range":{"min":"0"}}\'',
    )
    .option("--clear-rules", "remove the rules of --field")
    .option("--clear-type", "remove the column (type and rules) of --field")
    .addHelpText("after", RULES_HELP)
    .action(alter);

  withCommonOptions(schema.command("delete"))
    .description("delete the schema of an aggregate type (its events are kept)")
    .argument("<name>", "aggregate type")
    .action(deleteSchema);

  withJsonOption(withCommonOptions(schema.command("load")))
    .description("create or replace schemas from a JSON file (- for stdin)")
    .argument("<file>", "JSON: one schema, a list, or an object of schemas by aggregate type")
    .option("--replace", "also delete every schema the file does not contain")
    .action(load);

  withCommonOptions(schema.command("dump"))
    .description("print one schema or all schemas as JSON (loadable with schema load)")
    .argument("[name]", "aggregate type (default: all)")
    .option("--output <file>", "write to this file instead of stdout")
    .action(dump);
}
