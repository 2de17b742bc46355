/**
 * Checking one payload value against a column: its type first, then every rule.
 * Columns are compiled once (regexes built, bounds parsed) when a schema is loaded
 * or changed, so that checks in the writer are cheap and allocation-light.
 */
import { type Decimal, formatDecimal, toDecimal } from "./decimal.ts";
import {
  type Bound,
  type ColumnType,
  compareBound,
  formatColumnType,
  parseBound,
  parseColumnType,
} from "./definition.ts";
import {
  base64Length,
  isCountryCode,
  isCreditCard,
  isDate,
  isEmail,
  isIso8601,
  isUrl,
  parseTimestamp,
} from "./formats.ts";
import type { ColumnDefinition, FieldFormat } from "./types.ts";

/** A failed check: which field, which rule, and what was wrong. */
export interface Violation {
  /** Field path (`amount`, `address.city`); absent for aggregate-level rules. */
  field?: string;
  /** Rule name: locked, field_locks, events, fields, required, type, length, range, ... */
  rule: string;
  detail: string;
}

/** A column ready for checking. */
export interface CompiledColumn {
  /** Key in the payload (or in the parent object). */
  name: string;
  /** Full path for messages: `address.city`. */
  path: string;
  type: ColumnType;
  typeName: string;
  required: boolean;
  length?: { min?: number; max?: number };
  min?: { bound: Bound; text: string };
  max?: { bound: Bound; text: string };
  regex: { source: string; re: RegExp }[];
  contains: string[];
  doesNotContain: string[];
  format?: FieldFormat;
  properties: CompiledColumn[];
}

/**
 * Compile a normalized column definition.
 *
 * @example
 * ```ts
 * const col = compileColumn("age", { type: "integer", rules: { range: { min: "0" } } });
 * ```
 */
export function compileColumn(
  path: string,
  def: ColumnDefinition,
  name: string = path,
): CompiledColumn {
  const type = parseColumnType(def.type);
  const rules = def.rules ?? {};
  const bound = (text: string | undefined) => {
    if (text === undefined) return undefined;
    const parsed = parseBound(type, text);
    if (!parsed) throw new TypeError(`bound ${text} does not fit ${def.type}`);
    return { bound: parsed, text };
  };
  return {
    name,
    path,
    type,
    typeName: formatColumnType(type),
    required: rules.required === true,
    length: rules.length,
    min: bound(rules.range?.min),
    max: bound(rules.range?.max),
    regex: (rules.regex ?? []).map((source) => ({ source, re: new RegExp(source, "u") })),
    contains: rules.contains ?? [],
    doesNotContain: rules.does_not_contain ?? [],
    format: rules.format,
    properties: Object.entries(def.properties ?? {}).map(([key, nested]) =>
      compileColumn(`${path}.${key}`, nested, key)
    ),
  };
}

/** A short, safe description of a value for messages. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string": {
      const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
      return `the string ${JSON.stringify(shown)}`;
    }
    case "number":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const FLOAT_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const I64_MIN = toDecimal("-9223372036854775808")!;
const I64_MAX = toDecimal("9223372036854775807")!;

/** What a value becomes after its type check, for the rules that follow. */
type Checked =
  | { kind: "bound"; bound: Bound; shown: string }
  | { kind: "text"; text: string }
  | { kind: "binary"; bytes: number }
  | { kind: "other" };

function asNumberDecimal(value: unknown, integer: boolean): Decimal | undefined {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) return undefined;
    return toDecimal(value);
  }
  if (typeof value !== "string") return undefined;
  if (integer ? !INTEGER_TEXT.test(value) : !FLOAT_TEXT.test(value)) return undefined;
  if (!integer && !Number.isFinite(Number(value))) return undefined;
  // Extreme exponents are refused by parseDecimal; their float value still compares.
  return toDecimal(value) ?? toDecimal(Number(value));
}

function typeViolation(col: CompiledColumn, value: unknown, hint = ""): Violation {
  return {
    field: col.path,
    rule: "type",
    detail: `expected ${col.typeName}${hint}, got ${describeValue(value)}`,
  };
}

function checkType(col: CompiledColumn, value: unknown): Checked | Violation {
  switch (col.type.kind) {
    case "integer": {
      const d = asNumberDecimal(value, true);
      if (!d) return typeViolation(col, value);
      if (compareBoundNumbers(d, I64_MIN) < 0 || compareBoundNumbers(d, I64_MAX) > 0) {
        return typeViolation(col, value, " (64-bit range)");
      }
      return { kind: "bound", bound: { kind: "number", value: d }, shown: formatDecimal(d) };
    }
    case "float": {
      const d = asNumberDecimal(value, false);
      if (!d) return typeViolation(col, value);
      return { kind: "bound", bound: { kind: "number", value: d }, shown: String(value) };
    }
    case "decimal": {
      const d = asNumberDecimal(value, false);
      if (!d) return typeViolation(col, value);
      const scale = col.type.scale!;
      const intDigits = col.type.precision! - scale;
      if (d.frac.length > scale || d.int.length > intDigits) {
        const hint = ` (at most ${intDigits} digits before and ${scale} after the point)`;
        return typeViolation(col, value, hint);
      }
      return { kind: "bound", bound: { kind: "number", value: d }, shown: formatDecimal(d) };
    }
    case "boolean": {
      const ok = typeof value === "boolean" ||
        (typeof value === "string" && /^(?:true|false)$/i.test(value));
      return ok ? { kind: "other" } : typeViolation(col, value);
    }
    case "text":
      return typeof value === "string" ? { kind: "text", text: value } : typeViolation(col, value);
    case "timestamp": {
      const instant = typeof value === "string" ? parseTimestamp(value) : undefined;
      if (!instant) return typeViolation(col, value, " (RFC 3339 with time zone)");
      return {
        kind: "bound",
        bound: { kind: "timestamp", value: instant },
        shown: value as string,
      };
    }
    case "date": {
      if (typeof value !== "string" || !isDate(value)) {
        return typeViolation(col, value, " (YYYY-MM-DD)");
      }
      return { kind: "bound", bound: { kind: "date", value }, shown: value };
    }
    case "json":
      return { kind: "other" };
    case "binary": {
      const bytes = typeof value === "string" ? base64Length(value) : undefined;
      if (bytes === undefined) return typeViolation(col, value, " (base64)");
      return { kind: "binary", bytes };
    }
    case "object": {
      const obj = asObject(value);
      if (!obj) return typeViolation(col, value, " (a JSON object)");
      for (const nested of col.properties) {
        const violation = checkColumn(nested, obj[nested.name], true);
        if (violation) return violation;
      }
      return { kind: "other" };
    }
  }
}

