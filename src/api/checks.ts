/**
 * Checking plain-data input: objects with known fields, strings, integers, booleans and
 * lists. Each helper throws DbxError "invalid_input" with a message naming what was wrong,
 * so every surface answers bad input the same way.
 */
import { DbxError } from "../errors.ts";

// The name rules (SPEC §2), for clients that must check a name before it goes into a URL.
export { validateName as checkName } from "../engine/names.ts";

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * True for a JSON object (not null, not an array).
 *
 * @example
 * ```ts
 * isObject({}); // true
 * isObject([]); // false
 * ```
 */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Check that `value` is a JSON object with only `allowed` fields.
 *
 * @example
 * ```ts
 * checkObject({ note: "x" }, ["note"], "metadata"); // { note: "x" }
 * ```
 */
export function checkObject(value: unknown, allowed: readonly string[], what: string): JsonObject {
  if (!isObject(value)) throw invalid(`${what} must be a JSON object`);
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw invalid(
      `${what} has unknown field${unknown.length > 1 ? "s" : ""} ${
        unknown.map((k) => JSON.stringify(k)).join(", ")
      }; expected ${allowed.join(", ")}`,
    );
  }
  return value;
}

/**
 * An optional string field (null counts as absent).
 *
 * @example
 * ```ts
 * optionalString({ comment: "why" }, "comment"); // "why"
 * ```
 */
export function optionalString(body: JsonObject, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalid(`${field} must be a string`);
  return value;
}

/**
 * A required string field.
 *
 * @example
 * ```ts
 * requiredString({ token: "abc" }, "token"); // "abc"
 * ```
 */
export function requiredString(body: JsonObject, field: string): string {
  const value = optionalString(body, field);
  if (value === undefined) throw invalid(`${field} is required`);
  return value;
}

/**
 * An optional integer field, at least `min` (null counts as absent).
 *
 * @example
 * ```ts
 * optionalInteger({ limit: 5 }, "limit", 0); // 5
 * ```
 */
export function optionalInteger(body: JsonObject, field: string, min = 0): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`${field} must be an integer >= ${min}`);
  }
  return value;
}

/**
 * A required integer field, at least `min`.
 *
 * @example
 * ```ts
 * requiredInteger({ version: 3 }, "version", 1); // 3
 * ```
 */
export function requiredInteger(body: JsonObject, field: string, min = 0): number {
  const value = optionalInteger(body, field, min);
  if (value === undefined) throw invalid(`${field} is required`);
  return value;
}

/**
 * An optional boolean field (null counts as absent).
 *
 * @example
 * ```ts
 * optionalBoolean({ keep_alive: true }, "keep_alive"); // true
 * ```
 */
export function optionalBoolean(body: JsonObject, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalid(`${field} must be true or false`);
  return value;
}

/**
 * An optional list of strings (null counts as absent).
 *
 * @example
 * ```ts
 * optionalStrings({ actions: ["aggregate.read"] }, "actions"); // ["aggregate.read"]
 * ```
 */
export function optionalStrings(body: JsonObject, field: string): string[] | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw invalid(`${field} must be a list of strings`);
  }
  return value;
}

/**
 * Refuse a value nested deeper than `limit` levels (an object or array is one level; its
 * members one more). Iterative, so no input can overflow the stack here; every code path that
 * handles accepted data may then recurse as deep as the limit.
 *
 * @example
 * ```ts
 * checkJsonDepth({ a: [1] }, 64, "the input"); // ok: depth 2
 * checkJsonDepth({ a: { b: {} } }, 2, "the input"); // throws invalid_input naming the limit
 * ```
 */
export function checkJsonDepth(value: unknown, limit: number, what: string): void {
  if (value === null || typeof value !== "object") return;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > limit) {
      throw invalid(
        `${what} is nested deeper than ${limit} levels (the limit, max_json_depth in config.toml)`,
      );
    }
    for (const key in node as Record<string, unknown>) {
      const child = (node as Record<string, unknown>)[key];
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
}

/**
 * A page's `take`: `fallback` when absent, never more than `limit`.
 *
 * @example
 * ```ts
 * pageTake({ take: 5000 }, 10, 1000); // 1000
 * pageTake({}, 10, 1000); // 10
 * ```
 */
export function pageTake(body: JsonObject, fallback: number, limit: number): number {
  return Math.min(optionalInteger(body, "take", 0) ?? fallback, limit);
}
