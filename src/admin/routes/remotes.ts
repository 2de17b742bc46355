/**
 * `/admin/remotes`, as `dbx remote ls|show|add|rm`: list (GET), show one (GET …/{name}),
 * add or replace one (PUT …/{name} with `{"endpoint": "tcp://HOST:PORT"}` or `{"host",
 * "port"}`, and `"public_key"`: 201 when added, 200 when replaced), remove one (DELETE).
 */
import type { Api } from "../../api/api.ts";
import type { AdminApp } from "../app.ts";
import { registerNamedRecordRoutes } from "./named_records.ts";

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
  registerNamedRecordRoutes(app, api, "/admin/remotes", {
    list: "listRemotes",
    get: "getRemote",
    upsert: "upsertRemote",
    remove: "removeRemote",
  });
}
