/**
 * The live event stream as Server-Sent Events: every committed event after a
 * global position, in position order, each exactly once, filtered per event.
 *
 * How it stays gap-free and duplicate-free:
 * - It subscribes to the engine's commits *before* it reads anything, so an
 *   event is either already readable from storage (committed before the
 *   subscription: the engine notifies only after the synced write) or arrives
 *   through the subscription.
 * - One cursor (the last position handled, sent or filtered out) decides
 *   everything: a record at or below it is skipped; the next records come from
 *   the subscription buffer when it continues exactly at cursor + 1, otherwise
 *   from storage (`eventsAfter(cursor)`), which also fills any hole.
 * - The buffer is bounded: when a slow client lets it grow past `maxBuffered`
 *   records it is dropped and the stream catches up from storage instead, so
 *   memory stays bounded and nothing is lost.
 * - The stream is pull-based: nothing is read while the client is not reading.
 */
import type { Engine } from "../engine/engine.ts";
import type { EventRecord } from "../engine/types.ts";
import { DbxError } from "../errors.ts";
import { errorBody } from "./errors.ts";

export interface EventStreamOptions {
  engine: Engine;
  /** Send events with a position above this; undefined = only events committed from now on. */
  after?: number;
  /** Whether the client may see this event. */
  canRead(record: EventRecord): boolean;
  /** Throws (e.g. DbxError "unauthorized") once the client's token expired or was revoked. */
  checkAccess(): void;
  /** Idle time after which a comment line keeps proxies from closing the connection. */
  heartbeatMs: number;
  /** How often `checkAccess` runs. */
  recheckMs: number;
  /** Most live records held for a slow client before it catches up from storage instead. */
  maxBuffered: number;
  /** Records read from storage at a time. */
  pageSize: number;
  /** Closes the stream (server shutdown). */
  signal?: AbortSignal;
}

const encoder = new TextEncoder();

/**
 * One event as an SSE message: `id: <position>`, `event: event`, `data: <json>`.
 *
 * @example
 * ```ts
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
 * formatError(new DbxError("unauthorized", "the token has expired"));
 * ```
 */
export function formatError(err: unknown): string {
  return `event: error\ndata: ${JSON.stringify(errorBody(err).body)}\n\n`;
}

/**
 * Open an event stream. Subscribes at once (before resolving), so events
 * committed after this call are never missed.
 *
 * @example
 * ```ts
 * const body = await openEventStream({ engine, after: 0, canRead: () => true,
 *   checkAccess() {}, heartbeatMs: 15_000, recheckMs: 5_000, maxBuffered: 1000, pageSize: 500 });
 * return new Response(body, { headers: { "content-type": "text/event-stream" } });
 * ```
 */
export async function openEventStream(o: EventStreamOptions): Promise<ReadableStream<Uint8Array>> {
  let buffer: EventRecord[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const unsubscribe = o.engine.onCommit((records) => {
    if (closed) return;
    // Drop rather than grow: the cursor then finds a hole and reads storage.
    if (buffer.length + records.length > o.maxBuffered) buffer = [];
    else buffer.push(...records);
    notify();
  });
  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    o.signal?.removeEventListener("abort", close);
    buffer = [];
    notify();
  };
  o.signal?.addEventListener("abort", close);
  if (o.signal?.aborted) close();

  let cursor: number;
  try {
    cursor = o.after ?? await o.engine.lastPosition();
  } catch (err) {
    close();
    throw err;
  }
  let lastWrite = Date.now();
  let lastCheck = Date.now();

  const next = async (): Promise<EventRecord[]> => {
    const start = buffer.findIndex((r) => r.position > cursor);
    if (start >= 0 && buffer[start].position === cursor + 1) {
      const run = buffer.slice(start);
      buffer = [];
      return run;
    }
    if (start < 0) buffer = [];
    return await o.engine.eventsAfter(cursor, o.pageSize);
  };

  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, Math.max(0, ms));
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  /** Produce at least one chunk (events, a heartbeat or an error), or end the stream. */
  const pull = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    while (!closed) {
      if (Date.now() - lastCheck >= o.recheckMs) {
        lastCheck = Date.now();
        o.checkAccess();
      }
      const records = await next();
      if (closed) break;
      let text = "";
      for (const record of records) {
        if (record.position <= cursor) continue;
        cursor = record.position;
        if (o.canRead(record)) text += formatEvent(record);
      }
      if (text !== "") {
        controller.enqueue(encoder.encode(text));
        lastWrite = Date.now();
        return;
      }
      // Everything read was filtered out (or already sent): keep going.
      if (records.length > 0 || buffer.length > 0) continue;
      const now = Date.now();
      await idle(Math.min(o.heartbeatMs - (now - lastWrite), o.recheckMs - (now - lastCheck)));
      if (!closed && Date.now() - lastWrite >= o.heartbeatMs) {
        controller.enqueue(encoder.encode(": heartbeat\n\n"));
        lastWrite = Date.now();
        return;
      }
    }
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
        if (!(err instanceof DbxError) || err.status >= 500) {
          console.error(
            "error: the event stream failed:",
            err instanceof Error ? err.message : err,
          );
        }
        close();
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
    },
  });
}
