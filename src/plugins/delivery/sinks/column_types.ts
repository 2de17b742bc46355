/**
 * Typed columns of the table kinds (postgres, sqlite, csv): a field's type is the one
 * `dbx plugin map` gave the plugin, else its schema column's type, else text. A state value
 * (always text: the engine keeps scalars as strings, objects and arrays as JSON) is put in
 * its canonical form for the type — or refused with a message naming the field, so that the
 * event fails (and shows in `dbx queue`) rather than a wrong or empty cell being written.
 */
import { Buffer } from "node:buffer";
import type { ColumnTypes } from "../../plugin.ts";
import { type ColumnType, parseColumnType } from "../../../schema/definition.ts";
import { parseDecimal } from "../../../schema/decimal.ts";
import { base64Length } from "../../../schema/formats.ts";
import { fieldColumn } from "./rows.ts";

export type { ColumnType } from "../../../schema/definition.ts";

/** The schema's column type names of an aggregate type, by field (undefined: no schema). */
export type SchemaColumnTypes = (aggregateType: string) => Record<string, string> | undefined;

/** Column name → type, for the typed columns of one aggregate type (others are text). */
export type ColumnTyping = (aggregateType: string) => Map<string, ColumnType>;

/**
 * The typing of a plugin: its mapped types over the schema's.
 *
 * @example
 * ```ts
 * const typing = columnTyping({ patient: { age: "integer" } }, () => ({ born: "date" }));
 * typing("patient").get("age"); // { kind: "integer" }
 * ```
 */
export function columnTyping(
  mapped: ColumnTypes | undefined,
  schema: SchemaColumnTypes | undefined,
): ColumnTyping {
  return (aggregateType) => {
    const out = new Map<string, ColumnType>();
    const names = {
      ...schema?.(aggregateType),
      ...(mapped && Object.hasOwn(mapped, aggregateType) ? mapped[aggregateType] : {}),
    };
    for (const [field, name] of Object.entries(names)) {
      try {
        out.set(fieldColumn(field), parseColumnType(name));
      } catch { /* a type this version does not know stays text */ }
    }
    return out;
  };
}

/** A state value that does not fit its column's type. */
export class ColumnValueError extends Error {
  constructor(column: string, type: ColumnType, value: string) {
    const shown = value.length > 60 ? `${value.slice(0, 60)}…` : value;
    super(`field ${column}: ${JSON.stringify(shown)} is not a valid ${typeName(type)}`);
    this.name = "ColumnValueError";
  }
}

function typeName(type: ColumnType): string {
  return type.kind === "decimal" ? `decimal(${type.precision},${type.scale})` : type.kind;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TRUE = new Set(["true", "t", "yes", "y", "1"]);
const FALSE = new Set(["false", "f", "no", "n", "0"]);

/**
 * The canonical text of `value` in a column of `type` (integers and floats as digits,
 * booleans as true/false, timestamps in RFC 3339 UTC, JSON as JSON text); throws a
 * ColumnValueError when it does not fit.
 *
 * @example
 * ```ts
 * typedText("age", { kind: "integer" }, " 42 "); // "42"
 * typedText("ok", { kind: "boolean" }, "yes"); // "true"
 * typedText("tags", { kind: "json" }, "plain"); // '"plain"'
 * ```
 */
export function typedText(column: string, type: ColumnType, value: string): string {
  const t = value.trim();
  const bad = () => new ColumnValueError(column, type, value);
  switch (type.kind) {
    case "integer": {
      if (!/^[+-]?\d{1,19}$/.test(t)) throw bad();
      const n = BigInt(t);
      if (n < INT64_MIN || n > INT64_MAX) throw bad();
      return n.toString();
    }
    case "float": {
      const n = Number(t);
      if (t === "" || !Number.isFinite(n)) throw bad();
      return String(n);
    }
    case "decimal":
      if (parseDecimal(t) === undefined) throw bad();
      return t;
    case "boolean": {
      const lower = t.toLowerCase();
      if (TRUE.has(lower)) return "true";
      if (FALSE.has(lower)) return "false";
      throw bad();
    }
    case "timestamp": {
      const ms = Date.parse(t);
      if (!Number.isFinite(ms)) throw bad();
      return new Date(ms).toISOString();
    }
    case "date": {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
      const d = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : undefined;
      if (!d || d.toISOString().slice(0, 10) !== t) throw bad();
      return t;
    }
    case "json":
    case "object":
      try {
        JSON.parse(value);
        return value;
      } catch {
        return JSON.stringify(value); // a plain string is a JSON string
      }
    case "binary":
      if (base64Length(t) === undefined) throw bad();
      return t;
    case "text":
      return value;
  }
}

/**
 * The bytes of a binary column's canonical text (standard base64).
 *
 * @example
 * ```ts
 * binaryBytes("aGk="); // Uint8Array [104, 105]
 * ```
 */
export function binaryBytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}
