/**
 * The row of an aggregate as the table kinds (postgres, sqlite, csv) keep it: one row per
 * aggregate (per aggregate type, a table or file) holding its state at the event delivered,
 * with a column per top-level state field. Scalar state values are strings already;
 * objects and arrays are stored as their JSON text. Columns are added as fields appear.
 */
import type { EventRecord } from "../../../engine/types.ts";

/** Columns every row has, before the state's fields. */
export const META_COLUMNS = [
  "aggregate_id",
  "version",
  "event_id",
  "event_type",
  "updated_at",
] as const;

/** One aggregate's row at one event. */
export interface StateRow {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  event_id: string;
  event_type: string;
  updated_at: string;
  /** Column name → text (null for an empty value). */
  fields: Map<string, string | null>;
}

/**
 * The column of a state field: its own name, or `state_<name>` where it would take the
 * name of a meta column.
 *
 * @example
 * ```ts
 * fieldColumn("status"); // "status"
 * fieldColumn("version"); // "state_version"
 * ```
 */
export function fieldColumn(field: string): string {
  return (META_COLUMNS as readonly string[]).includes(field) || field.startsWith("state_")
    ? `state_${field}`
    : field;
}

/**
 * The row of `record`'s aggregate, given its state at that event.
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../../../engine/types.ts";
 * declare const record: EventRecord;
 * stateRow(record, { name: "Jane", tags: ["a"] }).fields.get("tags"); // '["a"]'
 * ```
 */
export function stateRow(record: EventRecord, state: Record<string, unknown>): StateRow {
  const fields = new Map<string, string | null>();
  for (const [key, value] of Object.entries(state)) {
    fields.set(
      fieldColumn(key),
      value === null || value === undefined || value === ""
        ? null
        : typeof value === "string"
        ? value
        : JSON.stringify(value),
    );
  }
  return {
    aggregate_type: record.aggregate_type,
    aggregate_id: record.aggregate_id,
    version: record.version,
    event_id: record.metadata.event_id,
    event_type: record.event_type,
    updated_at: record.metadata.created_at,
    fields,
  };
}

/** Where the table kinds read an aggregate's state at an event. */
export type StateAt = (record: EventRecord) => Promise<Record<string, unknown>>;

/**
 * The rows of a batch, each with its aggregate's state at its event.
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../../../engine/types.ts";
 * declare const records: EventRecord[];
 * const rows = await rowsOf(records, (r) => Promise.resolve(r.payload));
 * ```
 */
export async function rowsOf(
  records: readonly EventRecord[],
  stateAt: StateAt,
): Promise<StateRow[]> {
  const out: StateRow[] = [];
  for (const record of records) out.push(stateRow(record, await stateAt(record)));
  return out;
}

/**
 * A quoted SQL identifier.
 *
 * @example
 * ```ts
 * quoteIdent('say "hi"'); // '"say ""hi"""'
 * ```
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
