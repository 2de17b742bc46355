/**
 * The postgres kind: a table per aggregate type, one row per aggregate with its state at
 * the event delivered (the `pg` client on one connection, opened again after an error). A
 * batch is one transaction: tables and columns are created as types and fields appear,
 * rows are upserted, and an older event (a replay) never replaces a newer row. The commit
 * acknowledges the batch.
 *
 * Columns are typed (column_types.ts): integer → BIGINT, float → DOUBLE PRECISION,
 * decimal(p,s) → NUMERIC(p,s), boolean → BOOLEAN, timestamp → TIMESTAMPTZ, date → DATE,
 * json and object → JSONB, binary (base64) → BYTEA, anything else TEXT. A column whose type
 * changed (a new mapping or schema) is converted in place at the next batch.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { Buffer } from "node:buffer";
import {
  binaryBytes,
  type ColumnType,
  type ColumnTyping,
  ColumnValueError,
  typedText,
} from "./column_types.ts";
import { META_COLUMNS, quoteIdent, rowsOf, type StateAt, type StateRow } from "./rows.ts";
import { DeliveryError, errorText, type Sink, withTimeout } from "./sink.ts";

/** PostgreSQL cuts identifiers at 63 bytes: longer names get a hash suffix instead. */
const MAX_IDENT_BYTES = 63;

/**
 * The identifier for a name: itself when it fits, else a prefix and a hash of the whole.
 *
 * @example
 * ```ts
 * pgName("patient"); // "patient"
 * pgName("x".repeat(100)).length; // 63
 * ```
 */
export function pgName(name: string): string {
  if (new TextEncoder().encode(name).length <= MAX_IDENT_BYTES) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 12);
  let prefix = name.slice(0, 50);
  while (new TextEncoder().encode(prefix).length > 50) prefix = prefix.slice(0, -1);
  return `${prefix}_${hash}`;
}

/**
 * The PostgreSQL type of a column type: as written in DDL, and as information_schema names it.
 *
 * @example
 * ```ts
 * pgType({ kind: "integer" }); // { sql: "BIGINT", info: "bigint" }
 * pgType(undefined); // { sql: "TEXT", info: "text" }
 * ```
 */
export function pgType(type: ColumnType | undefined): { sql: string; info: string } {
  switch (type?.kind) {
    case "integer":
      return { sql: "BIGINT", info: "bigint" };
    case "float":
      return { sql: "DOUBLE PRECISION", info: "double precision" };
    case "decimal":
      return { sql: `NUMERIC(${type.precision},${type.scale})`, info: "numeric" };
    case "boolean":
      return { sql: "BOOLEAN", info: "boolean" };
    case "timestamp":
      return { sql: "TIMESTAMPTZ", info: "timestamp with time zone" };
    case "date":
      return { sql: "DATE", info: "date" };
    case "json":
    case "object":
      return { sql: "JSONB", info: "jsonb" };
    case "binary":
      return { sql: "BYTEA", info: "bytea" };
    default:
      return { sql: "TEXT", info: "text" };
  }
}

/** A row's field values as parameters for their columns' types. */
function typedValues(row: StateRow, types: Map<string, ColumnType>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [column, value] of row.fields) {
    const type = types.get(column);
    if (value === null || type === undefined || type.kind === "text") out.set(column, value);
    else {
      const text = typedText(column, type, value);
      out.set(column, type.kind === "binary" ? Buffer.from(binaryBytes(text)) : text);
    }
  }
  return out;
}

/** Most parameters one INSERT takes (PostgreSQL allows 65535). */
const MAX_PARAMS = 30_000;

/** A row with its values typed for their columns. */
interface Prepared {
  row: StateRow;
  values: Map<string, unknown>;
  types: Map<string, ColumnType>;
}

interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): void;
}

/**
 * A postgres sink.
 *
 * @example
 * ```ts
 * const sink = postgresSink(
 *   { connection: "postgres://postgres@127.0.0.1:5432/postgres", timeoutMs: 5000 },
 *   () => Promise.resolve({}),
 * );
 * await sink.close();
 * ```
 */
