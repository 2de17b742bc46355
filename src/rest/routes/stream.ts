/**
 * `GET /v1/events/stream`: Server-Sent Events of committed events the token may read.
 * Resume point: the `Last-Event-ID` header (wins) or `?from=<position>`, both meaning "the
 * last position already seen"; without either the stream starts with events committed after
 * the connection.
 */
import { DbxError } from "../../errors.ts";
import type { App, RouteDeps } from "../deps.ts";
import { parseCount, queryInput } from "../params.ts";
import { eventStream } from "../sse.ts";

/**
 * Register the event stream route.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerStreamRoutes(app, deps);
 * ```
 */
export function registerStreamRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded, stream, signal } = deps;

  app.get(
    "/v1/events/stream",
    guarded(async (c) => {
      const lastEventId = c.req.header("Last-Event-ID");
      // `from` is REST's name of the API's `after`; other parameters go on to the API.
      const { from, ...input } = queryInput(c, ["from"]);
      if (lastEventId !== undefined) {
        input.after = parseCount(lastEventId, "the Last-Event-ID header");
      } else if (from !== undefined) input.after = from;
      if (signal?.aborted) throw new DbxError("unavailable", "the server is shutting down");
      const subscription = await api.subscribe(c.get("caller"), input);
      return new Response(eventStream(subscription, stream, signal), {
        headers: {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          "x-accel-buffering": "no",
        },
      });
    }),
  );
}
