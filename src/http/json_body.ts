/**
 * A request body's text as JSON input, the same way on every HTTP surface (REST, the Admin
 * API): an empty body is absent when the route allows it, malformed JSON and non-objects are
 * DbxError "invalid_input" (400) naming what was wrong. The values are checked by the API.
 */
import { isObject, type JsonObject } from "../api/checks.ts";
import { DbxError } from "../errors.ts";

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * `text` parsed as JSON. An empty body is `undefined` when `optional`, else a 400.
 *
 * @example
 * ```ts
 * parseJsonBody('{"a":1}'); // { a: 1 }
 * parseJsonBody("", true); // undefined
 * ```
 */
export function parseJsonBody(text: string, optional = false): unknown {
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
 * `text` parsed as a JSON object (`{}` for an empty body when `optional`).
 *
 * @example
 * ```ts
 * parseJsonObjectBody("", true); // {}
 * ```
 */
export function parseJsonObjectBody(text: string, optional = false): JsonObject {
  const body = parseJsonBody(text, optional);
  if (body === undefined) return {};
  if (!isObject(body)) throw invalid("the request body must be a JSON object");
  return body;
}
