/** What every route module gets: the API, the guard and the stream settings. */
import type { Context, Hono } from "hono";
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
  /** A handler that first admits the request (token, then the body within its limit). */
  guarded(handler: RouteHandler): RouteHandler;
  stream: StreamSettings;
  /** Aborted when the server shuts down: ends open event streams. */
  signal?: AbortSignal;
}

/** A route's handler (one per route: Hono then skips composing middleware). */
export type RouteHandler = (c: Context<AppEnv>) => Promise<Response>;

/** The app the route modules register on. */
export type App = Hono<AppEnv>;