function compareBoundNumbers(a: Decimal, b: Decimal): number {
  return compareBound({ kind: "number", value: a }, { kind: "number", value: b });
}

// Objects arrive structured from JSON, or as JSON text from `--field KEY=VALUE`.
function asObject(value: unknown): Record<string, unknown> | undefined {
  let candidate = value;
  if (typeof value === "string") {
    try {
      candidate = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  const isObject = typeof candidate === "object" && candidate !== null &&
    !Array.isArray(candidate);
  return isObject ? candidate as Record<string, unknown> : undefined;
}

const FORMAT_CHECKS: Record<FieldFormat, [(text: string) => boolean, string]> = {
  email: [isEmail, "must be a valid e-mail address"],
  url: [isUrl, "must be an absolute URL with a host"],
  credit_card: [isCreditCard, "must be a valid credit card number (Luhn check)"],
  iso8601: [isIso8601, "must be an ISO 8601 date or date-time"],
  country_code: [isCountryCode, "must be an ISO 3166-1 alpha-2 country code (e.g. US)"],
};

function checkLength(col: CompiledColumn, size: number, unit: string): Violation | undefined {
  const { min, max } = col.length!;
  if (min !== undefined && size < min) {
    return {
      field: col.path,
      rule: "length",
      detail: `must be at least ${min} ${unit}, got ${size}`,
    };
  }
  if (max !== undefined && size > max) {
    return {
      field: col.path,
      rule: "length",
      detail: `must be at most ${max} ${unit}, got ${size}`,
    };
  }
  return undefined;
}

// Every text rule runs, `length` included (the original skipped `length` when
// another text rule was present).
function checkText(col: CompiledColumn, text: string): Violation | undefined {
  const fail = (rule: string, detail: string): Violation => ({ field: col.path, rule, detail });
  if (col.length) {
    const violation = checkLength(col, [...text].length, "characters");
    if (violation) return violation;
  }
  for (const needle of col.contains) {
    if (!text.includes(needle)) return fail("contains", `must contain ${JSON.stringify(needle)}`);
  }
  for (const needle of col.doesNotContain) {
    if (text.includes(needle)) {
      return fail("does_not_contain", `must not contain ${JSON.stringify(needle)}`);
    }
  }
  for (const { source, re } of col.regex) {
    if (!re.test(text)) return fail("regex", `must match /${source}/`);
  }
  if (col.format) {
    const [check, message] = FORMAT_CHECKS[col.format];
    if (!check(text)) return fail("format", `${col.format}: ${message}`);
  }
  return undefined;
}

function checkRange(col: CompiledColumn, bound: Bound, shown: string): Violation | undefined {
  if (col.min && compareBound(bound, col.min.bound) < 0) {
    return { field: col.path, rule: "range", detail: `must be >= ${col.min.text}, got ${shown}` };
  }
  if (col.max && compareBound(bound, col.max.bound) > 0) {
    return { field: col.path, rule: "range", detail: `must be <= ${col.max.text}, got ${shown}` };
  }
  return undefined;
}

/**
 * Check one value against a column: type, then length, contains,
 * does_not_contain, regex, format, range. A missing or null value fails only
 * when `enforceRequired` is set and the column is required; otherwise it passes
 * (null clears a field).
 *
 * @example
 * ```ts
 * const col = compileColumn("age", { type: "integer", rules: { range: { min: "0" } } });
 * checkColumn(col, "42", false); // undefined
 * checkColumn(col, -1, false); // { field: "age", rule: "range", detail: "must be >= 0, got -1" }
 * ```
 */
export function checkColumn(
  col: CompiledColumn,
  value: unknown,
  enforceRequired: boolean,
): Violation | undefined {
  if (value === undefined || value === null) {
    if (enforceRequired && col.required) {
      return { field: col.path, rule: "required", detail: "the field is required but missing" };
    }
    return undefined;
  }
  const checked = checkType(col, value);
  if ("rule" in checked) return checked;
  switch (checked.kind) {
    case "text":
      return checkText(col, checked.text);
    case "binary":
      return col.length ? checkLength(col, checked.bytes, "bytes") : undefined;
    case "bound":
      return checkRange(col, checked.bound, checked.shown);
    default:
      return undefined;
  }
}
