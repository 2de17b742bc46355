/**
 * `/admin/tokens`: list (GET), issue (POST), revoke and refresh (POST …/revoke, …/refresh),
 * as `dbx token list|generate|revoke|refresh`. A token string appears only in the answer
 * that issues it; it is never logged.
 */
import type { Api } from "../../api/api.ts";
import type { OperationName } from "../../api/operations.ts";
import type { AdminApp } from "../app.ts";
import { call } from "../../http/call.ts";
import { readObject } from "../input.ts";

/**
 * Register the token routes.
 *
 * @example
 * ```ts
 * import type { Api } from "../../api/api.ts";
 * import type { AdminApp } from "../app.ts";
 * declare const app: AdminApp;
 * declare const api: Api;
 * registerTokenRoutes(app, api);
 * ```
 */
export function registerTokenRoutes(app: AdminApp, api: Api): void {
  app.get(
    "/admin/tokens",
    async (c) => c.json(await call(api, c, "listTokens", readObject(c, true))),
  );
  const changes: [string, OperationName, 200 | 201][] = [
    ["/admin/tokens", "generateToken", 201],
    ["/admin/tokens/revoke", "revokeToken", 200],
    ["/admin/tokens/refresh", "refreshToken", 200],
  ];
  for (const [path, op, status] of changes) {
    app.post(path, async (c) => c.json(await call(api, c, op, readObject(c)), status));
  }
}
