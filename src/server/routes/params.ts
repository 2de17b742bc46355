/**
 * Reading request input: JSON bodies, query numbers and path names. Each
 * helper throws DbxError("invalid_input") (400) with a message naming what was
 * wrong; the values themselves are checked further by the engine.
 */
import type { Context } from "hono";
import { validateName } from "../../engine/names.ts";
import { DbxError } from "../../errors.ts";
import type { AppEnv } from "../auth_middleware.ts";
import { bodyText } from "./body.ts";

/** A JSON object body. */
export type JsonObject = Record<string, unknown>;

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * The request body parsed as JSON. An empty body is `undefined` when
 * `optional`, else a 400; malformed JSON is always a 400.
 *
 * @example
 * ```ts
 * const body = readJson(c); // unknown
 * ```
 */
export function readJson(c: Context<AppEnv>, optional = false): unknown {
  const text = bodyText(c);
  if (text.trim() === "") {
    if (optional) return undefined;
    throw invalid("the request body is empty; send a JSON object");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** True for a JSON object (not null, not an array). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The request body as a JSON object whose fields are all in `allowed`.
 * With `optional`, an empty body is `{}`.
 *
 * @example
 * ```ts
 * const body = readObject(c, ["comment"], true);
 * ```
 */
export function readObject(
  c: Context<AppEnv>,
  allowed: readonly string[],
  optional = false,
): JsonObject {
  const body = readJson(c, optional);
  if (body === undefined) return {};
  return checkObject(body, allowed, "the request body");
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
 * optionalString(body, "comment"); // string | undefined
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
 * requiredString(body, "token");
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
 * optionalInteger(body, "limit", 0); // number | undefined
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
 * An optional boolean field (null counts as absent).
 *
 * @example
 * ```ts
 * optionalBoolean(body, "keep_alive"); // boolean | undefined
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
 * optionalStrings(body, "actions"); // string[] | undefined
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
 * A non-negative integer query parameter, or `fallback` when absent.
 *
 * @example
 * ```ts
 * queryInteger(c, "skip", 0); // ?skip=20 -> 20; ?skip=-1 -> 400
 * ```
 */
export function queryInteger(c: Context, name: string, fallback: number): number;
export function queryInteger(c: Context, name: string): number | undefined;
export function queryInteger(c: Context, name: string, fallback?: number): number | undefined {
  const text = c.req.query(name);
  if (text === undefined) return fallback;
  return parseCount(text, `query parameter ${name}`);
}

/**
 * A required non-negative integer query parameter.
 *
 * @example
 * ```ts
 * requiredQueryInteger(c, "version"); // ?version=3 -> 3; absent -> 400
 * ```
 */
export function requiredQueryInteger(c: Context, name: string): number {
  const value = queryInteger(c, name);
  if (value === undefined) throw invalid(`query parameter ${name} is required`);
  return value;
}

/**
 * Parse a non-negative decimal integer (no sign, no fraction, no exponent).
 *
 * @example
 * ```ts
 * parseCount("42", "take"); // 42
 * ```
 */
export function parseCount(text: string, what: string): number {
  const value = /^[0-9]+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw invalid(`${what} must be a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * `take` for a page: `fallback` when absent, never more than `limit`.
 *
 * @example
 * ```ts
 * pageTake(c, config.list_page_size, config.page_limit);
 * ```
 */
export function pageTake(c: Context, fallback: number, limit: number): number {
  return Math.min(queryInteger(c, "take", fallback), limit);
}

/**
 * The `{type}/{id}` path parameters, checked as names.
 *
 * @example
 * ```ts
 * const { type, id } = aggregatePath(c);
 * ```
 */
export function aggregatePath(c: Context): { type: string; id: string } {
  return {
    type: validateName("aggregate type", c.req.param("aggregate_type")),
    id: validateName("aggregate id", c.req.param("aggregate_id")),
  };
}

/**
 * A name from the path (an aggregate type of a schema, an event type).
 *
 * @example
 * ```ts
 * pathName(c, "aggregate", "aggregate type");
 * ```
 */
export function pathName(c: Context, param: string, what: string): string {
  return validateName(what, c.req.param(param));
}
