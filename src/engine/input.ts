/**
 * The input rules of an append (SPEC §2): names, note, payload or patch, sizes, event id and
 * expected version. Checked once, before an input reaches the writer; the result carries a
 * type-level mark so the writer's entry point cannot be handed unchecked input.
 */
import { DbxError } from "../errors.ts";
import { validateEventId, validateName, validateNote } from "./names.ts";
import type { AppendInput } from "./types.ts";

/** Largest accepted payload (and patch), in bytes of JSON, unless configured otherwise. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;

declare const checked: unique symbol;

/** An append input that passed {@link checkAppendInput}. */
export type CheckedAppendInput = Readonly<AppendInput> & { readonly [checked]: true };

/** Limits that apply to every append input. */
export interface InputLimits {
  /** Largest payload or patch, in bytes of JSON. */
  maxPayloadBytes: number;
}

const DEFAULT_LIMITS: InputLimits = { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES };

/**
 * Check one append input and return its normalised form (event id lower-cased, nulls
 * dropped). Throws DbxError "invalid_input" or "too_large" naming what is wrong.
 *
 * @example
 * ```ts
 * const input = checkAppendInput({
 *   aggregate_type: "patient",
 *   aggregate_id: "p-001",
 *   event_type: "patient-added",
 *   payload: { name: "Jane" },
 * });
 * input.aggregate_id; // "p-001"
 * ```
 */
export function checkAppendInput(
  input: AppendInput,
  limits: InputLimits = DEFAULT_LIMITS,
): CheckedAppendInput {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new DbxError("invalid_input", "an event must be a JSON object");
  }
  validateName("aggregate type", input.aggregate_type);
  validateName("aggregate id", input.aggregate_id);
  validateName("event type", input.event_type);
  const note = validateNote(input.note);
  const max = limits.maxPayloadBytes;
  if (input.payload !== undefined && input.patch !== undefined) {
    throw new DbxError("invalid_input", "payload and patch are mutually exclusive");
  }
  // An event says what changed: an empty payload must be asked for ({}), never implied.
  if (input.payload === undefined && input.patch === undefined) {
    throw new DbxError("invalid_input", "an event needs a payload or a patch");
  }
  if (input.payload !== undefined) {
    const p = input.payload;
    if (typeof p !== "object" || p === null || Array.isArray(p)) {
      throw new DbxError("invalid_input", "payload must be a JSON object");
    }
    // Its size is decided with its canonical text (decideAppend), which is computed anyway.
    for (const field of Object.keys(p)) validateName("field name", field);
  }
  if (input.patch !== undefined) {
    let size: number;
    try {
      size = jsonByteLength(JSON.stringify(input.patch), max);
    } catch {
      throw new DbxError("invalid_input", "patch is not valid JSON");
    }
    if (size > max) throw new DbxError("too_large", `patch is larger than ${max} bytes`);
  }
  const ev = input.expected_version;
  if (ev !== undefined && ev !== null && (!Number.isSafeInteger(ev) || ev < 0)) {
    throw new DbxError("invalid_input", "expected_version must be a non-negative integer");
  }
  const out: AppendInput = {
    aggregate_type: input.aggregate_type,
    aggregate_id: input.aggregate_id,
    event_type: input.event_type,
  };
  if (input.payload !== undefined) out.payload = input.payload;
  if (input.patch !== undefined) out.patch = input.patch;
  if (note !== undefined) out.note = note;
  if (input.event_id !== undefined && input.event_id !== null) {
    out.event_id = validateEventId(input.event_id);
  }
  if (ev !== undefined && ev !== null) out.expected_version = ev;
  return out as CheckedAppendInput;
}

/**
 * Check the aggregate an operation names (type and id).
 *
 * @example
 * ```ts
 * checkAggregate("patient", "p-001"); // { type: "patient", id: "p-001" }
 * ```
 */
export function checkAggregate(type: unknown, id: unknown): { type: string; id: string } {
  return { type: validateName("aggregate type", type), id: validateName("aggregate id", id) };
}

const utf8 = new TextEncoder();

/**
 * UTF-8 size of a JSON text, exact when it could pass `limit` (a UTF-16 unit is at most 3
 * UTF-8 bytes, so short texts skip the encoding); 0 for values JSON cannot hold.
 *
 * @example
 * ```ts
 * jsonByteLength('{"a":"é"}', 1 << 20); // 9 (short: counted in UTF-16 units)
 * jsonByteLength('{"a":"é"}', 3); // 10 (exact)
 * ```
 */
export function jsonByteLength(json: string | undefined, limit: number): number {
  if (json === undefined) return 0;
  return json.length * 3 <= limit ? json.length : utf8.encode(json).length;
}
