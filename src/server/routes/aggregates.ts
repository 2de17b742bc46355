/**
 * Reading aggregates and their events, verification, Merkle proofs, and the
 * snapshot / archive / restore controls.
 *
 * Paging: `take` is capped at `page_limit`. Aggregate listings default to
 * `list_page_size`; an aggregate's events default to `page_limit` (the older
 * seed lists "every event"); `events/recent` defaults to 10 (seed).
 */
import { aggregateResource } from "../../auth/authority.ts";
import { validateName } from "../../engine/names.ts";
import type { Context } from "hono";
import { type AppEnv, authorizeFor, canRead, requireAction } from "../auth_middleware.ts";
import type { App, RouteDeps } from "./deps.ts";
import {
  aggregatePath,
  optionalString,
  pageTake,
  queryInteger,
  readObject,
  requiredQueryInteger,
} from "./params.ts";

/** Default `take` of `events/recent` (older seed). */
const RECENT_DEFAULT = 10;

/** Check the path and the caller's read scope on that aggregate. */
function readable(c: Context<AppEnv>, deps: RouteDeps): { type: string; id: string } {
  const target = aggregatePath(c);
  authorizeFor(c, deps.ctx.auth, "aggregate.read", aggregateResource(target.type, target.id));
  return target;
}

/**
 * Register the aggregate routes.
 *
 * @example
 * ```ts
 * registerAggregateRoutes(app, { ctx, guard });
 * ```
 */
export function registerAggregateRoutes(app: App, deps: RouteDeps): void {
  const { ctx, guard } = deps;
  const { engine, config } = ctx;

  app.get("/v1/aggregates", guard, async (c) => {
    const { scope } = c.get("auth");
    requireAction(scope, "aggregate.read");
    const skip = queryInteger(c, "skip", 0);
    const take = pageTake(c, config.list_page_size, config.page_limit);
    const typeQuery = c.req.query("aggregate_type");
    const type = typeQuery === undefined ? undefined : validateName("aggregate_type", typeQuery);
    // A token on every resource needs no per-aggregate check.
    const filter = scope.resources.includes("*")
      ? undefined
      : (t: string, i: string) => canRead(scope, t, i);
    return c.json(await engine.listAggregates({ skip, take, aggregate_type: type, filter }));
  });

  app.get("/v1/aggregates/:aggregate_type/:aggregate_id", guard, async (c) => {
    const { type, id } = readable(c, deps);
    const version = queryInteger(c, "version");
    return c.json(await engine.getAggregate(type, id, { version }));
  });

  app.get("/v1/aggregates/:aggregate_type/:aggregate_id/events", guard, async (c) => {
    const { type, id } = readable(c, deps);
    const skip = queryInteger(c, "skip", 0);
    const take = pageTake(c, config.page_limit, config.page_limit);
    return c.json(await engine.listEvents(type, id, { skip, take }));
  });

  app.get("/v1/aggregates/:aggregate_type/:aggregate_id/events/recent", guard, async (c) => {
    const { type, id } = readable(c, deps);
    const take = pageTake(c, Math.min(RECENT_DEFAULT, config.page_limit), config.page_limit);
    return c.json(await engine.recentEvents(type, id, take));
  });

  app.get("/v1/aggregates/:aggregate_type/:aggregate_id/verify", guard, async (c) => {
    const { type, id } = readable(c, deps);
    return c.json(await engine.verify(type, id));
  });

  app.get("/v1/aggregates/:aggregate_type/:aggregate_id/proof/inclusion", guard, async (c) => {
    const { type, id } = readable(c, deps);
    const version = requiredQueryInteger(c, "version");
    const treeSize = queryInteger(c, "tree_size");
    const proof = await engine.inclusionProof(type, id, version, treeSize);
    return c.json({ aggregate_type: type, aggregate_id: id, ...proof });
  });

  app.get("/v1/aggregates/:aggregate_type/:aggregate_id/proof/consistency", guard, async (c) => {
    const { type, id } = readable(c, deps);
    const from = requiredQueryInteger(c, "from");
    const proof = await engine.consistencyProof(type, id, from, queryInteger(c, "to"));
    return c.json({ aggregate_type: type, aggregate_id: id, ...proof });
  });

  for (const op of ["snapshot", "archive", "restore"] as const) {
    app.post(`/v1/aggregates/:aggregate_type/:aggregate_id/${op}`, guard, async (c) => {
      const { type, id } = aggregatePath(c);
      const action = op === "snapshot" ? "aggregate.append" : "aggregate.archive";
      authorizeFor(c, ctx.auth, action, aggregateResource(type, id));
      const body = readObject(c, ["comment"], true);
      const comment = optionalString(body, "comment");
      const version = await engine[op](type, id, { comment });
      return c.json({ aggregate_type: type, aggregate_id: id, version });
    });
  }
}
