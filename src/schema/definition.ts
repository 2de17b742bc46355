/**
 * Reading schema definitions: column type names, rules and whole schemas are
 * checked strictly (unknown keys, wrong types, rules that do not fit the column
 * type, bad regexes, min > max) and brought into the one normalized form that is
 * stored. Everything here throws DbxError("invalid_input") naming what is wrong.
 */
import { DbxError } from "../errors.ts";
import { validateName, validateNote } from "../engine/names.ts";
import { compareDecimal, type Decimal, formatDecimal, parseDecimal } from "./decimal.ts";
import { compareInstant, type Instant, isDate, parseTimestamp } from "./formats.ts";
import type {
  AggregateSchema,
  ColumnDefinition,
  ColumnKind,
  ColumnRules,
  EventDefinition,
  FieldFormat,
} from "./types.ts";

/** A parsed column type. */
export interface ColumnType {
  kind: ColumnKind;
  /** decimal only: total significant digits. */
  precision?: number;
  /** decimal only: digits after the point. */
  scale?: number;
}

const KIND_ALIASES: Record<string, ColumnKind> = {
  integer: "integer",
  int: "integer",
  float: "float",
  double: "float",
  boolean: "boolean",
  bool: "boolean",
  text: "text",
  string: "text",
  timestamp: "timestamp",
  date: "date",
  json: "json",
  binary: "binary",
  bytes: "binary",
  object: "object",
};

/** Every type name `parseColumnType` accepts, for help texts and messages. */
export const COLUMN_TYPES_HELP =
  "integer, float, decimal(p,s), boolean, text, timestamp, date, json, binary, object";

/** Largest decimal precision accepted. */
export const MAX_DECIMAL_PRECISION = 255;

const DECIMAL_TYPE = /^(?:decimal|numeric)\s*\(\s*(\d{1,4})\s*(?:,\s*(\d{1,4})\s*)?\)$/;

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * Parse a column type name (case-insensitive; aliases int, double, bool, string,
 * bytes, numeric(p,s) are accepted).
 *
 * @example
 * ```ts
 * parseColumnType("Decimal(10, 2)"); // { kind: "decimal", precision: 10, scale: 2 }
 * parseColumnType("varchar"); // throws DbxError("invalid_input")
 * ```
 */
export function parseColumnType(text: unknown): ColumnType {
  if (typeof text !== "string") {
    throw invalid(`column type must be a string (${COLUMN_TYPES_HELP})`);
  }
  const lower = text.trim().toLowerCase();
  const kind = Object.hasOwn(KIND_ALIASES, lower) ? KIND_ALIASES[lower] : undefined;
  if (kind) return { kind };
  const m = DECIMAL_TYPE.exec(lower);
  if (m) {
    const precision = Number(m[1]);
    const scale = m[2] === undefined ? 0 : Number(m[2]);
    if (precision < 1 || precision > MAX_DECIMAL_PRECISION) {
      throw invalid(
        `invalid column type "${text}": precision must be 1 to ${MAX_DECIMAL_PRECISION}`,
      );
    }
    if (scale > precision) {
      throw invalid(`invalid column type "${text}": scale must not exceed precision`);
    }
    return { kind: "decimal", precision, scale };
  }
  throw invalid(`unknown column type "${text}" (expected one of ${COLUMN_TYPES_HELP})`);
}

/**
 * The canonical name of a column type.
 *
 * @example
 * ```ts
 * formatColumnType({ kind: "decimal", precision: 10, scale: 2 }); // "decimal(10,2)"
 * ```
 */
export function formatColumnType(type: ColumnType): string {
  return type.kind === "decimal" ? `decimal(${type.precision},${type.scale})` : type.kind;
}

const FORMATS: readonly FieldFormat[] = ["email", "url", "credit_card", "iso8601", "country_code"];
const RANGE_KINDS = new Set<ColumnKind>(["integer", "float", "decimal", "timestamp", "date"]);
const LENGTH_KINDS = new Set<ColumnKind>(["text", "binary"]);
const RULE_KEYS = new Set([
  "required",
  "length",
  "range",
  "regex",
  "contains",
  "does_not_contain",
  "format",
]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function rejectUnknownKeys(
  where: string,
  obj: Record<string, unknown>,
  allowed: Iterable<string>,
): void {
  const known = new Set(allowed);
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) {
      throw invalid(`${where}: unknown key "${key}" (expected ${[...known].join(", ")})`);
    }
  }
}

