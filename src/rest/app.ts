/**
 * The REST surface as a Hono app (no listening: the server lifecycle owns the port).
 *
 * Routes are thin adapters: parse the request into API input, call one operation for the
 * request's caller, format the result as JSON. Every route but `GET /health` needs
 * `Authorization: Bearer <token>`; errors are JSON `{"message", "code"}` (errors.ts);
 * unknown paths answer 404 and known paths with another method 405, both JSON.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { isDbxError } from "../errors.ts";
import { allowedMethods } from "../http/allowed_methods.ts";
import type { Api } from "../api/api.ts";
import { admit, type AppEnv } from "./auth.ts";
import { call } from "../http/call.ts";
import type { RouteDeps, RouteHandler, StreamSettings } from "./deps.ts";
import { handleError, jsonError } from "./errors.ts";
import { openApiDocument } from "./openapi.ts";
import { queryInput } from "./params.ts";
import { registerAggregateRoutes } from "./routes/aggregates.ts";
import { registerEventRoutes } from "./routes/events.ts";
import { registerSchemaRoutes } from "./routes/schemas.ts";
import { registerStagingRoutes } from "./routes/staging.ts";
import { registerStreamRoutes } from "./routes/stream.ts";
import { registerPluginRoutes } from "./routes/plugins.ts";
import { registerQueryRoutes } from "./routes/queries.ts";
import { registerRemoteRoutes } from "./routes/remotes.ts";
import { registerReplicationRoutes } from "./routes/replication.ts";
import { registerTokenRoutes } from "./routes/tokens.ts";
import { registerVerifyRoutes } from "./routes/verify.ts";

export type { StreamSettings } from "./deps.ts";

/** Largest accepted request body unless told otherwise (a batch of many 1 MiB payloads fits). */
export const DEFAULT_MAX_BODY_BYTES = 8 << 20;

export interface RestOptions {
  api: Api;
  /** Largest accepted request body in bytes. */
  maxBodyBytes?: number;
  /**
   * Abort before the listener shuts down: it ends open event streams, which would otherwise
   * keep the shutdown waiting forever.
   */
  signal?: AbortSignal;
  /** Event stream tuning (tests shorten the intervals). */
  stream?: Partial<StreamSettings>;
}

const DEFAULT_STREAM: StreamSettings = { heartbeatMs: 15_000, recheckMs: 5_000 };

/**
 * Build the REST app over an API.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const streams = new AbortController();
 * const app = createRestApp({ api, signal: streams.signal });
 * const server = Deno.serve({ port: 0, onListen() {} }, app.fetch);
 * streams.abort();
 * await server.shutdown();
 * ```
 */
export function createRestApp(options: RestOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { api } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  // Caller first: an unauthenticated client gets 401 before a large body is read.
  const guarded = (handler: RouteHandler): RouteHandler => async (c) => {
    await admit(c, api, maxBodyBytes);
    return await handler(c);
  };
  const deps: RouteDeps = {
    api,
    guarded,
    stream: { ...DEFAULT_STREAM, ...options.stream },
    signal: options.signal,
  };

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get(
    "/v1/whoami",
    guarded(async (c) => c.json(await call(api, c, "describeCaller", queryInput(c)))),
  );
  app.get(
    "/openapi.json",
    guarded(async (c) => {
      await call(api, c, "describeCaller", {});
      return c.json(openApiDocument());
    }),
  );
  registerAggregateRoutes(app, deps);
  registerQueryRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerStreamRoutes(app, deps);
  registerStagingRoutes(app, deps);
  registerSchemaRoutes(app, deps);
  registerTokenRoutes(app, deps);
  registerVerifyRoutes(app, deps);
  registerRemoteRoutes(app, deps);
  registerReplicationRoutes(app, deps);
  registerPluginRoutes(app, deps);

  app.onError(async (err, c) => {
    // A bad token is the answer even when the input is bad too (a small body is parsed
    // before the API has seen the token): check the caller before blaming the input.
    const caller = c.get("caller");
    if (caller && isInputError(err)) {
      try {
        await api.call(caller, "describeCaller", {});
      } catch (refused) {
        if (isDbxError(refused, "unauthorized")) return handleError(refused, c);
      }
    }
    return handleError(err, c);
  });
  app.notFound(notFoundOrNotAllowed(app));
  return app;
}

/** An error about the request's input, found before the API checked the caller. */
function isInputError(err: unknown): boolean {
  return err instanceof HTTPException || isDbxError(err, "invalid_input") ||
    isDbxError(err, "too_large");
}

/** 405 with `Allow` when the path exists for other methods, else 404. */
function notFoundOrNotAllowed(app: Hono<AppEnv>) {
  const allowedOn = allowedMethods(() => app.routes);
  return (c: Parameters<Parameters<Hono<AppEnv>["notFound"]>[0]>[0]) => {
    const path = c.req.path;
    const allowed = allowedOn(path);
    if (allowed.length === 0) {
      return jsonError(c, 404, "not_found", `no route ${c.req.method} ${path}`);
    }
    const allow = allowed.join(", ");
    return jsonError(
      c,
      405,
      "method_not_allowed",
      `method ${c.req.method} is not allowed on ${path}; allowed: ${allow}`,
      { Allow: allow },
    );
  };
}
