/**
 * Token management routes (`token.manage`), used by the CLI's `token` commands while a
 * server runs. Responses carry a new token string only where one is issued (generate,
 * refresh); it is never logged.
 */
import type { OperationName } from "../../api/operations.ts";
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { merge, queryInput, readBody } from "../params.ts";

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
  app.get(
    "/v1/tokens",
    guarded(async (c) => c.json(await call(api, c, "listTokens", queryInput(c)))),
  );
  const changes: [string, OperationName, number][] = [
    ["/v1/tokens", "generateToken", 201],
    ["/v1/tokens/revoke", "revokeToken", 200],
    ["/v1/tokens/refresh", "refreshToken", 200],
  ];
  for (const [path, op, status] of changes) {
    app.post(
      path,
      guarded(async (c) =>
        c.json(await call(api, c, op, merge(queryInput(c), readBody(c))), status as 200)
      ),
    );
  }
}
