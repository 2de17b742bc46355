/**
 * Listings with cursors, filters and sort orders, field selection, and the appends that
 * depend on whether the aggregate exists (the operations the socket's clients need, offered
 * on REST too): each route is one API operation.
 *
 * - `GET /v1/query/aggregates?cursor&take&filter&sort&include_archived&archived_only`
 * - `GET /v1/query/aggregates/{type}/{id}/events?cursor&take&filter`
 * - `GET /v1/query/aggregates/{type}/{id}/select?fields=["a","state.b"]` (or `a,b`)
 * - `POST /v1/aggregates/{type}/{id}/create`: the first event; 409 when it exists
 * - `POST /v1/aggregates/{type}/{id}/apply`: an event; 404 when it does not exist
 */
import { DbxError } from "../../errors.ts";
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { aggregatePath, merge, queryInput, readJson } from "../params.ts";
import { eventBody } from "./events.ts";

/** `fields` as a JSON list of strings, or comma-separated. */
function fieldsParam(text: unknown): unknown {
  if (typeof text !== "string") return text;
  if (!text.trimStart().startsWith("[")) return text.split(",");
  try {
    return JSON.parse(text);
  } catch {
    throw new DbxError("invalid_input", "query parameter fields is not a JSON list");
  }
}

/**
 * Register the query and conditional append routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerQueryRoutes(app, deps);
 * ```
 */
export function registerQueryRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;

  app.get(
    "/v1/query/aggregates",
    guarded(async (c) => {
      const input = queryInput(c, ["take"], ["include_archived", "archived_only"]);
      return c.json(await call(api, c, "queryAggregates", input));
    }),
  );

  app.get(
    "/v1/query/aggregates/:aggregate_type/:aggregate_id/events",
    guarded(async (c) => {
      const input = merge(queryInput(c, ["take"]), aggregatePath(c));
      return c.json(await call(api, c, "queryEvents", input));
    }),
  );

  app.get(
    "/v1/query/aggregates/:aggregate_type/:aggregate_id/select",
    guarded(async (c) => {
      const query = queryInput(c);
      if (query.fields !== undefined) query.fields = fieldsParam(query.fields);
      return c.json(await call(api, c, "selectAggregate", merge(query, aggregatePath(c))));
    }),
  );

  app.post(
    "/v1/aggregates/:aggregate_type/:aggregate_id/create",
    guarded(async (c) => {
      const body = eventBody(readJson(c), "the request body", aggregatePath(c));
      const { event, aggregate, created } = await call(
        api,
        c,
        "createAggregate",
        merge(queryInput(c), body),
      );
      return c.json({ event, aggregate }, created ? 201 : 200);
    }),
  );

  app.post(
    "/v1/aggregates/:aggregate_type/:aggregate_id/apply",
    guarded(async (c) => {
      const body = eventBody(readJson(c), "the request body", aggregatePath(c));
      const { event, created } = await call(api, c, "appendExisting", merge(queryInput(c), body));
      return c.json(event, created ? 201 : 200);
    }),
  );
}
