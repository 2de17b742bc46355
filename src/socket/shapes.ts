/**
 * The JSON the official client SDKs expect in the socket's answers (they parse it strictly):
 * snake_case records as the API gives them, except that every state value is a string —
 * the clients read state as a map of strings and parse each value themselves. Scalar state
 * values are strings already; objects and arrays travel as their JSON text, and a selected
 * scalar that spells a number or boolean is given as that JSON value, as upstream does.
 */
import type { AggregateRecord, EventRecord } from "../api/operations.ts";

function stateText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  return JSON.stringify(value);
}

/**
 * An aggregate in the clients' shape.
 *
 * @example
 * ```ts
 * declare const record: import("../api/operations.ts").AggregateRecord;
 * JSON.stringify(aggregateShape(record));
 * ```
 */
export function aggregateShape(record: AggregateRecord): Record<string, unknown> {
  const state: Record<string, string> = {};
  for (const key of Object.keys(record.state)) {
    // defineProperty: a key named "__proto__" stays a key.
    Object.defineProperty(state, key, {
      value: stateText(record.state[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return {
    aggregate_type: record.aggregate_type,
    aggregate_id: record.aggregate_id,
    version: record.version,
    state,
    merkle_root: record.merkle_root,
    archived: record.archived,
    created_at: record.created_at,
    updated_at: record.updated_at,
  };
}

/** An event in the clients' shape (the API's record as it is). */
export function eventShape(record: EventRecord): EventRecord {
  return record;
}

/** A selected value: a string spelling a JSON scalar becomes that scalar. */
export function selectedValue(value: unknown): unknown {
  if (typeof value !== "string") return value;
  if (value === "true") return true;
  if (value === "false") return false;
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(value)) {
    const n = Number(value);
    if (Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n))) return n;
  }
  return value;
}
