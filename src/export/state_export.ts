/**
 * Exports of aggregate state (no event metadata) as CSV or JSON, one file per
 * aggregate type, optionally bundled in a zip archive.
 */
import { zipSync } from "fflate";
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
 * so no export file ever overwrites another (the hash grows when a type's name
 * was chosen to look like another's hashed name).
 *
 * @example
 * ```ts
 * exportFileNames(["patient", "Order", "order", "a b"]);
 * // patient → "patient", Order → "Order-<8 hex>", order → "order-<8 hex>",
 * // "a b" → "a_b-<8 hex>"
 * ```
 */
export function exportFileNames(types: string[]): Map<string, string> {
  const safe = new Map([...new Set(types)].map((t) => [t, safeFileName(t)]));
  const folded = new Map<string, number>();
  for (const name of safe.values()) {
    folded.set(name.toLowerCase(), (folded.get(name.toLowerCase()) ?? 0) + 1);
  }
  const names = new Map<string, string>();
  const taken = new Set<string>();
  const altered: string[] = [];
  // Names kept as they are first: they are distinct, even ignoring case.
  for (const [type, name] of safe) {
    if (name === type && folded.get(name.toLowerCase()) === 1) {
      names.set(type, name);
      taken.add(name.toLowerCase());
    } else altered.push(type);
  }
  for (const type of altered.sort()) {
    const base = safe.get(type)!;
    const hash = toHex(sha256(type));
    let name = `${base}-${hash.slice(0, 8)}`;
    for (let n = 16; taken.has(name.toLowerCase()) && n <= hash.length; n *= 2) {
      name = `${base}-${hash.slice(0, n)}`;
    }
    for (let i = 2; taken.has(name.toLowerCase()); i++) name = `${base}-${hash}-${i}`;
    names.set(type, name);
    taken.add(name.toLowerCase());
  }
  return names;
}

/** Bundle files in one zip archive. */
export function zipFiles(files: ExportFile[]): Uint8Array {
  return zipSync(Object.fromEntries(files.map((f) => [f.name, f.data])));
}

/** Device names Windows reserves, with any extension ("CON.csv" is still the console). */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;
/** Longest stem kept from a type name (a hash and the extension still fit in 255 bytes). */
const MAX_STEM = 100;

/**
 * A file name stem made of `[A-Za-z0-9._-]` only, for any type name: never empty, never
 * starting with a dot (so never ".", ".." or hidden), never a Windows device name, at most
 * 100 characters. It equals the type name only when that name was safe as it is.
 *
 * @example
 * ```ts
 * safeFileName("a b"); // "a_b"
 * safeFileName(".."); // "__"
 * safeFileName("../etc/passwd"); // "___etc_passwd"
 * ```
 */
export function safeFileName(name: string): string {
  let safe = name.replace(/[^A-Za-z0-9._-]/g, "_").replace(
    /^\.+/,
    (dots) => "_".repeat(dots.length),
  );
  if (safe === "") safe = "_";
  if (WINDOWS_RESERVED.test(safe.split(".")[0])) safe = `_${safe}`;
  return safe.slice(0, MAX_STEM);
}
