/**
 * The csv kind: `<output_dir>/<aggregate type>.csv`, a row appended per event with the
 * aggregate's state at that event (a history of states). The header lists the meta
 * columns then every field seen; when a new field appears the file is rewritten once with
 * the wider header (atomically), earlier rows getting an empty cell. Each batch reaches
 * the disk before it counts as acknowledged.
 *
 * Typed fields (column_types.ts) are written in their type's canonical form (booleans
 * true/false, timestamps in RFC 3339 UTC, numbers as digits); a value that does not fit fails
 * its event, as in the databases.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../../../util/atomic_file.ts";
import { openAppend } from "./json_file.ts";
import { META_COLUMNS, rowsOf, type StateAt, type StateRow } from "./rows.ts";
import { DeliveryError, errorText, type Sink } from "./sink.ts";
import { type ColumnTyping, ColumnValueError, typedText } from "./column_types.ts";

const enc = new TextEncoder();

/**
 * A CSV cell: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`
 * or `@` gets a `'` first, so that a spreadsheet does not run it as a formula.
 *
 * @example
 * ```ts
 * csvCell('say "hi", bye'); // '"say ""hi"", bye"'
 * csvCell("=1+1"); // "'=1+1"
 * ```
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return "";
  let text = String(value);
  if (typeof value === "string" && /^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The records of CSV text (line breaks inside quoted cells stay in their record). */
function splitRecords(text: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === "\n" && !quoted) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/** Parse one CSV header line (the format csvCell writes). */
function parseHeader(line: string): string[] {
  const out: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      out.push(cell);
      cell = "";
    } else cell += c;
  }
  out.push(cell);
  return out.map((c) => c.startsWith("'") ? c.slice(1) : c);
}

/**
 * The file name of an aggregate type: characters other than letters, digits, `_` and `-`
 * are written %XX, so that no type can name another directory.
 *
 * @example
 * ```ts
 * csvFileName("patient"); // "patient.csv"
 * csvFileName("../x"); // "%2E%2E%2Fx.csv"
 * ```
 */
export function csvFileName(aggregateType: string): string {
  const safe = Array.from(new TextEncoder().encode(aggregateType), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9_-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }).join("");
  return `${safe}.csv`;
}

/**
 * A csv sink.
 *
 * @example
 * ```ts
 * const sink = csvSink({ output_dir: "/tmp/dbx-out" }, () => Promise.resolve({}));
 * await sink.close();
 * ```
 */
export function csvSink(
  settings: { output_dir: string; typing?: ColumnTyping },
  stateAt?: StateAt,
): Sink {
  const headers = new Map<string, string[]>();

  /** The header of a type's file (read from the file the first time). */
  const headerOf = async (path: string, type: string): Promise<string[]> => {
    let header = headers.get(type);
    if (header) return header;
    const text = await Deno.readTextFile(path).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return "";
      throw err;
    });
    const first = splitRecords(text)[0];
    header = first ? parseHeader(first) : [];
    headers.set(type, header);
    return header;
  };

  const widen = async (path: string, type: string, header: string[], wanted: string[]) => {
    const added = wanted.filter((c) => !header.includes(c));
    if (added.length === 0 && header.length > 0) return header;
    const next = header.length === 0 ? [...META_COLUMNS, ...added] : [...header, ...added];
    const old = header.length === 0 ? "" : await Deno.readTextFile(path);
    const pad = ",".repeat(next.length - header.length);
    const body = splitRecords(old).slice(1).map((record) => record + pad + "\n").join("");
    await writeFileAtomic(path, enc.encode(next.map(csvCell).join(",") + "\n" + body), 0o600);
    headers.set(type, next);
    return next;
  };

  const line = (header: string[], row: StateRow) =>
    header.map((column) => {
      switch (column) {
        case "aggregate_id":
          return csvCell(row.aggregate_id);
        case "version":
          return csvCell(row.version);
        case "event_id":
          return csvCell(row.event_id);
        case "event_type":
          return csvCell(row.event_type);
        case "updated_at":
          return csvCell(row.updated_at);
        default:
          return csvCell(row.fields.get(column) ?? null);
      }
    }).join(",") + "\n";

  return {
    maxBatch: 100,
    async deliver(records) {
      if (!stateAt) throw new DeliveryError("the csv plugin needs the aggregates' state");
      let refused: string | undefined;
      const rows: StateRow[] = [];
      try {
        for (const row of await rowsOf(records, stateAt)) {
          const types = settings.typing?.(row.aggregate_type);
          if (!types || types.size === 0) {
            rows.push(row);
            continue;
          }
          try {
            const fields = new Map(row.fields);
            for (const [column, value] of fields) {
              const type = types.get(column);
              if (value !== null && type) fields.set(column, typedText(column, type, value));
            }
            rows.push({ ...row, fields });
          } catch (err) {
            if (!(err instanceof ColumnValueError)) throw err;
            refused = `${row.aggregate_type}/${row.aggregate_id} v${row.version}: ${err.message}`;
            break;
          }
        }
        const byType = new Map<string, StateRow[]>();
        for (const row of rows) {
          byType.set(row.aggregate_type, [...byType.get(row.aggregate_type) ?? [], row]);
        }
        await Deno.mkdir(settings.output_dir, { recursive: true, mode: 0o700 });
        for (const [type, typeRows] of byType) {
          const path = join(settings.output_dir, csvFileName(type));
          const fields = [...new Set(typeRows.flatMap((r) => [...r.fields.keys()]))];
          const header = await widen(path, type, await headerOf(path, type), fields);
          const file = await openAppend(path);
          try {
            const bytes = enc.encode(typeRows.map((r) => line(header, r)).join(""));
            let at = 0;
            while (at < bytes.length) at += await file.write(bytes.subarray(at));
            await file.syncData();
          } finally {
            file.close();
          }
        }
      } catch (err) {
        headers.clear(); // read again from the files
        throw new DeliveryError(`${settings.output_dir}: ${errorText(err)}`, 0);
      }
      if (refused !== undefined) throw new DeliveryError(refused, rows.length);
    },
    async check() {
      try {
        await Deno.mkdir(settings.output_dir, { recursive: true, mode: 0o700 });
        const probe = join(settings.output_dir, ".dbx-check");
        await Deno.writeTextFile(probe, "");
        await Deno.remove(probe);
      } catch (err) {
        throw new Error(`cannot write to ${settings.output_dir}: ${errorText(err)}`);
      }
    },
    close: () => Promise.resolve(),
  };
}
