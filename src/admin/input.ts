/**
 * Reading Admin API requests into API input: the JSON body (read by the guard once the key
 * was accepted), path parameters merged in, and no query parameters (the Admin API takes
 * none). Each helper throws DbxError "invalid_input" (400) naming what was wrong; the values
 * themselves are checked by the API.
 */
import type { Context } from "hono";
import { DbxError } from "../errors.ts";
import type { AdminEnv } from "./app.ts";

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The body parsed as JSON; an empty body is `undefined` when `optional`, else a 400.
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * import type { AdminEnv } from "./app.ts";
 * declare const c: Context<AdminEnv>;
 * const value = readJson(c);
 * ```
 */
export function readJson(c: Context<AdminEnv>, optional = false): unknown {
  const text = c.get("body") ?? "";
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

/**
 * The body as a JSON object (`{}` for an empty body when `optional`).
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * import type { AdminEnv } from "./app.ts";
 * declare const c: Context<AdminEnv>;
 * const body = readObject(c, true);
 * ```
 */
export function readObject(c: Context<AdminEnv>, optional = false): JsonObject {
  const body = readJson(c, optional);
  if (body === undefined) return {};
  if (!isObject(body)) throw invalid("the request body must be a JSON object");
  return body;
}

/**
 * `body` with the path's parameters: a body field naming another value is refused (one
 * naming the same value is accepted).
 *
 * @example
 * ```ts
 * withPath({ public_key: "..." }, { name: "standby" }); // { public_key: "...", name: "standby" }
 * ```
 */
export function withPath(body: JsonObject, path: Record<string, string>): JsonObject {
  for (const [field, value] of Object.entries(path)) {
    const given = body[field];
    if (given !== undefined && given !== null && given !== value) {
      throw invalid(
        `the body's ${field} ${JSON.stringify(given).slice(0, 80)} differs from the path's`,
      );
    }
    body[field] = value;
  }
  return body;
}
