/**
 * `GET /v1/events/stream`: Server-Sent Events of committed events, each shown
 * only when the token may read its aggregate. Resume point: the
 * `Last-Event-ID` header (wins) or `?from=<position>`, both meaning "the last
 * position already seen"; without either the stream starts with events
 * committed after the connection.
 */
import { DbxError } from "../../errors.ts";
import { authenticate, canRead, requireAction } from "../auth_middleware.ts";
import { openEventStream } from "../sse.ts";
import type { App, RouteDeps } from "./deps.ts";
import { parseCount } from "./params.ts";

/**
 * Register the event stream route.
 *
 * @example
 * ```ts
 * registerStreamRoutes(app, deps);
 * ```
 */
export function registerStreamRoutes(app: App, deps: RouteDeps): void {
  const { ctx, guard, stream, signal } = deps;

  app.get("/v1/events/stream", guard, async (c) => {
    const { token, scope } = c.get("auth");
    requireAction(scope, "aggregate.read");
    const lastEventId = c.req.header("Last-Event-ID");
    const from = c.req.query("from");
    let after: number | undefined;
    if (lastEventId !== undefined) after = parseCount(lastEventId, "the Last-Event-ID header");
    else if (from !== undefined) after = parseCount(from, "query parameter from");
    if (signal?.aborted) throw new DbxError("unavailable", "the server is shutting down");
    const everything = scope.resources.includes("*");
    const body = await openEventStream({
      engine: ctx.engine,
      after,
      canRead: (r) => everything || canRead(scope, r.aggregate_type, r.aggregate_id),
      checkAccess: () => void authenticate(ctx.auth, token),
      ...stream,
      signal,
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  });
}
