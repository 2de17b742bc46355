/**
 * Reading aggregates and their events, verification, Merkle proofs, and the snapshot /
 * archive / restore controls: each route is one API operation.
 */
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { aggregatePath, merge, pageResponse, queryInput, readBody, withPath } from "../params.ts";

/**
 * Register the aggregate routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerAggregateRoutes(app, deps);
 * ```
 */
export function registerAggregateRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;
  const PAGE = ["skip", "take"];

  app.get(
    "/v1/aggregates",
    guarded(async (c) =>
      pageResponse(c, await call(api, c, "listAggregates", queryInput(c, PAGE, ["include_state"])))
    ),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id",
    guarded(async (c) => {
      const input = merge(queryInput(c, ["version"]), aggregatePath(c));
      return c.json(await call(api, c, "getAggregate", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/events",
    guarded(async (c) => {
      const input = merge(queryInput(c, PAGE), aggregatePath(c));
      return pageResponse(c, await call(api, c, "listEvents", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/events/recent",
    guarded(async (c) => {
      const input = merge(queryInput(c, ["take"]), aggregatePath(c));
      return c.json(await call(api, c, "recentEvents", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/verify",
    guarded(async (c) => {
      const input = merge(queryInput(c), aggregatePath(c));
      return c.json(await call(api, c, "verifyAggregate", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/proof/inclusion",
    guarded(async (c) => {
      const input = merge(queryInput(c, ["version", "tree_size"]), aggregatePath(c));
      return c.json(await call(api, c, "inclusionProof", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/proof/consistency",
    guarded(async (c) => {
      const input = merge(queryInput(c, ["from", "to"]), aggregatePath(c));
      return c.json(await call(api, c, "consistencyProof", input));
    }),
  );

  const controls = {
    snapshot: "snapshotAggregate",
    archive: "archiveAggregate",
    restore: "restoreAggregate",
  } as const;
  for (const [path, op] of Object.entries(controls)) {
    app.post(
      `/v1/aggregates/:aggregate_type/:aggregate_id/${path}`,
      guarded(async (c) => {
        const body = withPath(readBody(c, true), aggregatePath(c), "the request body");
        return c.json(await call(api, c, op, merge(queryInput(c), body)));
      }),
    );
  }

  app.delete(
    "/v1/aggregates/:aggregate_type/:aggregate_id",
    guarded(async (c) => {
      const input = merge(queryInput(c), aggregatePath(c));
      return c.json(await call(api, c, "removeAggregate", input));
    }),
  );
}
