/**
 * HTTP on the engine's thread: the HTTP surfaces (REST, GraphQL) over the in-process API, and
 * the public port's gate on this thread too, serving HTTP/1.1 itself (http1.ts). No message
 * port, no copy of the API's data, no private socket and no second thread per request: the
 * default on small machines, where a second JS thread for HTTP costs more than it brings.
 * Connections that open with the HTTP/2 preface (gRPC sharing the port) are spliced to the
 * gRPC server as before.
 */
import type { Api } from "../api/api.ts";
import { DbxError } from "../errors.ts";
import { DEFAULT_MAX_BODY_BYTES } from "../http/body.ts";
import type { StreamSettings } from "../rest/deps.ts";
import { type Gate, type GateLimits, openGate } from "./gate.ts";
import { createHttpHandler } from "./http_handler.ts";
import type { HttpService } from "./http_service.ts";

export interface InThreadOptions {
  api: Api;
  hostname: string;
  port: number;
  /** The data dir (kept for the workers' variant, which puts private sockets there). */
  dataDir: string;
  limits: GateLimits;
  maxBodyBytes?: number;
  stream?: Partial<StreamSettings>;
  /** HTTP surfaces to serve (default REST only). */
  surfaces?: readonly string[];
}

/**
 * Serve the HTTP surfaces on this thread. Throws DbxError "unavailable" naming the address
 * when the port cannot be bound.
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
export function serveHttpInThread(options: InThreadOptions): Promise<HttpService> {
  // Event streams never end on their own: aborting this ends them so shutdown can finish.
  const streams = new AbortController();
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const handler = createHttpHandler({
    api: options.api,
    surfaces: options.surfaces ?? ["rest"],
    maxBodyBytes,
    signal: streams.signal,
    stream: options.stream,
  });
  let gate: Gate;
  try {
    gate = openGate({
      hostname: options.hostname,
      port: options.port,
      limits: options.limits,
      upstreams: [],
      http: true,
      serve: { handler, maxBodyBytes },
    });
  } catch (err) {
    const where = `${options.hostname}:${options.port}`;
    const reason = err instanceof Deno.errors.AddrInUse
      ? "the port is already in use"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (err as Error).message;
    return Promise.reject(new DbxError("unavailable", `cannot listen on ${where}: ${reason}`));
  }
  const stopped = Promise.withResolvers<string | undefined>();
  let shutdown: Promise<boolean> | undefined;
  return Promise.resolve({
    hostname: gate.hostname,
    port: gate.port,
    workers: 0,
    // The gate never stops on its own (accept errors are retried): only a shutdown ends it.
    finished: stopped.promise,
    routeHttp2: (upstreams) => Promise.resolve(gate.routeHttp2(upstreams)),
    shutdown(gracePeriodMs) {
      shutdown ??= (async () => {
        gate.stopAccepting();
        streams.abort();
        const drained = await gate.close(gracePeriodMs);
        stopped.resolve(undefined);
        return drained;
      })();
      return shutdown;
    },
  });
}
