/**
 * The routes of a store of named records (remotes, plugins): list, show, add or replace
 * (PUT: 201 when added), remove, and optional actions on one record (POST …/{name}/{action}),
 * each one API operation. A body naming another record than the path is refused.
 */
import type { Context } from "hono";
import type { OperationName } from "../../api/operations.ts";
import { DbxError } from "../../errors.ts";
import { call } from "../../http/call.ts";
import type { AppEnv } from "../auth.ts";
import type { App, RouteDeps } from "../deps.ts";
import { merge, queryInput, readBody } from "../params.ts";

/** The operations behind one store's routes. */
export interface NamedRecordOps {
  list: OperationName;
  get: OperationName;
  upsert: OperationName;
  remove: OperationName;
  /** `POST {base}/{name}/{action}` → operation. */
  actions?: Record<string, OperationName>;
}

/** The body with the path's `name` (a body naming another one is refused). */
function withName(c: Context<AppEnv>, body: Record<string, unknown>) {
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
 * Register the routes of the store at `base` (e.g. `/v1/remotes`).
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerNamedRecordRoutes(app, deps, "/v1/remotes", {
 *   list: "listRemotes",
 *   get: "getRemote",
 *   upsert: "upsertRemote",
 *   remove: "removeRemote",
 * });
 * ```
 */
export function registerNamedRecordRoutes(
  app: App,
  deps: RouteDeps,
  base: string,
  ops: NamedRecordOps,
): void {
  const { api, guarded } = deps;
  const one = `${base}/:name`;
  app.get(base, guarded(async (c) => c.json(await call(api, c, ops.list, queryInput(c)))));
  app.get(
    one,
    guarded(async (c) => c.json(await call(api, c, ops.get, withName(c, queryInput(c))))),
  );
  app.put(
    one,
    guarded(async (c) => {
      const input = merge(queryInput(c), withName(c, readBody(c)));
      const result = await call(api, c, ops.upsert, input) as { created?: boolean };
      return c.json(result, result.created ? 201 : 200);
    }),
  );
  app.delete(
    one,
    guarded(async (c) => c.json(await call(api, c, ops.remove, withName(c, queryInput(c))))),
  );
  for (const [action, op] of Object.entries(ops.actions ?? {})) {
    app.post(
      `${one}/${action}`,
      guarded(async (c) =>
        c.json(await call(api, c, op, merge(queryInput(c), withName(c, readBody(c, true)))))
      ),
    );
  }
}
