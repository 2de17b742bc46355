import { DbxError } from "../errors.ts";

const MAX_NAME_BYTES = 128;
const MAX_NOTE_CHARS = 128;
// C0, DEL and C1 control characters.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const encoder = new TextEncoder();

/**
 * Check an aggregate type, id, event type or field name (SPEC §2 "Names").
 *
 * @example
 * ```ts
 * validateName("aggregate type", "patient"); // ok
 * validateName("aggregate id", ""); // throws DbxError("invalid_input")
 * ```
 */
export function validateName(what: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new DbxError("invalid_input", `${what} must be a non-empty string`);
  }
  // A UTF-16 unit is at most 3 UTF-8 bytes: short names need no encoding to be counted.
  if (value.length * 3 > MAX_NAME_BYTES && encoder.encode(value).length > MAX_NAME_BYTES) {
    throw new DbxError("invalid_input", `${what} is longer than ${MAX_NAME_BYTES} bytes`);
  }
  if (CONTROL.test(value)) {
    throw new DbxError("invalid_input", `${what} contains a control character`);
  }
  // A URL path can never carry these: clients would reach another resource instead.
  if (value === "." || value === "..") {
    throw new DbxError("invalid_input", `${what} must not be "." or ".."`);
  }
  return value;
}

/** Check an optional note (or comment): a string of at most 128 characters. */
export function validateNote(note: unknown, what = "note"): string | undefined {
  if (note === undefined || note === null) return undefined;
  if (typeof note !== "string") throw new DbxError("invalid_input", `${what} must be a string`);
  if ([...note].length > MAX_NOTE_CHARS) {
    throw new DbxError("invalid_input", `${what} is longer than ${MAX_NOTE_CHARS} characters`);
  }
  return note;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Check a caller-supplied event id: it must be a UUID. */
export function validateEventId(eventId: unknown): string {
  if (typeof eventId !== "string" || !UUID.test(eventId)) {
    throw new DbxError("invalid_input", "event_id must be a UUID");
  }
  return eventId.toLowerCase();
}
