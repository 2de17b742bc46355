/**
 * HTTP on the engine's thread: the REST app over the in-process API, served by `Deno.serve`
 * on the listener. No message port, no copy: the default on small machines, where a second
 * JS thread for HTTP costs more than it brings.
 */
import type { Api } from "../api/api.ts";
import { createRestApp } from "../rest/app.ts";
import type { StreamSettings } from "../rest/deps.ts";
import { listen } from "./listener.ts";
import type { HttpService } from "./http_service.ts";

export interface InThreadOptions {
  api: Api;
  hostname: string;
  port: number;
  maxBodyBytes?: number;
  stream?: Partial<StreamSettings>;
}

/**
 * Serve REST on this thread.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const http = serveHttpInThread({ api, hostname: "127.0.0.1", port: 0 });
 * await http.shutdown(10_000);
 * ```
 */
export function serveHttpInThread(options: InThreadOptions): HttpService {
  // Event streams never end on their own: aborting this ends them so shutdown can finish.
  const streams = new AbortController();
  const app = createRestApp({
    api: options.api,
    maxBodyBytes: options.maxBodyBytes,
    signal: streams.signal,
    stream: options.stream,
  });
  const listener = listen({
    hostname: options.hostname,
    port: options.port,
    handler: (request, info) => app.fetch(request, info),
  });
  return {
    hostname: listener.hostname,
    port: listener.port,
    workers: 0,
    finished: listener.finished,
    shutdown(gracePeriodMs) {
      streams.abort();
      return listener.shutdown(gracePeriodMs);
    },
  };
}
