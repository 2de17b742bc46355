/**
 * The staging queue of the node (`aggregate apply --stage`, `aggregate list --stage`,
 * `aggregate commit`), so the CLI stages through a running server like any other change.
 */
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { merge, pageResponse, queryInput, readBody } from "../params.ts";
import { eventBody } from "./events.ts";

/**
 * Register the staging routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerStagingRoutes(app, deps);
 * ```
 */
export function registerStagingRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;
  app.get(
    "/v1/staged",
    guarded(async (c) =>
      pageResponse(c, await call(api, c, "listStaged", queryInput(c, ["skip", "take"])))
    ),
  );
  app.post(
    "/v1/staged",
    guarded(async (c) => {
      const input = merge(queryInput(c), eventBody(readBody(c), "the request body"));
      return c.json(await call(api, c, "stageEvent", input), 201);
    }),
  );
  app.post(
    "/v1/staged/commit",
    guarded(async (c) => {
      const input = merge(queryInput(c), readBody(c, true));
      return c.json(await call(api, c, "commitStaged", input));
    }),
  );
}