export function postgresSink(
  settings: { connection: string; timeoutMs: number; typing?: ColumnTyping },
  stateAt?: StateAt,
): Sink {
  let client: PgClient | undefined;
  /** Per aggregate type: column → its type as information_schema names it. */
  const columns = new Map<string, Map<string, string>>();
  const connect = async () => {
    if (client) return client;
    const c = new pg.Client({
      connectionString: settings.connection,
      connectionTimeoutMillis: settings.timeoutMs,
      query_timeout: settings.timeoutMs,
    }) as unknown as PgClient;
    c.on("error", () => drop()); // a lost connection: open again on the next batch
    await c.connect();
    client = c;
    return c;
  };
  const drop = () => {
    const c = client;
    client = undefined;
    columns.clear();
    c?.end().catch(() => {});
  };
  const ensureTable = async (
    c: PgClient,
    type: string,
    fields: Iterable<string>,
    types: Map<string, ColumnType>,
  ) => {
    const table = quoteIdent(pgName(type));
    let known = columns.get(type);
    if (!known) {
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${table} (aggregate_id TEXT PRIMARY KEY, ` +
          "version BIGINT NOT NULL, event_id TEXT, event_type TEXT, updated_at TIMESTAMPTZ)",
      );
      const { rows } = await c.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = " +
          "current_schema() AND table_name = $1",
        [pgName(type)],
      );
      known = new Map(rows.map((r) => [String(r.column_name), String(r.data_type)]));
      columns.set(type, known);
    }
    for (const field of fields) {
      const column = pgName(field);
      const wanted = pgType(types.get(field));
      const has = known.get(column);
      if (has === wanted.info) continue;
      const name = quoteIdent(column);
      if (has === undefined) {
        await c.query(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${name} ${wanted.sql}`);
      } else {
        // The type changed: convert what the column holds (text in between, the common form).
        const using = wanted.info === "bytea"
          ? `decode(${name}::text, 'base64')`
          : has === "bytea"
          ? `encode(${name}, 'base64')::${wanted.sql}`
          : `${name}::text::${wanted.sql}`;
        await c.query(
          `ALTER TABLE ${table} ALTER COLUMN ${name} TYPE ${wanted.sql} USING ${using}`,
        );
      }
      known.set(column, wanted.info);
    }
  };
  // Connection strings may hold a password: errors name neither it nor the URL.
  const failure = (err: unknown) => `postgres: ${errorText(err).replace(settings.connection, "…")}`;
  return {
    maxBatch: 100,
    async deliver(records, signal) {
      if (!stateAt) throw new DeliveryError("the postgres plugin needs the aggregates' state");
      const all = await rowsOf(records, stateAt);
      // Values that do not fit their types fail their event; the rows before it still go.
      const typesOf = new Map<string, Map<string, ColumnType>>();
      const rows: Prepared[] = [];
      let refused: string | undefined;
      for (const row of all) {
        let types = typesOf.get(row.aggregate_type);
        if (!types) {
          types = settings.typing?.(row.aggregate_type) ?? new Map();
          typesOf.set(row.aggregate_type, types);
        }
        try {
          rows.push({ row, values: typedValues(row, types), types });
        } catch (err) {
          if (!(err instanceof ColumnValueError)) throw err;
          refused =
            `postgres: ${row.aggregate_type}/${row.aggregate_id} v${row.version}: ${err.message}`;
          break;
        }
      }
      if (rows.length > 0) await write(rows, signal);
      if (refused !== undefined) throw new DeliveryError(refused, rows.length);
    },
    async check(signal) {
      try {
        await withTimeout(settings.timeoutMs, signal, "connecting to postgres", async () => {
          await (await connect()).query("SELECT 1");
        });
      } catch (err) {
        drop();
        throw new Error(failure(err));
      }
    },
    close() {
      drop();
      return Promise.resolve();
    },
  };

  /** One transaction for the rows: all are acknowledged, or none. */
  async function write(rows: Prepared[], signal: AbortSignal): Promise<void> {
    try {
      await withTimeout(settings.timeoutMs * 4, signal, "the postgres batch", async () => {
        const c = await connect();
        await c.query("BEGIN");
        try {
          // Within one transaction only the last state of each aggregate survives: older
          // rows of the batch are skipped, and each type's rows go in few statements.
          const last = new Map<string, Prepared>();
          for (const p of rows) last.set(`${p.row.aggregate_type}\u0000${p.row.aggregate_id}`, p);
          const byType = new Map<string, Prepared[]>();
          for (const p of last.values()) {
            byType.set(p.row.aggregate_type, [...byType.get(p.row.aggregate_type) ?? [], p]);
          }
          for (const [type, group] of byType) {
            const fields = new Set(group.flatMap((p) => [...p.row.fields.keys()]));
            await ensureTable(c, type, fields, group[0].types);
            // Every column of the table: a field the state no longer has is cleared.
            const known = [...columns.get(type)!.keys()].filter((n) =>
              !(META_COLUMNS as readonly string[]).includes(n)
            );
            const byColumn = new Map([...fields].map((f) => [pgName(f), f]));
            const names = [...META_COLUMNS, ...known];
            const quoted = names.map(quoteIdent);
            const table = quoteIdent(pgName(type));
            const perRow = Math.max(1, Math.floor(MAX_PARAMS / names.length));
            for (let at = 0; at < group.length; at += perRow) {
              const values: unknown[] = [];
              const tuples: string[] = [];
              for (const { row, values: typed } of group.slice(at, at + perRow)) {
                const base = values.length;
                values.push(
                  row.aggregate_id,
                  row.version,
                  row.event_id,
                  row.event_type,
                  row.updated_at,
                );
                for (const column of known) {
                  const field = byColumn.get(column);
                  values.push(field === undefined ? null : typed.get(field) ?? null);
                }
                tuples.push(`(${names.map((_, i) => `$${base + i + 1}`).join(", ")})`);
              }
              await c.query(
                `INSERT INTO ${table} (${quoted.join(", ")}) VALUES ${tuples.join(", ")} ` +
                  `ON CONFLICT (aggregate_id) DO UPDATE SET ${
                    quoted.slice(1).map((q) => `${q} = EXCLUDED.${q}`).join(", ")
                  } WHERE ${table}.version <= EXCLUDED.version`,
                values,
              );
            }
          }
          await c.query("COMMIT");
        } catch (err) {
          await c.query("ROLLBACK").catch(() => {});
          throw err;
        }
      });
    } catch (err) {
      drop();
      throw new DeliveryError(failure(err), 0);
    }
  }
}
