/**
 * Replication's import over REST: `POST /v1/aggregates/{type}/{id}/import` with
 * `{"events": [...]}` (the events as the sending node lists them). It is how `dbx pull`
 * imports through the server that holds the store; the API decides who may (`aggregate.import`).
 */
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { aggregatePath, readBody, withPath } from "../params.ts";

/**
 * Register the replication routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerReplicationRoutes(app, deps);
 * ```
 */
export function registerReplicationRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;
  app.post(
    "/v1/aggregates/:aggregate_type/:aggregate_id/import",
    guarded(async (c) => {
      const input = withPath(readBody(c), aggregatePath(c), "the request body");
      return c.json(await call(api, c, "importEvents", input));
    }),
  );
}
