/**
 * The schema of one aggregate type, exactly as stored in `<dataDir>/schemas.json`
 * (a JSON object mapping each aggregate type to its schema), as shown by
 * `dbx schema show --json`, and as read by `dbx schema load`.
 *
 * Semantics:
 * - `events` declares every event type the aggregate accepts; others are refused.
 * - An event's `fields` lists the payload fields it permits. An empty list permits
 *   any fields. A listed field is required for that event when its column says
 *   `rules.required: true` (a column's `required` applies only to events that list
 *   the field).
 * - `locked: true` refuses every event of the aggregate type; `field_locks` refuses
 *   any event whose payload contains one of those fields.
 * - `columns` gives a field a type and rules; they apply to every event carrying
 *   the field. Fields without a column are not type-checked.
 *
 * @example
 * ```json
 * {
 *   "aggregate": "invoice",
 *   "events": {
 *     "invoice-paid": { "fields": ["amount", "paid_at"], "notes": "paid in full" }
 *   },
 *   "snapshot_threshold": 100,
 *   "locked": false,
 *   "field_locks": ["customer_id"],
 *   "columns": {
 *     "amount": { "type": "decimal(10,2)", "rules": { "required": true, "range": { "min": "0" } } },
 *     "paid_at": { "type": "timestamp" }
 *   },
 *   "created_at": "2025-01-01T00:00:00.000Z",
 *   "updated_at": "2025-01-01T00:00:00.000Z"
 * }
 * ```
 */
export interface AggregateSchema {
  /** The aggregate type this schema governs. */
  aggregate: string;
  /** Declared event types, sorted by name. */
  events: Record<string, EventDefinition>;
  /** Take a snapshot automatically when the version is a multiple of this (>= 1). */
  snapshot_threshold?: number;
  /** Refuse every event of this aggregate type. */
  locked: boolean;
  /** Fields no event may carry (sorted, unique). */
  field_locks: string[];
  /** Column type and rules per field, sorted by field name. */
  columns: Record<string, ColumnDefinition>;
  /** RFC 3339 UTC. */
  created_at: string;
  /** RFC 3339 UTC. */
  updated_at: string;
}

/** One declared event type. */
export interface EventDefinition {
  /** Permitted fields (sorted, unique); empty = any fields. */
  fields: string[];
  /** Free text annotation, at most 128 characters. */
  notes?: string;
}

/** The base kinds of column type; `decimal` is written `decimal(p,s)`. */
export type ColumnKind =
  | "integer"
  | "float"
  | "decimal"
  | "boolean"
  | "text"
  | "timestamp"
  | "date"
  | "json"
  | "binary"
  | "object";

/** Values of the `format` rule. */
export type FieldFormat = "email" | "url" | "credit_card" | "iso8601" | "country_code";

/** Type and rules of one field. */
export interface ColumnDefinition {
  /**
   * `integer | float | decimal(p,s) | boolean | text | timestamp | date | json |
   * binary | object` (canonical lowercase form).
   */
  type: string;
  rules?: ColumnRules;
  /** For `object` columns: the nested fields, checked the same way. */
  properties?: Record<string, ColumnDefinition>;
}

/**
 * Rules of a column, stored in normalized form (lists for the text rules, strings
 * for range bounds). Which rules fit which types:
 * - `required`: any type.
 * - `length` (characters for text, decoded bytes for binary): text, binary.
 * - `range` (inclusive; decimals compared exactly): integer, float, decimal,
 *   timestamp (RFC 3339 bounds), date (`YYYY-MM-DD` bounds).
 * - `regex` (JavaScript syntax, unanchored, all must match), `contains` (all must
 *   occur), `does_not_contain` (none may occur), `format`: text.
 */
export interface ColumnRules {
  required?: boolean;
  length?: { min?: number; max?: number };
  range?: { min?: string; max?: string };
  regex?: string[];
  contains?: string[];
  does_not_contain?: string[];
  format?: FieldFormat;
}

/** The changes `SchemaStore.alter` applies together (CLI `schema alter`). */
export interface SchemaAlteration {
  /** New snapshot threshold; 0 or null removes it. */
  snapshot_threshold?: number | null;
  /** Lock or unlock the whole aggregate type. */
  locked?: boolean;
  /** Lock or unlock one field. */
  field_lock?: { field: string; locked: boolean };
  /** Add or remove permitted fields of one declared event. */
  event_fields?: { event: string; add?: string[]; remove?: string[] };
  /**
   * Set or remove one column. `type` sets the type (keeping compatible rules);
   * `rules` replaces the rules (null clears them); `remove` deletes the column.
   * `rules` may use the input forms `SchemaStore.put` accepts.
   */
  column?: { field: string; type?: string; rules?: unknown; remove?: boolean };
}
