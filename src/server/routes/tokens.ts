/**
 * Token management routes (`token.manage`), used by the CLI's `token`
 * commands while a server runs. Responses carry a new token string only where
 * one is issued (generate, refresh); it is never logged.
 */
import { tokenResource } from "../../auth/authority.ts";
import { authorizeFor } from "../auth_middleware.ts";
import type { App, RouteDeps } from "./deps.ts";
import {
  optionalBoolean,
  optionalInteger,
  optionalStrings,
  readObject,
  requiredString,
} from "./params.ts";

/**
 * Register the token routes.
 *
 * @example
 * ```ts
 * registerTokenRoutes(app, { ctx, guard });
 * ```
 */
export function registerTokenRoutes(app: App, deps: RouteDeps): void {
  const { ctx, guard } = deps;
  const { auth, engine } = ctx;
  const usedWrites = (id: string) => engine.usedWrites(id);

  app.get("/v1/tokens", guard, async (c) => {
    authorizeFor(c, auth, "token.manage", tokenResource());
    return c.json(await auth.list(usedWrites));
  });

  app.post("/v1/tokens", guard, async (c) => {
    authorizeFor(c, auth, "token.manage", tokenResource());
    const body = readObject(c, [
      "group",
      "user",
      "expiration",
      "limit",
      "keep_alive",
      "actions",
      "resources",
    ]);
    const issued = await auth.generate({
      group: requiredString(body, "group"),
      user: requiredString(body, "user"),
      expiration: optionalInteger(body, "expiration", 1),
      limit: optionalInteger(body, "limit", 0),
      keepAlive: optionalBoolean(body, "keep_alive"),
      actions: optionalStrings(body, "actions"),
      resources: optionalStrings(body, "resources"),
    });
    return c.json(issued, 201);
  });

  app.post("/v1/tokens/revoke", guard, async (c) => {
    authorizeFor(c, auth, "token.manage", tokenResource());
    const body = readObject(c, ["token"]);
    return c.json(await auth.revoke(requiredString(body, "token")));
  });

  app.post("/v1/tokens/refresh", guard, async (c) => {
    authorizeFor(c, auth, "token.manage", tokenResource());
    const body = readObject(c, ["token", "expiration", "limit"]);
    return c.json(
      await auth.refresh(
        requiredString(body, "token"),
        {
          expiration: optionalInteger(body, "expiration", 1),
          limit: optionalInteger(body, "limit", 0),
        },
        usedWrites,
      ),
    );
  });
}
