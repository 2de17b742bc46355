/**
 * The sqlite kind: a table per aggregate type in a SQLite file (node:sqlite), one row per
 * aggregate with its state at the event delivered. A batch is one transaction, committed
 * (WAL, synchronous=FULL) before it counts as acknowledged. An older event (a replay)
 * never replaces a newer row.
 */
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DeliveryError, errorText, type Sink } from "./sink.ts";
import { quoteIdent, rowsOf, type StateAt } from "./rows.ts";

/**
 * A sqlite sink.
 *
 * @example
 * ```ts
 * const sink = sqliteSink({ path: "/tmp/dbx-out/state.db" }, () => Promise.resolve({}));
 * await sink.close();
 * ```
 */
export function sqliteSink(settings: { path: string }, stateAt?: StateAt): Sink {
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
  const ensureTable = (d: DatabaseSync, type: string, fields: Iterable<string>) => {
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
      d.exec(`ALTER TABLE ${table} ADD COLUMN ${quoteIdent(field)} TEXT`);
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
      const rows = await rowsOf(records, stateAt);
      let d: DatabaseSync | undefined;
      try {
        d = await open();
        d.exec("BEGIN IMMEDIATE");
        for (const row of rows) {
          ensureTable(d, row.aggregate_type, row.fields.keys());
          const names = ["aggregate_id", "version", "event_id", "event_type", "updated_at"];
          const values: (string | number | null)[] = [
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
            values.push(row.fields.get(column) ?? null);
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
}
