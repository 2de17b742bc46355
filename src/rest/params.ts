/**
 * Reading REST input into API input: JSON bodies, query numbers and path parameters. Each
 * helper throws DbxError "invalid_input" (400) naming what was wrong; the values themselves
 * are checked by the API, the same way for every surface.
 */
import type { Context } from "hono";
import type { JsonObject } from "../api/checks.ts";
import { DbxError } from "../errors.ts";
import type { AppEnv } from "./auth.ts";
import { bodyText } from "./body.ts";
import { parseJsonBody, parseJsonObjectBody } from "../http/json_body.ts";

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * The request body parsed as JSON. An empty body is `undefined` when `optional`, else a
 * 400; malformed JSON is always a 400.
 *
 * @example
 * ```ts
 * import type { AppEnv } from "./auth.ts";
 * import type { Context } from "hono";
 * declare const c: Context<AppEnv>;
 * const body = readJson(c); // unknown
 * ```
 */
export function readJson(c: Context<AppEnv>, optional = false): unknown {
  return parseJsonBody(bodyText(c), optional);
}

/**
 * The request body as a JSON object (`{}` for an empty body when `optional`).
 *
 * @example
 * ```ts
 * import type { AppEnv } from "./auth.ts";
 * import type { Context } from "hono";
 * declare const c: Context<AppEnv>;
 * const body = readBody(c, true);
 * ```
 */
export function readBody(c: Context<AppEnv>, optional = false): JsonObject {
  return parseJsonObjectBody(bodyText(c), optional);
}

/**
 * A body merged with the aggregate the path names: a body field naming another aggregate is
 * refused (one naming the same one is accepted, as the older seed sent it).
 *
 * @example
 * ```ts
 * import type { AppEnv } from "./auth.ts";
 * import type { Context } from "hono";
 * declare const c: Context<AppEnv>;
 * withPath({ comment: "why" }, aggregatePath(c), "the request body");
 * ```
 */
export function withPath(
  body: JsonObject,
  path: { aggregate_type: string; aggregate_id: string },
  what: string,
): JsonObject {
  for (const field of ["aggregate_type", "aggregate_id"] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && value !== path[field]) {
      throw invalid(`${what}: ${field} ${JSON.stringify(value)} differs from the path's`);
    }
    // In place: the body was parsed for this request alone.
    body[field] = path[field];
  }
  return body;
}

/**
 * A non-negative integer query parameter, or `fallback` when absent.
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * declare const c: Context;
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
 * A boolean query parameter: "", "false" and "0" are false; "true" and "1" true.
 *
 * @example
 * ```ts
 * parseFlag("true", "replace"); // true
 * ```
 */
export function parseFlag(text: string, name: string): boolean {
  if (text === "" || text === "false" || text === "0") return false;
  if (text === "true" || text === "1") return true;
  throw invalid(`query parameter ${name} must be true or false`);
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
 * The `{type}/{id}` path parameters, as API input (the API checks them as names).
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * declare const c: Context;
 * const target = aggregatePath(c); // { aggregate_type, aggregate_id }
 * ```
 */
export function aggregatePath(c: Context): { aggregate_type: string; aggregate_id: string } {
  return {
    aggregate_type: c.req.param("aggregate_type")!,
    aggregate_id: c.req.param("aggregate_id")!,
  };
}

/**
 * The request's query parameters as API input: those in `numbers` parsed as non-negative
 * integers, those in `flags` as booleans, any other passed on as text, so that the API refuses
 * what it does not know exactly as it refuses an unknown body field.
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * declare const c: Context;
 * queryInput(c, ["skip", "take"]); // ?take=5 -> { take: 5 }; ?tkae=5 -> { tkae: "5" } (refused)
 * ```
 */
export function queryInput(
  c: Context,
  numbers: readonly string[] = [],
  flags: readonly string[] = [],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const url = c.req.url;
  const at = url.indexOf("?");
  // Most requests have no query string: skip parsing the URL.
  if (at < 0 || at === url.length - 1) return out;
  for (const [name, text] of new URLSearchParams(url.slice(at + 1))) {
    if (Object.hasOwn(out, name)) throw invalid(`query parameter ${name} is given twice`);
    if (numbers.includes(name)) out[name] = parseCount(text, `query parameter ${name}`);
    else if (flags.includes(name)) out[name] = parseFlag(text, name);
    else out[name] = text;
  }
  return out;
}

/**
 * API input from the parts of a request (query, body, path); a field given by two parts is
 * refused rather than one silently winning.
 *
 * @example
 * ```ts
 * merge({ take: 5 }, { aggregate_type: "a", aggregate_id: "b" });
 * // { take: 5, aggregate_type: "a", aggregate_id: "b" }
 * ```
 */
export function merge(...parts: Record<string, unknown>[]): Record<string, unknown> {
  // The common case: nothing in the query string (every part but one is empty).
  const given = parts.filter((part) => Object.keys(part).length > 0);
  if (given.length <= 1) return given[0] ?? {};
  const out: Record<string, unknown> = {};
  for (const part of given) {
    for (const [key, value] of Object.entries(part)) {
      if (Object.hasOwn(out, key)) {
        throw invalid(`${key} is given twice (in the path, the query or the body)`);
      }
      out[key] = value;
    }
  }
  return out;
}

/**
 * A page's items as the body (the seeds document plain arrays), with a
 * `Link: <…>; rel="next"` header naming the next page when there is one (RFC 8288).
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * declare const c: Context;
 * const response = pageResponse(c, { items: [], next: 20 });
 * ```
 */
export function pageResponse(c: Context, page: { items: unknown[]; next?: number }): Response {
  if (page.next === undefined) return c.json(page.items);
  const url = new URL(c.req.url);
  url.searchParams.set("skip", String(page.next));
  return c.json(page.items, 200, { Link: `<${url.pathname}${url.search}>; rel="next"` });
}
