/**
 * `/admin/plugins`, as `dbx plugin list|config|remove|enable|disable`: list (GET), show one
 * (GET …/{name}), configure one (PUT …/{name} with `{"kind", …settings, "enabled"}`: 201
 * when added, 200 when replaced), remove one (DELETE; refused while it is enabled), and
 * enable or disable one (POST …/{name}/enable, …/disable).
 */
import type { Api } from "../../api/api.ts";
import type { AdminApp } from "../app.ts";
import { call } from "../call.ts";
import { readObject, withPath } from "../input.ts";

/**
 * Register the plugin routes.
 *
 * @example
 * ```ts
 * import type { Api } from "../../api/api.ts";
 * import type { AdminApp } from "../app.ts";
 * declare const app: AdminApp;
 * declare const api: Api;
 * registerPluginRoutes(app, api);
 * ```
 */
export function registerPluginRoutes(app: AdminApp, api: Api): void {
  const one = "/admin/plugins/:name";
  app.get(
    "/admin/plugins",
    async (c) => c.json(await call(api, c, "listPlugins", readObject(c, true))),
  );
  app.get(one, async (c) => {
    const input = withPath(readObject(c, true), { name: c.req.param("name") });
    return c.json(await call(api, c, "getPlugin", input));
  });
  app.put(one, async (c) => {
    const input = withPath(readObject(c), { name: c.req.param("name") });
    const result = await call(api, c, "upsertPlugin", input);
    return c.json(result, result.created ? 201 : 200);
  });
  app.delete(one, async (c) => {
    const input = withPath(readObject(c, true), { name: c.req.param("name") });
    return c.json(await call(api, c, "removePlugin", input));
  });
  for (const [action, op] of [["enable", "enablePlugin"], ["disable", "disablePlugin"]] as const) {
    app.post(`${one}/${action}`, async (c) => {
      const input = withPath(readObject(c, true), { name: c.req.param("name") });
      return c.json(await call(api, c, op, input));
    });
  }
}
