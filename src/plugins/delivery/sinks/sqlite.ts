/**
 * The sqlite kind: a table per aggregate type in a SQLite file (node:sqlite), one row per
 * aggregate with its state at the event delivered. A batch is one transaction, committed
 * (WAL, synchronous=FULL) before it counts as acknowledged. An older event (a replay)
 * never replaces a newer row.
 *
 * Columns are typed (column_types.ts) when they are created: integer and boolean (0/1) →
 * INTEGER, float → REAL, binary (base64) → BLOB, anything else TEXT (decimals too, so that
 * they stay exact). SQLite cannot change a column's type: a later mapping applies to new
 * columns (or a new file).
 */
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DeliveryError, errorText, type Sink } from "./sink.ts";
import { quoteIdent, rowsOf, type StateAt, type StateRow } from "./rows.ts";
import {
  binaryBytes,
  type ColumnType,
  type ColumnTyping,
  ColumnValueError,
  typedText,
} from "./column_types.ts";

type SqlValue = string | number | bigint | Uint8Array | null;

/**
 * The SQLite column type of a column type.
 *
 * @example
 * ```ts
 * sqliteType({ kind: "boolean" }); // "INTEGER"
 * ```
 */
export function sqliteType(type: ColumnType | undefined): string {
  switch (type?.kind) {
    case "integer":
    case "boolean":
      return "INTEGER";
    case "float":
      return "REAL";
    case "binary":
      return "BLOB";
    default:
      return "TEXT";
  }
}

function sqliteValue(column: string, type: ColumnType | undefined, value: string | null): SqlValue {
  if (value === null || type === undefined || type.kind === "text") return value;
  const text = typedText(column, type, value);
  switch (type.kind) {
    case "integer":
      return BigInt(text);
    case "float":
      return Number(text);
    case "boolean":
      return text === "true" ? 1 : 0;
    case "binary":
      return binaryBytes(text);
    default:
      return text;
  }
}

/**
 * A sqlite sink.
 *
 * @example
 * ```ts
 * const sink = sqliteSink({ path: "/tmp/dbx-out/state.db" }, () => Promise.resolve({}));
 * await sink.close();
 * ```
 */
export function sqliteSink(
  settings: { path: string; typing?: ColumnTyping },
  stateAt?: StateAt,
): Sink {
  let db: DatabaseSync | undefined;
  const columns = new Map<string, Set<string>>();
  const open = async () => {
    if (db) return db;
    await Deno.mkdir(dirname(settings.path), { recursive: true, mode: 0o700 });
    const opened = new DatabaseSync(settings.path);
    opened.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    await Deno.chmod(settings.path, 0o600).catch(() => {});
    db = opened;
    return opened;
  };
  const ensureTable = (
    d: DatabaseSync,
    type: string,
    fields: Iterable<string>,
    types: Map<string, ColumnType>,
  ) => {
    let known = columns.get(type);
    const table = quoteIdent(type);
    if (!known) {
      d.exec(
        `CREATE TABLE IF NOT EXISTS ${table} (aggregate_id TEXT PRIMARY KEY, ` +
          "version INTEGER NOT NULL, event_id TEXT, event_type TEXT, updated_at TEXT)",
      );
      const info = d.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      known = new Set(info.map((c) => c.name));
      columns.set(type, known);
    }
    for (const field of fields) {
      if (known.has(field)) continue;
      d.exec(
        `ALTER TABLE ${table} ADD COLUMN ${quoteIdent(field)} ${sqliteType(types.get(field))}`,
      );
      known.add(field);
    }
  };
  const drop = () => {
    try {
      db?.close();
    } catch { /* closed */ }
    db = undefined;
    columns.clear();
  };
  return {
    maxBatch: 100,
    async deliver(records) {
      if (!stateAt) throw new DeliveryError("the sqlite plugin needs the aggregates' state");
      const all = await rowsOf(records, stateAt);
      // Values that do not fit their types fail their event; the rows before it still go.
      const typesOf = new Map<string, Map<string, ColumnType>>();
      const typed: {
        row: StateRow;
        types: Map<string, ColumnType>;
        values: Map<string, SqlValue>;
      }[] = [];
      let refused: string | undefined;
      for (const row of all) {
        let types = typesOf.get(row.aggregate_type);
        if (!types) {
          types = settings.typing?.(row.aggregate_type) ?? new Map();
          typesOf.set(row.aggregate_type, types);
        }
        try {
          const values = new Map<string, SqlValue>();
          for (const [column, value] of row.fields) {
            values.set(column, sqliteValue(column, types.get(column), value));
          }
          typed.push({ row, types, values });
        } catch (err) {
          if (!(err instanceof ColumnValueError)) throw err;
          refused = `${row.aggregate_type}/${row.aggregate_id} v${row.version}: ${err.message}`;
          break;
        }
      }
      if (typed.length > 0) await write(typed);
      if (refused !== undefined) throw new DeliveryError(refused, typed.length);
    },
    async check() {
      try {
        (await open()).exec("SELECT 1");
      } catch (err) {
        drop();
        throw new Error(`cannot open ${settings.path}: ${errorText(err)}`);
      }
    },
    close() {
      drop();
      return Promise.resolve();
    },
  };

  /** One transaction for the rows, committed before it counts. */
  async function write(
    rows: { row: StateRow; types: Map<string, ColumnType>; values: Map<string, SqlValue> }[],
  ): Promise<void> {
    let d: DatabaseSync | undefined;
    try {
      d = await open();
      d.exec("BEGIN IMMEDIATE");
      for (const { row, types, values: typedValues } of rows) {
        ensureTable(d, row.aggregate_type, row.fields.keys(), types);
        const names = ["aggregate_id", "version", "event_id", "event_type", "updated_at"];
        const values: SqlValue[] = [
          row.aggregate_id,
          row.version,
          row.event_id,
          row.event_type,
          row.updated_at,
        ];
        // Fields the state no longer has are cleared: the row is the state.
        for (const column of columns.get(row.aggregate_type)!) {
          if (names.includes(column)) continue;
          names.push(column);
          values.push(typedValues.get(column) ?? null);
        }
        const quoted = names.map(quoteIdent);
        d.prepare(
          `INSERT INTO ${quoteIdent(row.aggregate_type)} (${quoted.join(", ")}) VALUES (${
            names.map(() => "?").join(", ")
          }) ON CONFLICT(aggregate_id) DO UPDATE SET ${
            quoted.slice(1).map((q) => `${q} = excluded.${q}`).join(", ")
          } WHERE excluded.version >= version`,
        ).run(...values);
      }
      d.exec("COMMIT");
    } catch (err) {
      try {
        d?.exec("ROLLBACK");
      } catch { /* no transaction */ }
      drop();
      throw new DeliveryError(`${settings.path}: ${errorText(err)}`, 0);
    }
  }
}
