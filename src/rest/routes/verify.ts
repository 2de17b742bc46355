/**
 * Store-wide routes: `GET /v1/verify/positions?from&take` checks one page of the global
 * position index (each aggregate is verified at `.../verify`); `GET /v1/stats/writes`
 * gives the counters of the store's synced writes.
 */
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { queryInput } from "../params.ts";

/**
 * Register the verification routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerVerifyRoutes(app, deps);
 * ```
 */
export function registerVerifyRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;
  app.get(
    "/v1/verify/positions",
    guarded(async (c) =>
      c.json(await call(api, c, "verifyPositions", queryInput(c, ["from", "take"])))
    ),
  );
  app.get(
    "/v1/stats/writes",
    guarded(async (c) => c.json(await call(api, c, "writeStats", queryInput(c, [])))),
  );
}
