/**
 * The REST surface as a Hono app (no listening: `serve.ts` owns the port).
 *
 * Routes are thin adapters: parse the request, check the token's scope, call
 * the engine / token authority / schema store, format JSON. Every route but
 * `GET /health` needs `Authorization: Bearer <token>`; errors are JSON
 * `{"message", "code"}` (see errors.ts); unknown paths answer 404 and known
 * paths with another method 405, both JSON.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { type AppEnv, requireToken } from "./auth_middleware.ts";
import type { ServerContext } from "./context.ts";
import { handleError, jsonError } from "./errors.ts";
import { openApiDocument } from "./openapi.ts";
import { registerAggregateRoutes } from "./routes/aggregates.ts";
import { limitBody } from "./routes/body.ts";
import type { RouteDeps, StreamSettings } from "./routes/deps.ts";
import { registerEventRoutes } from "./routes/events.ts";
import { registerSchemaRoutes } from "./routes/schemas.ts";
import { registerStreamRoutes } from "./routes/stream.ts";
import { registerTokenRoutes } from "./routes/tokens.ts";

export type { StreamSettings } from "./routes/deps.ts";

export interface AppOptions {
  /**
   * Abort before `server.shutdown()`: it ends open event streams, which would
   * otherwise keep the shutdown waiting forever.
   */
  signal?: AbortSignal;
  /** Event stream tuning (tests shorten the intervals). */
  stream?: Partial<StreamSettings>;
}

const DEFAULT_STREAM: StreamSettings = {
  heartbeatMs: 15_000,
  recheckMs: 5_000,
  maxBuffered: 1000,
  pageSize: 500,
};

/**
 * Build the REST app on a server context.
 *
 * @example
 * ```ts
 * const streams = new AbortController();
 * const server = Deno.serve({ port: 7070 }, createApp(ctx, { signal: streams.signal }).fetch);
 * // on shutdown:
 * streams.abort();
 * await server.shutdown();
 * ```
 */
export function createApp(ctx: ServerContext, options: AppOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = limitBody(ctx.maxBodyBytes);
  const token = requireToken(ctx.auth);
  // Token first: an unauthenticated client gets 401 before its body is read.
  const guard: MiddlewareHandler<AppEnv> = async (c, next) => {
    await token(c, async () => {
      await limit(c, next);
    });
  };
  const deps: RouteDeps = {
    ctx,
    guard,
    stream: { ...DEFAULT_STREAM, ...options.stream },
    signal: options.signal,
  };

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/openapi.json", deps.guard, (c) => c.json(openApiDocument()));
  registerAggregateRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerStreamRoutes(app, deps);
  registerSchemaRoutes(app, deps);
  registerTokenRoutes(app, deps);

  app.onError(handleError);
  app.notFound(notFoundOrNotAllowed(app));
  return app;
}

/** 405 with `Allow` when the path exists for other methods, else 404. */
function notFoundOrNotAllowed(app: Hono<AppEnv>) {
  let table: { pattern: RegExp; method: string }[] | undefined;
  return (c: Parameters<Parameters<Hono<AppEnv>["notFound"]>[0]>[0]) => {
    // Built on first use: every route is registered by then.
    table ??= app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => ({ pattern: routePattern(r.path), method: r.method }));
    const path = c.req.path;
    const allowed = new Set(table.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (allowed.size === 0) {
      return jsonError(c, 404, "not_found", `no route ${c.req.method} ${path}`);
    }
    if (allowed.has("GET")) allowed.add("HEAD");
    const allow = [...allowed].sort().join(", ");
    return jsonError(
      c,
      405,
      "method_not_allowed",
      `method ${c.req.method} is not allowed on ${path}; allowed: ${allow}`,
      { Allow: allow },
    );
  };
}

/** A Hono path (`/v1/aggregates/:aggregate_type`) as a whole-path regular expression. */
function routePattern(path: string): RegExp {
  const source = path.split("/").map((part) =>
    part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  ).join("/");
  return new RegExp(`^${source}$`);
}
