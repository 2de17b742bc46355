/**
 * Reading aggregates and their events, verification, Merkle proofs, and the snapshot /
 * archive / restore controls: each route is one API operation.
 */
import { call } from "../call.ts";
import type { App, RouteDeps } from "../deps.ts";
import {
  aggregatePath,
  pageResponse,
  queryFlag,
  queryInteger,
  queryNumbers,
  readBody,
  withPath,
} from "../params.ts";

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

  app.get(
    "/v1/aggregates",
    guarded(async (c) => {
      const input: Record<string, unknown> = queryNumbers(c, ["skip", "take"]);
      const type = c.req.query("aggregate_type");
      if (type !== undefined) input.aggregate_type = type;
      if (queryFlag(c, "include_state")) input.include_state = true;
      return pageResponse(c, await call(api, c, "listAggregates", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id",
    guarded(async (c) => {
      const version = queryInteger(c, "version");
      const input = version === undefined ? aggregatePath(c) : { ...aggregatePath(c), version };
      return c.json(await call(api, c, "getAggregate", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/events",
    guarded(async (c) => {
      const input = { ...aggregatePath(c), ...queryNumbers(c, ["skip", "take"]) };
      return pageResponse(c, await call(api, c, "listEvents", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/events/recent",
    guarded(async (c) => {
      const input = { ...aggregatePath(c), ...queryNumbers(c, ["take"]) };
      return c.json(await call(api, c, "recentEvents", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/verify",
    guarded(async (c) => {
      return c.json(await call(api, c, "verifyAggregate", aggregatePath(c)));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/proof/inclusion",
    guarded(async (c) => {
      const input = { ...aggregatePath(c), ...queryNumbers(c, ["version", "tree_size"]) };
      return c.json(await call(api, c, "inclusionProof", input));
    }),
  );

  app.get(
    "/v1/aggregates/:aggregate_type/:aggregate_id/proof/consistency",
    guarded(async (c) => {
      const input = { ...aggregatePath(c), ...queryNumbers(c, ["from", "to"]) };
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
        const input = withPath(readBody(c, true), aggregatePath(c), "the request body");
        return c.json(await call(api, c, op, input));
      }),
    );
  }

  app.delete(
    "/v1/aggregates/:aggregate_type/:aggregate_id",
    guarded(async (c) => {
      return c.json(await call(api, c, "removeAggregate", aggregatePath(c)));
    }),
  );
}
