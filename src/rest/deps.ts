/** What every route module gets: the API, the guard and the stream settings. */
import type { Hono, MiddlewareHandler } from "hono";
import type { Api } from "../api/api.ts";
import type { AppEnv } from "./auth.ts";

/** Tuning of `GET /v1/events/stream`. */
export interface StreamSettings {
  /** Idle time before a heartbeat comment (default 15 s). */
  heartbeatMs: number;
  /** Longest wait between checks of the stream's token (default 5 s). */
  recheckMs: number;
}

export interface RouteDeps {
  api: Api;
  /** Token, then the body size limit: run before every handler but `/health`. */
  guard: MiddlewareHandler<AppEnv>;
  stream: StreamSettings;
  /** Aborted when the server shuts down: ends open event streams. */
  signal?: AbortSignal;
}

/** The app the route modules register on. */
export type App = Hono<AppEnv>;
