/** What every route module gets: the server context, the guards and the stream settings. */
import type { Hono, MiddlewareHandler } from "hono";
import type { AppEnv } from "../auth_middleware.ts";
import type { ServerContext } from "../context.ts";

/** Tuning of `GET /v1/events/stream`. */
export interface StreamSettings {
  /** Idle time before a heartbeat comment (default 15 s). */
  heartbeatMs: number;
  /** How often a stream re-checks its token's expiry and revocation (default 5 s). */
  recheckMs: number;
  /** Live events held per slow client before it catches up from storage (default 1000). */
  maxBuffered: number;
  /** Events read from storage at a time (default 500). */
  pageSize: number;
}

export interface RouteDeps {
  ctx: ServerContext;
  /** Token check, then the body size limit: run before every handler but `/health`. */
  guard: MiddlewareHandler<AppEnv>;
  stream: StreamSettings;
  /** Aborted when the server shuts down: ends open event streams. */
  signal?: AbortSignal;
}

/** The app the route modules register on. */
export type App = Hono<AppEnv>;
