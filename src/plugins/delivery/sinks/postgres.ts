/**
 * The postgres kind: a table per aggregate type, one row per aggregate with its state at
 * the event delivered (the `pg` client on one connection, opened again after an error). A
 * batch is one transaction: tables and columns are created as types and fields appear,
 * rows are upserted, and an older event (a replay) never replaces a newer row. The commit
 * acknowledges the batch.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { META_COLUMNS, quoteIdent, rowsOf, type StateAt } from "./rows.ts";
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
  settings: { connection: string; timeoutMs: number },
  stateAt?: StateAt,
): Sink {
  let client: PgClient | undefined;
  const columns = new Map<string, Set<string>>();
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
  const ensureTable = async (c: PgClient, type: string, fields: Iterable<string>) => {
    const table = quoteIdent(pgName(type));
    let known = columns.get(type);
    if (!known) {
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${table} (aggregate_id TEXT PRIMARY KEY, ` +
          "version BIGINT NOT NULL, event_id TEXT, event_type TEXT, updated_at TIMESTAMPTZ)",
      );
      const { rows } = await c.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = " +
          "current_schema() AND table_name = $1",
        [pgName(type)],
      );
      known = new Set(rows.map((r) => String(r.column_name)));
      columns.set(type, known);
    }
    for (const field of fields) {
      const column = pgName(field);
      if (known.has(column)) continue;
      await c.query(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${quoteIdent(column)} TEXT`);
      known.add(column);
    }
  };
  // Connection strings may hold a password: errors name neither it nor the URL.
  const failure = (err: unknown) => `postgres: ${errorText(err).replace(settings.connection, "…")}`;
  return {
    maxBatch: 100,
    async deliver(records, signal) {
      if (!stateAt) throw new DeliveryError("the postgres plugin needs the aggregates' state");
      const rows = await rowsOf(records, stateAt);
      try {
        await withTimeout(settings.timeoutMs * 4, signal, "the postgres batch", async () => {
          const c = await connect();
          await c.query("BEGIN");
          try {
            for (const row of rows) {
              await ensureTable(c, row.aggregate_type, row.fields.keys());
              const names: string[] = [...META_COLUMNS];
              const values: unknown[] = [
                row.aggregate_id,
                row.version,
                row.event_id,
                row.event_type,
                row.updated_at,
              ];
              for (const [field, value] of row.fields) {
                names.push(pgName(field));
                values.push(value);
              }
              const quoted = names.map(quoteIdent);
              const table = quoteIdent(pgName(row.aggregate_type));
              await c.query(
                `INSERT INTO ${table} (${quoted.join(", ")}) VALUES (${
                  names.map((_, i) => `$${i + 1}`).join(", ")
                }) ON CONFLICT (aggregate_id) DO UPDATE SET ${
                  quoted.slice(1).map((q) => `${q} = EXCLUDED.${q}`).join(", ")
                } WHERE ${table}.version <= EXCLUDED.version`,
                values,
              );
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
}
