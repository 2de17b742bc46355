/**
 * Sort orders of aggregate listings: `field[:asc|desc][, field…]` (`created_at:desc`,
 * `aggregate_type:asc, created_at:desc`; a space works like the colon, camelCase names
 * too). Every order ends with the aggregate's key (type, then id, ascending) so that it is
 * total and a cursor can name a position in it.
 */
import { DbxError } from "../errors.ts";
import { codePointCompare } from "./filter.ts";
import { aggregateField, type AggregateView } from "./records.ts";

/** The fields an aggregate listing can be sorted by. */
export const SORT_FIELDS = [
  "aggregate_type",
  "aggregate_id",
  "version",
  "merkle_root",
  "archived",
  "created_at",
  "updated_at",
] as const;

export type SortField = typeof SORT_FIELDS[number];

/** One key of a sort order. */
export interface SortKey {
  field: SortField;
  descending: boolean;
}

const MAX_SORT_TEXT = 512;
const MAX_KEYS = SORT_FIELDS.length;

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", `sort: ${message}`);
}

/**
 * Parse a sort order; "" is the default order (the aggregate's key).
 *
 * @example
 * ```ts
 * parseSort("created_at:desc, aggregateId");
 * // [{ field: "created_at", descending: true }, { field: "aggregate_id", descending: false }]
 * ```
 */
export function parseSort(text: string): SortKey[] {
  if (typeof text !== "string") throw invalid("must be a string");
  if (text.length > MAX_SORT_TEXT) throw invalid(`is longer than ${MAX_SORT_TEXT} characters`);
  const keys: SortKey[] = [];
  for (const raw of text.split(",")) {
    const part = raw.trim();
    if (part === "") {
      if (text.trim() === "") continue;
      throw invalid("empty entry between commas");
    }
    const match = /^([A-Za-z_]+)(?:\s*[:\s]\s*([A-Za-z]+))?$/.exec(part);
    const field = match ? aggregateField(match[1]) : undefined;
    if (!match || field === undefined || !(SORT_FIELDS as readonly string[]).includes(field)) {
      throw invalid(
        `unknown field in ${JSON.stringify(part)}; sort by ${SORT_FIELDS.join(", ")}`,
      );
    }
    const direction = (match[2] ?? "asc").toLowerCase();
    if (direction !== "asc" && direction !== "desc") {
      throw invalid(`direction must be asc or desc (got ${JSON.stringify(match[2])})`);
    }
    if (keys.some((k) => k.field === field)) throw invalid(`${field} is named twice`);
    keys.push({ field: field as SortField, descending: direction === "desc" });
  }
  if (keys.length > MAX_KEYS) throw invalid(`at most ${MAX_KEYS} keys`);
  return keys;
}

/** The order written out in one canonical form (cursors carry it). */
export function sortText(keys: readonly SortKey[]): string {
  return keys.map((k) => `${k.field}:${k.descending ? "desc" : "asc"}`).join(",");
}

/** True when the order is the aggregate key order (what a store scan yields). */
export function isKeyOrder(keys: readonly SortKey[]): boolean {
  if (keys.length === 0) return true;
  if (keys[0].field !== "aggregate_type" || keys[0].descending) return false;
  if (keys.length === 1) return true;
  return keys.length === 2 && keys[1].field === "aggregate_id" && !keys[1].descending;
}

type SortValue = string | number | boolean;

/** The values a sort order compares, last the key (type, id). */
export function sortValues(keys: readonly SortKey[], view: AggregateView): SortValue[] {
  return [...keys.map((k) => view[k.field]), view.aggregate_type, view.aggregate_id];
}

function compareValue(a: SortValue, b: SortValue): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  return codePointCompare(String(a), String(b));
}

/**
 * Compare two sort-value lists under an order (negative: `a` comes first).
 *
 * @example
 * ```ts
 * const keys = parseSort("version:desc");
 * compareSortValues(keys, [3, "t", "a"], [1, "t", "b"]); // < 0: version 3 first
 * ```
 */
export function compareSortValues(
  keys: readonly SortKey[],
  a: readonly SortValue[],
  b: readonly SortValue[],
): number {
  for (let i = 0; i < a.length; i++) {
    const d = compareValue(a[i], b[i]);
    if (d !== 0) return i < keys.length && keys[i].descending ? -d : d;
  }
  return 0;
}
