/**
 * Appending events: `POST /v1/events` (aggregate in the body, current seed),
 * `POST /v1/aggregates/{type}/{id}/events` (older seed) and the atomic
 * `POST /v1/events/batch`. A write answers 201 with the EventRecord; an idempotent retry
 * (same `event_id`) answers 200 with the original record.
 *
 * What is REST's own here is only the body's spelling: `metadata.note` (the older upstream
 * form) as well as `note`, and the aggregate in the path; the API checks everything else.
 */
import { checkObject, isObject, type JsonObject } from "../../api/checks.ts";
import { DbxError } from "../../errors.ts";
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { aggregatePath, merge, queryInput, readJson, withPath } from "../params.ts";

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * One event of a request body as API input: `metadata.note` becomes `note` (both must agree
 * when both are given) and the path's aggregate, if any, is filled in.
 *
 * @example
 * ```ts
 * eventBody({ event_type: "patient-updated", metadata: { note: "moved" } }, "the request body");
 * // { event_type: "patient-updated", note: "moved" }
 * ```
 */
export function eventBody(
  raw: unknown,
  what: string,
  path?: { aggregate_type: string; aggregate_id: string },
): JsonObject {
  if (!isObject(raw)) throw invalid(`${what} must be a JSON object`);
  // In place: the body was parsed for this request alone.
  const body = raw;
  const metadata = body.metadata;
  // Only when present: deleting a property makes V8 store the object more slowly.
  if (metadata !== undefined) delete body.metadata;
  if (metadata !== undefined && metadata !== null) {
    const inner = checkObject(metadata, ["note"], `${what}: metadata`).note ?? undefined;
    if (inner !== undefined) {
      const outer = body.note ?? undefined;
      if (outer !== undefined && outer !== inner) {
        throw invalid(`${what}: note and metadata.note differ; give one of them`);
      }
      body.note = inner;
    }
  }
  return path ? withPath(body, path, what) : body;
}

/**
 * Register the append routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerEventRoutes(app, deps);
 * ```
 */
export function registerEventRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;

  app.post(
    "/v1/events",
    guarded(async (c) => {
      const input = merge(queryInput(c), eventBody(readJson(c), "the request body"));
      const { event, created } = await call(api, c, "appendEvent", input);
      return c.json(event, created ? 201 : 200);
    }),
  );

  app.post(
    "/v1/aggregates/:aggregate_type/:aggregate_id/events",
    guarded(async (c) => {
      const body = eventBody(readJson(c), "the request body", aggregatePath(c));
      const { event, created } = await call(api, c, "appendEvent", merge(queryInput(c), body));
      return c.json(event, created ? 201 : 200);
    }),
  );

  app.post(
    "/v1/events/batch",
    guarded(async (c) => {
      const body = readJson(c);
      let events: unknown;
      if (Array.isArray(body)) events = body;
      else if (isObject(body)) events = body.events;
      if (!Array.isArray(events)) {
        throw invalid('the request body must be {"events": [...]} or a JSON array of events');
      }
      // Other fields of the body go on to the API, which refuses what it does not know.
      const input = merge(queryInput(c), {
        ...(isObject(body) ? body : {}),
        events: events.map((raw, i) => eventBody(raw, `event ${i + 1}`)),
      });
      const result = await call(api, c, "appendEvents", input);
      return c.json({ events: result.events }, result.created ? 201 : 200);
    }),
  );
}
