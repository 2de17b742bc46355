/**
 * The http kind: POST each EventRecord as JSON to the endpoint, with the configured
 * headers. A 2xx answer acknowledges the event; anything else (or no answer within the
 * attempt timeout) fails it.
 */
import type { EventRecord } from "../../../engine/types.ts";
import { DeliveryError, errorText, type Sink, withTimeout } from "./sink.ts";
import { checkReachable } from "./tcp.ts";

export interface HttpSinkSettings {
  endpoint: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/**
 * An http sink.
 *
 * @example
 * ```ts
 * const sink = httpSink({ endpoint: "http://127.0.0.1:8080/events", headers: {}, timeoutMs: 5000 });
 * await sink.close();
 * ```
 */
export function httpSink(settings: HttpSinkSettings): Sink {
  const url = new URL(settings.endpoint);
  const post = (record: EventRecord, signal: AbortSignal) =>
    withTimeout(settings.timeoutMs, signal, `POST ${url.origin}`, async (inner) => {
      const response = await fetch(url, {
        method: "POST",
        headers: { ...settings.headers, "content-type": "application/json" },
        body: JSON.stringify(record),
        signal: inner,
      });
      // Read the answer whole: the connection then goes back to the pool.
      const text = await response.text();
      if (!response.ok) {
        throw new Error(`HTTP ${response.status} from ${url.origin}: ${text.slice(0, 200)}`);
      }
    });
  return {
    maxBatch: 1,
    async deliver(records, signal) {
      for (let i = 0; i < records.length; i++) {
        try {
          await post(records[i], signal);
        } catch (err) {
          throw new DeliveryError(errorText(err), i);
        }
      }
    },
    check(signal) {
      const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
      return checkReachable(url.hostname.replace(/^\[|\]$/g, ""), port, settings.timeoutMs, signal);
    },
    close: () => Promise.resolve(),
  };
}
