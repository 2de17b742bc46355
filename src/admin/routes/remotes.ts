/**
 * `/admin/remotes`, as `dbx remote ls|show|add|rm`: list (GET), show one (GET …/{name}),
 * add or replace one (PUT …/{name} with `{"endpoint": "tcp://HOST:PORT"}` or `{"host",
 * "port"}`, and `"public_key"`: 201 when added, 200 when replaced), remove one (DELETE).
 */
import type { Api } from "../../api/api.ts";
import type { AdminApp } from "../app.ts";
import { call } from "../call.ts";
import { readObject, withPath } from "../input.ts";

/**
 * Register the remote routes.
 *
 * @example
 * ```ts
 * import type { Api } from "../../api/api.ts";
 * import type { AdminApp } from "../app.ts";
 * declare const app: AdminApp;
 * declare const api: Api;
 * registerRemoteRoutes(app, api);
 * ```
 */
export function registerRemoteRoutes(app: AdminApp, api: Api): void {
  const one = "/admin/remotes/:name";
  app.get(
    "/admin/remotes",
    async (c) => c.json(await call(api, c, "listRemotes", readObject(c, true))),
  );
  app.get(one, async (c) => {
    const input = withPath(readObject(c, true), { name: c.req.param("name") });
    return c.json(await call(api, c, "getRemote", input));
  });
  app.put(one, async (c) => {
    const input = withPath(readObject(c), { name: c.req.param("name") });
    const result = await call(api, c, "upsertRemote", input);
    return c.json(result, result.created ? 201 : 200);
  });
  app.delete(one, async (c) => {
    const input = withPath(readObject(c, true), { name: c.req.param("name") });
    return c.json(await call(api, c, "removeRemote", input));
  });
}
