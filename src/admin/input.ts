/**
 * Reading Admin API requests into API input: the JSON body (read by the guard once the key
 * was accepted), path parameters merged in, and no query parameters (the Admin API takes
 * none). Each helper throws DbxError "invalid_input" (400) naming what was wrong; the values
 * themselves are checked by the API.
 */
import type { Context } from "hono";
import { DbxError } from "../errors.ts";
import type { AdminEnv } from "./app.ts";
import type { JsonObject } from "../api/checks.ts";
import { parseJsonBody, parseJsonObjectBody } from "../http/json_body.ts";

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
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
  return parseJsonBody(c.get("body") ?? "", optional);
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
  return parseJsonObjectBody(c.get("body") ?? "", optional);
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
