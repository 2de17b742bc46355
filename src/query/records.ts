/**
 * Which value a field name means on an aggregate or an event, for filters and sorting.
 * Top-level names are accepted in snake_case and camelCase (`aggregate_type`,
 * `aggregateType`); anything else is a path into the aggregate's state (`status`,
 * `state.owner.group`) or the event's payload (`total`, `payload.total`); events also
 * have `metadata.*` (`metadata.note`, `metadata.issued_by.group`).
 */
import { readPath } from "./filter.ts";

/** An aggregate as filters see it (the state only when the filter reads it). */
export interface AggregateView {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  merkle_root: string;
  archived: boolean;
  created_at: string;
  updated_at: string;
  state?: Record<string, unknown>;
}

/** An event as filters see it. */
export interface EventView {
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  version: number;
  hash: string;
  merkle_root: string;
  position: number;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

const AGGREGATE_FIELDS: Record<string, keyof AggregateView> = {
  aggregate_type: "aggregate_type",
  aggregateType: "aggregate_type",
  aggregate_id: "aggregate_id",
  aggregateId: "aggregate_id",
  version: "version",
  merkle_root: "merkle_root",
  merkleRoot: "merkle_root",
  archived: "archived",
  created_at: "created_at",
  createdAt: "created_at",
  updated_at: "updated_at",
  updatedAt: "updated_at",
};

const EVENT_FIELDS: Record<string, keyof EventView> = {
  aggregate_type: "aggregate_type",
  aggregateType: "aggregate_type",
  aggregate_id: "aggregate_id",
  aggregateId: "aggregate_id",
  event_type: "event_type",
  eventType: "event_type",
  version: "version",
  hash: "hash",
  merkle_root: "merkle_root",
  merkleRoot: "merkle_root",
  position: "position",
};

const EVENT_METADATA: Record<string, string> = {
  event_id: "event_id",
  eventId: "event_id",
  created_at: "created_at",
  createdAt: "created_at",
  note: "note",
  issued_by: "issued_by",
  issuedBy: "issued_by",
};

/** The top-level aggregate field a one-part name means, if any. */
export function aggregateField(name: string): keyof AggregateView | undefined {
  return Object.hasOwn(AGGREGATE_FIELDS, name) ? AGGREGATE_FIELDS[name] : undefined;
}

/** True when the path reads the aggregate's state (not one of its top-level fields). */
export function readsState(path: readonly string[]): boolean {
  return !(path.length === 1 && aggregateField(path[0]) !== undefined);
}

/**
 * The value a path means on an aggregate.
 *
 * @example
 * ```ts
 * const view = { aggregate_type: "order", aggregate_id: "o-1", version: 2, merkle_root: "",
 *   archived: false, created_at: "", updated_at: "", state: { status: "open" } };
 * readAggregateField(view, ["status"]); // "open"
 * readAggregateField(view, ["aggregateType"]); // "order"
 * ```
 */
export function readAggregateField(view: AggregateView, path: readonly string[]): unknown {
  if (path.length === 1) {
    const top = aggregateField(path[0]);
    if (top !== undefined) return view[top];
  }
  const inState = path[0] === "state" && path.length > 1 ? path.slice(1) : path;
  return readPath(view.state, inState);
}

/**
 * The value a path means on an event.
 *
 * @example
 * ```ts
 * declare const event: EventView;
 * readEventField(event, ["payload", "total"]);
 * readEventField(event, ["metadata", "note"]);
 * ```
 */
export function readEventField(view: EventView, path: readonly string[]): unknown {
  if (path.length === 1) {
    const top = Object.hasOwn(EVENT_FIELDS, path[0]) ? EVENT_FIELDS[path[0]] : undefined;
    if (top !== undefined) return view[top];
    if (
      path[0] === "created_at" || path[0] === "createdAt" || path[0] === "event_id" ||
      path[0] === "eventId"
    ) {
      return view.metadata[EVENT_METADATA[path[0]]];
    }
  }
  if (path[0] === "metadata" && path.length > 1) {
    const first = Object.hasOwn(EVENT_METADATA, path[1]) ? EVENT_METADATA[path[1]] : path[1];
    return readPath(view.metadata, [first, ...path.slice(2)]);
  }
  if (path[0] === "payload" && path.length > 1) return readPath(view.payload, path.slice(1));
  return readPath(view.payload, path);
}
