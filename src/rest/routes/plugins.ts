/**
 * Plugin configuration routes (`plugin.manage`), used by the CLI's `plugin` commands while a
 * server runs: list, show, configure (PUT: 201 when added), remove (once disabled), enable
 * and disable; the delivery queue, connectivity checks and column types (`plugin map`).
 */
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { merge, queryInput, readBody } from "../params.ts";
import { registerNamedRecordRoutes } from "./named_records.ts";

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
  registerNamedRecordRoutes(app, deps, "/v1/plugins", {
    list: "listPlugins",
    get: "getPlugin",
    upsert: "upsertPlugin",
    remove: "removePlugin",
    actions: { enable: "enablePlugin", disable: "disablePlugin", replay: "replayPlugin" },
  });
  // Delivery: the queue (pending and dead events), retry, clear, and connectivity checks.
  const { api, guarded } = deps;
  app.get(
    "/v1/plugin-queue",
    guarded(async (c) => c.json(await call(api, c, "pluginQueue", queryInput(c, ["take"])))),
  );
  const posts = [
    ["/v1/plugin-queue/retry", "retryPluginQueue"],
    ["/v1/plugin-queue/clear", "clearPluginQueue"],
    ["/v1/plugin-checks", "testPlugins"],
    ["/v1/plugin-mappings", "mapPluginField"],
    // The bundle is read where the server runs (a path there, or a URL it fetches).
    ["/v1/plugin-installs", "installPlugin"],
  ] as const;
  for (const [path, op] of posts) {
    app.post(
      path,
      guarded(async (c) => c.json(await call(api, c, op, merge(queryInput(c), readBody(c))))),
    );
  }
}
