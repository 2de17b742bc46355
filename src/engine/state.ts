/**
 * Aggregate state: the fold of all payloads (SPEC §2). Each top-level payload key
 * replaces the previous value; scalars are kept as strings (null becomes ""), and
 * objects and arrays keep their structure with string leaves.
 */

/** The stored form of one payload value. */
export function normalizeValue(value: unknown): unknown {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(normalizeValue);
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = normalizeValue(v);
    }
    return out;
  }
  return String(value);
}

/**
 * New state after one payload; `state` is not modified.
 *
 * @example
 * ```ts
 * foldPayload({ name: "Jane" }, { age: 42, tags: ["a", 1] });
 * // { name: "Jane", age: "42", tags: ["a", "1"] }
 * ```
 */
export function foldPayload(
  state: Record<string, unknown>,
  payload: Record<string, unknown>,
): Record<string, unknown> {
  const next = { ...state };
  for (const [key, value] of Object.entries(payload)) next[key] = normalizeValue(value);
  return next;
}

/**
 * A deep copy of a state (strings, arrays and objects only), so callers can
 * never alter a state the engine keeps cached.
 *
 * @example
 * ```ts
 * const cached = { name: "Jane", tags: ["a"] };
 * const mine = copyState(cached);
 * (mine.tags as string[]).push("b"); // cached.tags is still ["a"]
 * ```
 */
export function copyState(state: Record<string, unknown>): Record<string, unknown> {
  return copyValue(state) as Record<string, unknown>;
}

function copyValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyValue);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key in value as Record<string, unknown>) {
      out[key] = copyValue((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}