function nonNegativeInt(where: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${where} must be a non-negative integer`);
  }
  return value;
}

function stringList(where: string, value: unknown, allowEmptyStrings = false): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) {
    throw invalid(`${where} must be a string or a list of strings`);
  }
  if (!allowEmptyStrings && list.some((v) => v === "")) {
    throw invalid(`${where} must not contain an empty string`);
  }
  return [...new Set(list as string[])];
}

/** A range bound parsed for comparison against values of one column type. */
export type Bound =
  | { kind: "number"; value: Decimal }
  | { kind: "timestamp"; value: Instant }
  | { kind: "date"; value: string };

/**
 * Parse a range bound for a column type; undefined when the text does not fit it.
 *
 * @example
 * ```ts
 * parseBound({ kind: "date" }, "2024-01-31"); // { kind: "date", value: "2024-01-31" }
 * ```
 */
export function parseBound(type: ColumnType, text: string): Bound | undefined {
  switch (type.kind) {
    case "timestamp": {
      const value = parseTimestamp(text);
      return value && { kind: "timestamp", value };
    }
    case "date":
      return isDate(text) ? { kind: "date", value: text } : undefined;
    default: {
      const value = parseDecimal(text);
      return value && { kind: "number", value };
    }
  }
}

/** Compare two bounds of the same kind. */
export function compareBound(a: Bound, b: Bound): number {
  if (a.kind === "number" && b.kind === "number") return compareDecimal(a.value, b.value);
  if (a.kind === "timestamp" && b.kind === "timestamp") return compareInstant(a.value, b.value);
  if (a.kind === "date" && b.kind === "date") {
    return a.value === b.value ? 0 : a.value < b.value ? -1 : 1;
  }
  throw new TypeError("bounds of different kinds");
}

function normalizeRange(where: string, type: ColumnType, value: unknown): ColumnRules["range"] {
  if (!isPlainObject(value)) throw invalid(`${where} must be an object with min and/or max`);
  rejectUnknownKeys(where, value, ["min", "max"]);
  const out: { min?: string; max?: string } = {};
  const bounds: Partial<Record<"min" | "max", Bound>> = {};
  for (const side of ["min", "max"] as const) {
    const raw = value[side];
    if (raw === undefined || raw === null) continue;
    if (typeof raw !== "string" && (typeof raw !== "number" || !Number.isFinite(raw))) {
      throw invalid(`${where}.${side} must be a string or a number`);
    }
    const text = String(raw);
    const bound = parseBound(type, text);
    if (!bound) {
      const expected = type.kind === "timestamp"
        ? "an RFC 3339 timestamp"
        : type.kind === "date"
        ? "a date YYYY-MM-DD"
        : "a decimal number";
      throw invalid(`${where}.${side} "${text}" is not ${expected}`);
    }
    bounds[side] = bound;
    out[side] = bound.kind === "number" ? formatDecimal(bound.value) : text;
  }
  if (!bounds.min && !bounds.max) throw invalid(`${where} needs min and/or max`);
  if (bounds.min && bounds.max && compareBound(bounds.min, bounds.max) > 0) {
    throw invalid(`${where}: min ${out.min} is greater than max ${out.max}`);
  }
  return out;
}

function normalizeLength(where: string, value: unknown): ColumnRules["length"] {
  if (!isPlainObject(value)) throw invalid(`${where} must be an object with min and/or max`);
  rejectUnknownKeys(where, value, ["min", "max"]);
  const out: { min?: number; max?: number } = {};
  if (value.min !== undefined && value.min !== null) {
    out.min = nonNegativeInt(`${where}.min`, value.min);
  }
  if (value.max !== undefined && value.max !== null) {
    out.max = nonNegativeInt(`${where}.max`, value.max);
  }
  if (out.min === undefined && out.max === undefined) {
    throw invalid(`${where} needs min and/or max`);
  }
  if (out.min !== undefined && out.max !== undefined && out.min > out.max) {
    throw invalid(`${where}: min ${out.min} is greater than max ${out.max}`);
  }
  return out;
}

/**
 * Check and normalize the rules of a column of the given type; undefined when
 * there are no rules left.
 *
 * @example
 * ```ts
 * normalizeRules("column amount", { kind: "integer" }, { range: { min: 0 } });
 * // { range: { min: "0" } }
 * ```
 */
export function normalizeRules(
  where: string,
  type: ColumnType,
  input: unknown,
): ColumnRules | undefined {
  if (input === undefined || input === null) return undefined;
  if (!isPlainObject(input)) throw invalid(`${where}: rules must be a JSON object`);
  rejectUnknownKeys(`${where} rules`, input, RULE_KEYS);
  const typeName = formatColumnType(type);
  const requireKinds = (rule: string, kinds: Set<ColumnKind> | ColumnKind) => {
    const ok = typeof kinds === "string" ? type.kind === kinds : kinds.has(type.kind);
    if (!ok) {
      const names = typeof kinds === "string" ? kinds : [...kinds].join(", ");
      throw invalid(`${where}: rule ${rule} does not apply to type ${typeName} (only ${names})`);
    }
  };
  const rules: ColumnRules = {};
  if (input.required !== undefined) {
    if (typeof input.required !== "boolean") throw invalid(`${where}: required must be a boolean`);
    if (input.required) rules.required = true;
  }
  if (input.length !== undefined) {
    requireKinds("length", LENGTH_KINDS);
    rules.length = normalizeLength(`${where}: length`, input.length);
  }
  if (input.range !== undefined) {
    requireKinds("range", RANGE_KINDS);
    rules.range = normalizeRange(`${where}: range`, type, input.range);
  }
  if (input.regex !== undefined) {
    requireKinds("regex", "text");
    const patterns = stringList(`${where}: regex`, input.regex);
    for (const pattern of patterns) {
      try {
        new RegExp(pattern, "u");
      } catch (err) {
        throw invalid(
          `${where}: invalid regex ${JSON.stringify(pattern)}: ${(err as Error).message}`,
        );
      }
    }
    if (patterns.length > 0) rules.regex = patterns;
  }
  for (const key of ["contains", "does_not_contain"] as const) {
    if (input[key] === undefined) continue;
    requireKinds(key, "text");
    const list = stringList(`${where}: ${key}`, input[key]);
    if (list.length > 0) rules[key] = list;
  }
  if (input.format !== undefined) {
    requireKinds("format", "text");
    if (!FORMATS.includes(input.format as FieldFormat)) {
      throw invalid(
        `${where}: unknown format ${JSON.stringify(input.format)} (expected ${FORMATS.join(", ")})`,
      );
    }
    rules.format = input.format as FieldFormat;
  }
  return Object.keys(rules).length > 0 ? rules : undefined;
}

function sortedRecord<T>(entries: [string, T][]): Record<string, T> {
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries);
}

function sortedNames(what: string, values: unknown): string[] {
  if (!Array.isArray(values)) throw invalid(`${what} must be a list of names`);
  const names = values.map((v) => validateName(what, v));
  return [...new Set(names)].sort();
}

/**
 * Check and normalize one column definition. A bare type name (`"integer"`) is
 * accepted as shorthand for `{ "type": "integer" }`.
 *
 * @example
 * ```ts
 * normalizeColumn("amount", { type: "DECIMAL(10,2)", rules: { range: { min: 0 } } });
 * // { type: "decimal(10,2)", rules: { range: { min: "0" } } }
 * ```
 */
export function normalizeColumn(field: string, input: unknown): ColumnDefinition {
  const where = `column ${JSON.stringify(field)}`;
  const raw = typeof input === "string" ? { type: input } : input;
  if (!isPlainObject(raw)) throw invalid(`${where} must be a type name or an object with a type`);
  rejectUnknownKeys(where, raw, ["type", "rules", "properties"]);
  if (raw.type === undefined) throw invalid(`${where} has no type`);
  let type: ColumnType;
  try {
    type = parseColumnType(raw.type);
  } catch (err) {
    throw invalid(`${where}: ${(err as Error).message}`);
  }
  const column: ColumnDefinition = { type: formatColumnType(type) };
  const rules = normalizeRules(where, type, raw.rules);
  if (rules) column.rules = rules;
  if (raw.properties !== undefined) {
    if (type.kind !== "object") throw invalid(`${where}: properties only apply to type object`);
    if (!isPlainObject(raw.properties)) throw invalid(`${where}: properties must be an object`);
    const nested = Object.entries(raw.properties).map(([name, def]): [string, ColumnDefinition] => {
      validateName(`${where} property name`, name);
      return [name, normalizeColumn(`${field}.${name}`, def)];
    });
    if (nested.length > 0) column.properties = sortedRecord(nested);
  }
  return column;
}

function normalizeEvent(aggregate: string, event: string, input: unknown): EventDefinition {
  const where = `event ${JSON.stringify(event)} of schema ${JSON.stringify(aggregate)}`;
  const raw = input ?? {};
  if (!isPlainObject(raw)) throw invalid(`${where} must be an object with fields`);
  rejectUnknownKeys(where, raw, ["fields", "notes"]);
  const definition: EventDefinition = {
    fields: raw.fields === undefined ? [] : sortedNames(`${where}: field name`, raw.fields),
  };
  if (raw.notes !== undefined && raw.notes !== null) {
    try {
      const note = validateNote(raw.notes);
      if (note !== undefined && note !== "") definition.notes = note;
    } catch (err) {
      throw invalid(`${where}: ${(err as Error).message}`);
    }
  }
  return definition;
}

function timestampField(where: string, value: unknown, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string" || !parseTimestamp(value)) {
    throw invalid(`${where} must be an RFC 3339 timestamp`);
  }
  return value;
}

const SCHEMA_KEYS = [
  "aggregate",
  "events",
  "snapshot_threshold",
  "locked",
  "field_locks",
  "columns",
  "created_at",
  "updated_at",
];

/**
 * Check and normalize a whole schema (e.g. from `schema load` or the Admin API).
 * Missing optional parts get defaults; `now` fills missing timestamps.
 *
 * @example
 * ```ts
 * const now = new Date().toISOString();
 * normalizeSchema({ aggregate: "patient", events: { "patient-added": {} } }, now);
 * // { aggregate: "patient", events: { "patient-added": { fields: [] } }, locked: false, ... }
 * ```
 */
export function normalizeSchema(input: unknown, now: string): AggregateSchema {
  if (!isPlainObject(input)) throw invalid("a schema must be a JSON object");
  const aggregate = validateName("schema aggregate", input.aggregate);
  const where = `schema ${JSON.stringify(aggregate)}`;
  rejectUnknownKeys(where, input, SCHEMA_KEYS);
  if (!isPlainObject(input.events)) throw invalid(`${where}: events must be an object`);
  const events = Object.entries(input.events).map(([name, def]): [string, EventDefinition] => {
    validateName(`${where}: event type`, name);
    return [name, normalizeEvent(aggregate, name, def)];
  });
  if (events.length === 0) throw invalid(`${where} must declare at least one event`);
  const columnsInput = input.columns ?? {};
  if (!isPlainObject(columnsInput)) throw invalid(`${where}: columns must be an object`);
  const columns = Object.entries(columnsInput).map(([name, def]): [string, ColumnDefinition] => {
    validateName(`${where}: column field name`, name);
    return [name, normalizeColumn(name, def)];
  });
  const threshold = input.snapshot_threshold;
  if (threshold !== undefined && threshold !== null) {
    nonNegativeInt(`${where}: snapshot_threshold`, threshold);
  }
  if (input.locked !== undefined && typeof input.locked !== "boolean") {
    throw invalid(`${where}: locked must be true or false`);
  }
  const createdAt = timestampField(`${where}: created_at`, input.created_at, now);
  const schema: AggregateSchema = {
    aggregate,
    events: sortedRecord(events),
    locked: input.locked === true,
    field_locks: input.field_locks === undefined
      ? []
      : sortedNames(`${where}: field_locks entry`, input.field_locks),
    columns: sortedRecord(columns),
    created_at: createdAt,
    updated_at: timestampField(`${where}: updated_at`, input.updated_at, createdAt),
  };
  if (typeof threshold === "number" && threshold > 0) schema.snapshot_threshold = threshold;
  return orderSchemaKeys(schema);
}

/** The schema with its keys in the documented order (stable JSON output). */
export function orderSchemaKeys(schema: AggregateSchema): AggregateSchema {
  return {
    aggregate: schema.aggregate,
    events: schema.events,
    ...(schema.snapshot_threshold !== undefined
      ? { snapshot_threshold: schema.snapshot_threshold }
      : {}),
    locked: schema.locked,
    field_locks: schema.field_locks,
    columns: schema.columns,
    created_at: schema.created_at,
    updated_at: schema.updated_at,
  };
}
