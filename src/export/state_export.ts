/**
 * Exports of aggregate state (no event metadata) as CSV or JSON, one file per
 * aggregate type, optionally bundled in a zip archive.
 */
import { zipSync } from "fflate";
import { DbxError } from "../errors.ts";
import { sha256, toHex } from "../integrity/sha256.ts";
import type { AggregateRecord } from "../engine/types.ts";

export type ExportFormat = "csv" | "json";

/** One exported file: its name inside the output and its bytes. */
export interface ExportFile {
  name: string;
  data: Uint8Array;
}

const enc = new TextEncoder();

function cell(value: unknown): string {
  const text = value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  // RFC 4180: quote fields holding separators, quotes or line breaks.
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * CSV with `aggregate_id` then the union of state keys (sorted); nested values as JSON.
 *
 * @example
 * ```ts
 * import type { AggregateRecord } from "../engine/types.ts";
 * declare const record: AggregateRecord;
 * toCsv([{ ...record, aggregate_id: "p-1", state: { name: "Jane" } }]);
 * // "aggregate_id,name\r\np-1,Jane\r\n"
 * ```
 */
export function toCsv(aggregates: AggregateRecord[]): string {
  const columns = [...new Set(aggregates.flatMap((a) => Object.keys(a.state)))].sort();
  const lines = [["aggregate_id", ...columns].map(cell).join(",")];
  for (const a of aggregates) {
    lines.push([a.aggregate_id, ...columns.map((c) => a.state[c])].map(cell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** JSON array of `{ aggregate_id, state… }` objects. */
export function toJson(aggregates: AggregateRecord[], pretty: boolean): string {
  const rows = aggregates.map((a) => ({ aggregate_id: a.aggregate_id, ...a.state }));
  return JSON.stringify(rows, null, pretty ? 2 : undefined) + "\n";
}

/** Group aggregates by type and render one file per type. */
export function renderExport(
  aggregates: AggregateRecord[],
  format: ExportFormat,
  pretty: boolean,
): ExportFile[] {
  const byType = new Map<string, AggregateRecord[]>();
  for (const a of aggregates) {
    const list = byType.get(a.aggregate_type) ?? [];
    list.push(a);
    byType.set(a.aggregate_type, list);
  }
  const names = exportFileNames([...byType.keys()]);
  return [...byType].map(([type, list]) => ({
    name: `${names.get(type)}.${format}`,
    data: enc.encode(format === "csv" ? toCsv(list) : toJson(list, pretty)),
  }));
}

/**
 * A distinct file name (without extension) per type. A type whose name had to
 * be altered, or that differs from another only in letter case (one file on
 * case-insensitive file systems), gets a short hash of its real name appended,
 * so no export file ever overwrites another.
 *
 * @example
 * ```ts
 * exportFileNames(["patient", "Order", "order", "a b"]);
 * // patient → "patient", Order → "Order-<8 hex>", order → "order-<8 hex>",
 * // "a b" → "a_b-<8 hex>"
 * ```
 */
export function exportFileNames(types: string[]): Map<string, string> {
  const safe = new Map(types.map((t) => [t, safeFileName(t)]));
  const folded = new Map<string, number>();
  for (const name of safe.values()) {
    folded.set(name.toLowerCase(), (folded.get(name.toLowerCase()) ?? 0) + 1);
  }
  const names = new Map<string, string>();
  for (const [type, name] of safe) {
    const unique = name === type && folded.get(name.toLowerCase()) === 1;
    names.set(type, unique ? name : `${name}-${toHex(sha256(type)).slice(0, 8)}`);
  }
  return names;
}

/** Bundle files in one zip archive. */
export function zipFiles(files: ExportFile[]): Uint8Array {
  return zipSync(Object.fromEntries(files.map((f) => [f.name, f.data])));
}

/** Type names may hold characters that are unsafe in file names. */
export function safeFileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, "_");
  if (safe === "" || safe === "." || safe === "..") {
    throw new DbxError("invalid_input", `cannot make a file name from ${JSON.stringify(name)}`);
  }
  return safe;
}
