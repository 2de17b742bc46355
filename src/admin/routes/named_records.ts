/**
 * The Admin routes of a store of named records (remotes, plugins): list, show, add or replace
 * (PUT: 201 when added), remove, and optional actions on one record (POST …/{name}/{action}),
 * each one API operation, with the path's name merged into the body.
 */
import type { Api } from "../../api/api.ts";
import type { OperationName } from "../../api/operations.ts";
import { call } from "../../http/call.ts";
import type { Context } from "hono";
import type { AdminApp, AdminEnv } from "../app.ts";
import { readObject, withPath } from "../input.ts";

/** The operations behind one store's routes. */
export interface NamedRecordOps {
  list: OperationName;
  get: OperationName;
  upsert: OperationName;
  remove: OperationName;
  /** `POST {base}/{name}/{action}` → operation. */
  actions?: Record<string, OperationName>;
}

/** The record the path names (the route always has it). */
function pathName(c: Context<AdminEnv>): string {
  return c.req.param("name") ?? "";
}

/**
 * Register the routes of the store at `base` (e.g. `/admin/remotes`).
 *
 * @example
 * ```ts
 * import type { Api } from "../../api/api.ts";
 * import type { AdminApp } from "../app.ts";
 * declare const app: AdminApp;
 * declare const api: Api;
 * registerNamedRecordRoutes(app, api, "/admin/remotes", {
 *   list: "listRemotes",
 *   get: "getRemote",
 *   upsert: "upsertRemote",
 *   remove: "removeRemote",
 * });
 * ```
 */
export function registerNamedRecordRoutes(
  app: AdminApp,
  api: Api,
  base: string,
  ops: NamedRecordOps,
): void {
  const one = `${base}/:name`;
  app.get(base, async (c) => c.json(await call(api, c, ops.list, readObject(c, true))));
  app.get(one, async (c) => {
    const input = withPath(readObject(c, true), { name: pathName(c) });
    return c.json(await call(api, c, ops.get, input));
  });
  app.put(one, async (c) => {
    const input = withPath(readObject(c), { name: pathName(c) });
    const result = await call(api, c, ops.upsert, input) as { created?: boolean };
    return c.json(result, result.created ? 201 : 200);
  });
  app.delete(one, async (c) => {
    const input = withPath(readObject(c, true), { name: pathName(c) });
    return c.json(await call(api, c, ops.remove, input));
  });
  for (const [action, op] of Object.entries(ops.actions ?? {})) {
    app.post(`${one}/${action}`, async (c) => {
      const input = withPath(readObject(c, true), { name: pathName(c) });
      return c.json(await call(api, c, op, input));
    });
  }
}
