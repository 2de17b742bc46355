/**
 * Replication remote routes (`remote.manage`), used by the CLI's `remote` commands while a
 * server runs: list, show, add or replace (PUT: 201 when added), remove.
 */
import type { App, RouteDeps } from "../deps.ts";
import { registerNamedRecordRoutes } from "./named_records.ts";

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
  registerNamedRecordRoutes(app, deps, "/v1/remotes", {
    list: "listRemotes",
    get: "getRemote",
    upsert: "upsertRemote",
    remove: "removeRemote",
  });
}
