/**
 * A subscription to committed events as Server-Sent Events: `id: <position>`,
 * `event: event`, `data: <event JSON>` per event, a comment line as heartbeat when idle, and
 * an `event: error` message before the stream ends on an error (an expired or revoked
 * token, the server shutting down). The subscription (the API's feed) decides what is sent;
 * this only formats it, pulling nothing while the client is not reading.
 */
import type { Subscription } from "../api/api.ts";
import type { EventRecord } from "../api/operations.ts";
import { errorData } from "../errors.ts";
import type { StreamSettings } from "./deps.ts";
import { errorResponse } from "./errors.ts";
import { HTTP_STATUS } from "../http/status.ts";

const encoder = new TextEncoder();

/**
 * One event as an SSE message.
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../api/operations.ts";
 * declare const record: EventRecord;
 * formatEvent(record); // "id: 7\nevent: event\ndata: {...}\n\n"
 * ```
 */
export function formatEvent(record: EventRecord): string {
  return `id: ${record.position}\nevent: event\ndata: ${JSON.stringify(record)}\n\n`;
}

/**
 * An SSE error message (the stream ends after it).
 *
 * @example
 * ```ts
 * import { DbxError } from "../errors.ts";
 * formatError(new DbxError("unauthorized", "the token has expired"));
 * ```
 */
export function formatError(err: unknown): string {
  return `event: error\ndata: ${JSON.stringify(errorResponse(err).body)}\n\n`;
}

/**
 * The body of an event stream over an open subscription; closing the body (or `signal`)
 * closes the subscription.
 *
 * @example
 * ```ts
 * import type { Subscription } from "../api/api.ts";
 * declare const subscription: Subscription;
 * const body = eventStream(subscription, { heartbeatMs: 15_000, recheckMs: 5_000 });
 * new Response(body, { headers: { "content-type": "text/event-stream" } });
 * ```
 */
export function eventStream(
  subscription: Subscription,
  settings: StreamSettings,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  let lastWrite = Date.now();
  let closed = false;
  const close = () => {
    closed = true;
    subscription.close();
  };
  signal?.addEventListener("abort", close, { once: true });
  if (signal?.aborted) close();

  /** Produce one chunk (events, a heartbeat or an error), or end the stream. */
  const pull = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    for (;;) {
      const wait = Math.min(settings.heartbeatMs - (Date.now() - lastWrite), settings.recheckMs);
      const records = await subscription.next(Math.max(0, wait));
      if (records === null) break;
      if (records.length > 0) {
        let text = "";
        for (const record of records) text += formatEvent(record);
        controller.enqueue(encoder.encode(text));
        lastWrite = Date.now();
        return;
      }
      if (Date.now() - lastWrite >= settings.heartbeatMs) {
        controller.enqueue(encoder.encode(": heartbeat\n\n"));
        lastWrite = Date.now();
        return;
      }
    }
    signal?.removeEventListener("abort", close);
    try {
      controller.close();
    } catch {
      // Cancelled by the client: already closed.
    }
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        await pull(controller);
      } catch (err) {
        // A stream the client or the shutdown already closed has nobody left to tell.
        if (closed) {
          try {
            controller.close();
          } catch {
            // Cancelled by the client: already closed.
          }
          return;
        }
        if (HTTP_STATUS[errorData(err).code] >= 500) {
          console.error(
            "error: the event stream failed:",
            err instanceof Error ? err.message : err,
          );
        }
        close();
        signal?.removeEventListener("abort", close);
        try {
          controller.enqueue(encoder.encode(formatError(err)));
          controller.close();
        } catch {
          // The client is gone already.
        }
      }
    },
    cancel() {
      close();
      signal?.removeEventListener("abort", close);
    },
  });
}
