/**
 * Replication remote routes (`remote.manage`), used by the CLI's `remote` commands while a
 * server runs: list, show, add or replace (PUT: 201 when added), remove.
 */
import type { Context } from "hono";
import { DbxError } from "../../errors.ts";
import type { AppEnv } from "../auth.ts";
import { call } from "../call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { merge, queryInput, readBody } from "../params.ts";

/** The body with the path's `name` (a body naming another one is refused). */
export function withName(c: Context<AppEnv>, body: Record<string, unknown>) {
  const name = c.req.param("name");
  if (body.name !== undefined && body.name !== null && body.name !== name) {
    throw new DbxError(
      "invalid_input",
      `the body's name ${JSON.stringify(body.name).slice(0, 80)} differs from the path's`,
    );
  }
  return { ...body, name };
}

/**
 * Register the remote routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerRemoteRoutes(app, deps);
 * ```
 */
export function registerRemoteRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;
  const one = "/v1/remotes/:name";
  app.get(
    "/v1/remotes",
    guarded(async (c) => c.json(await call(api, c, "listRemotes", queryInput(c)))),
  );
  app.get(
    one,
    guarded(async (c) => c.json(await call(api, c, "getRemote", withName(c, queryInput(c))))),
  );
  app.put(
    one,
    guarded(async (c) => {
      const input = merge(queryInput(c), withName(c, readBody(c)));
      const result = await call(api, c, "upsertRemote", input);
      return c.json(result, result.created ? 201 : 200);
    }),
  );
  app.delete(
    one,
    guarded(async (c) => c.json(await call(api, c, "removeRemote", withName(c, queryInput(c))))),
  );
}
