/**
 * Plugin configuration routes (`plugin.manage`), used by the CLI's `plugin` commands while a
 * server runs: list, show, configure (PUT: 201 when added), remove (once disabled), enable
 * and disable.
 */
import { call } from "../call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { merge, queryInput, readBody } from "../params.ts";
import { withName } from "./remotes.ts";

/**
 * Register the plugin routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerPluginRoutes(app, deps);
 * ```
 */
export function registerPluginRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;
  const one = "/v1/plugins/:name";
  app.get(
    "/v1/plugins",
    guarded(async (c) => c.json(await call(api, c, "listPlugins", queryInput(c)))),
  );
  app.get(
    one,
    guarded(async (c) => c.json(await call(api, c, "getPlugin", withName(c, queryInput(c))))),
  );
  app.put(
    one,
    guarded(async (c) => {
      const input = merge(queryInput(c), withName(c, readBody(c)));
      const result = await call(api, c, "upsertPlugin", input);
      return c.json(result, result.created ? 201 : 200);
    }),
  );
  app.delete(
    one,
    guarded(async (c) => c.json(await call(api, c, "removePlugin", withName(c, queryInput(c))))),
  );
  for (const [action, op] of [["enable", "enablePlugin"], ["disable", "disablePlugin"]] as const) {
    app.post(
      `${one}/${action}`,
      guarded(async (c) =>
        c.json(await call(api, c, op, merge(queryInput(c), withName(c, readBody(c, true)))))
      ),
    );
  }
}
