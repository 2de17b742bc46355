/**
 * `/admin/plugins`, as `dbx plugin list|config|remove|enable|disable`: list (GET), show one
 * (GET …/{name}), configure one (PUT …/{name} with `{"kind", …settings, "enabled"}`: 201
 * when added, 200 when replaced), remove one (DELETE; refused while it is enabled), and
 * enable or disable one (POST …/{name}/enable, …/disable).
 */
import type { Api } from "../../api/api.ts";
import type { AdminApp } from "../app.ts";
import { registerNamedRecordRoutes } from "./named_records.ts";

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
  registerNamedRecordRoutes(app, api, "/admin/plugins", {
    list: "listPlugins",
    get: "getPlugin",
    upsert: "upsertPlugin",
    remove: "removePlugin",
    actions: { enable: "enablePlugin", disable: "disablePlugin" },
  });
}
