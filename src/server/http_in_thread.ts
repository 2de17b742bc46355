/**
 * HTTP on the engine's thread: the HTTP surfaces (REST, GraphQL) over the in-process API,
 * served by `Deno.serve` on a private address, with the public port's gate (in its worker) in
 * front. No message
 * port and no copy of the API's data: the default on small machines, where a second JS thread
 * for HTTP costs more than it brings.
 */
import type { Api } from "../api/api.ts";
import type { StreamSettings } from "../rest/deps.ts";
import type { GateLimits } from "./gate.ts";
import { createHttpHandler } from "./http_handler.ts";
import type { HttpService } from "./http_service.ts";
import { connectOptions, listen, privateAddress } from "./listener.ts";
import { openPublicPort } from "./public_port.ts";

export interface InThreadOptions {
  api: Api;
  hostname: string;
  port: number;
  /** Where the private socket goes. */
  dataDir: string;
  limits: GateLimits;
  maxBodyBytes?: number;
  stream?: Partial<StreamSettings>;
  /** HTTP surfaces to serve (default REST only). */
  surfaces?: readonly string[];
}

/**
 * Serve the HTTP surfaces on this thread.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const http = await serveHttpInThread({
 *   api,
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   dataDir: "/tmp/db",
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 * });
 * await http.shutdown(10_000);
 * ```
 */
export async function serveHttpInThread(options: InThreadOptions): Promise<HttpService> {
  // Event streams never end on their own: aborting this ends them so shutdown can finish.
  const streams = new AbortController();
  const handler = createHttpHandler({
    api: options.api,
    surfaces: options.surfaces ?? ["rest"],
    maxBodyBytes: options.maxBodyBytes,
    signal: streams.signal,
    stream: options.stream,
  });
  const listener = listen({ address: await privateAddress(options.dataDir, "http"), handler });
  let gate;
  try {
    gate = await openPublicPort({
      hostname: options.hostname,
      port: options.port,
      limits: options.limits,
      upstreams: [connectOptions(listener.address)],
      http: true,
    });
  } catch (err) {
    await listener.shutdown(0);
    throw err;
  }
  const publicPort = gate;
  let stopping = false;
  return {
    hostname: publicPort.hostname,
    port: publicPort.port,
    workers: 0,
    finished: Promise.race([
      listener.finished.then(
        () => stopping ? undefined : "the HTTP server stopped",
        (err) => `the HTTP server failed: ${(err as Error)?.message ?? err}`,
      ),
      publicPort.died,
    ]),
    routeHttp2: (upstreams) => publicPort.routeHttp2(upstreams),
    async shutdown(gracePeriodMs) {
      stopping = true;
      await publicPort.stopAccepting();
      streams.abort();
      const drained = await listener.shutdown(gracePeriodMs);
      await publicPort.close();
      return drained;
    },
  };
}
