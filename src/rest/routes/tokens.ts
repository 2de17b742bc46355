/**
 * Token management routes (`token.manage`), used by the CLI's `token` commands while a
 * server runs. Responses carry a new token string only where one is issued (generate,
 * refresh); it is never logged.
 */
import { call } from "../call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { readBody } from "../params.ts";

/**
 * Register the token routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerTokenRoutes(app, deps);
 * ```
 */
export function registerTokenRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;
  app.get("/v1/tokens", guarded(async (c) => c.json(await call(api, c, "listTokens", {}))));
  app.post(
    "/v1/tokens",
    guarded(async (c) => {
      return c.json(await call(api, c, "generateToken", readBody(c)), 201);
    }),
  );
  app.post(
    "/v1/tokens/revoke",
    guarded(async (c) => {
      return c.json(await call(api, c, "revokeToken", readBody(c)));
    }),
  );
  app.post(
    "/v1/tokens/refresh",
    guarded(async (c) => {
      return c.json(await call(api, c, "refreshToken", readBody(c)));
    }),
  );
}
