/**
 * Plugin configuration routes (`plugin.manage`), used by the CLI's `plugin` commands while a
 * server runs: list, show, configure (PUT: 201 when added), remove (once disabled), enable
 * and disable.
 */
import type { App, RouteDeps } from "../deps.ts";
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
    actions: { enable: "enablePlugin", disable: "disablePlugin" },
  });
}
