/**
 * Opaque page cursors: where the next page of a listing starts. A cursor is
 * `c1.` + base64url(JSON) of a small position record; clients pass it back unchanged. A
 * cursor that is not one this server issues (bad text, wrong shape, another sort order) is
 * refused with DbxError "invalid_input" and `details.reason = "invalid_cursor"`.
 */
import { Buffer } from "node:buffer";
import { DbxError } from "../errors.ts";

const PREFIX = "c1.";
const MAX_CURSOR_LENGTH = 2048;

/** After one aggregate of a listing, in a sort order. */
export interface AggregateCursor {
  /** The sort order (canonical text; "" for key order). */
  sort: string;
  /** The sort values of the last aggregate returned, its type and id last. */
  after: (string | number | boolean)[];
}

/** After one event of an aggregate. */
export interface EventCursor {
  version: number;
}

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", `invalid cursor: ${message}`, { reason: "invalid_cursor" });
}

function encode(value: unknown): string {
  return PREFIX + Buffer.from(JSON.stringify(value)).toString("base64url");
}

function decode(text: unknown): Record<string, unknown> {
  if (typeof text !== "string" || text.length > MAX_CURSOR_LENGTH || !text.startsWith(PREFIX)) {
    throw invalid("it is not a cursor this server issued");
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text.slice(PREFIX.length), "base64url").toString("utf8"));
  } catch {
    throw invalid("it is not a cursor this server issued");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("it is not a cursor this server issued");
  }
  return value as Record<string, unknown>;
}

/**
 * The cursor after an aggregate.
 *
 * @example
 * ```ts
 * const text = aggregateCursor({ sort: "", after: ["order", "o-1"] });
 * readAggregateCursor(text, ""); // { sort: "", after: ["order", "o-1"] }
 * ```
 */
export function aggregateCursor(cursor: AggregateCursor): string {
  return encode({ s: cursor.sort, a: cursor.after });
}

/** Read an aggregate cursor issued for the sort order `sort` (canonical text). */
export function readAggregateCursor(text: unknown, sort: string): AggregateCursor {
  const value = decode(text);
  const after = value.a;
  if (
    typeof value.s !== "string" || !Array.isArray(after) || after.length < 2 ||
    after.length > 16 ||
    !after.every((v) => ["string", "number", "boolean"].includes(typeof v)) ||
    typeof after[after.length - 1] !== "string" || typeof after[after.length - 2] !== "string"
  ) {
    throw invalid("it is not an aggregate listing cursor");
  }
  if (value.s !== sort) {
    throw invalid(
      `it was issued for the sort order ${JSON.stringify(value.s || "(default)")}, ` +
        `not ${JSON.stringify(sort || "(default)")}`,
    );
  }
  return { sort, after: after as (string | number | boolean)[] };
}

/**
 * The cursor after an event (by version).
 *
 * @example
 * ```ts
 * readEventCursor(eventCursor({ version: 10 })); // { version: 10 }
 * ```
 */
export function eventCursor(cursor: EventCursor): string {
  return encode({ v: cursor.version });
}

/** Read an event cursor. */
export function readEventCursor(text: unknown): EventCursor {
  const value = decode(text);
  if (!Number.isSafeInteger(value.v) || (value.v as number) < 0) {
    throw invalid("it is not an event listing cursor");
  }
  return { version: value.v as number };
}
