/**
 * Serving gRPC: the grpc-js server runs in its own worker isolate (src/grpc/worker.ts) on a
 * private address, and a public port's gate hands it its connections, those that open with
 * the HTTP/2 preface:
 *
 * - by default on the HTTP port itself: `[grpc].bind_addr` at its default (`0.0.0.0:7070`,
 *   "the HTTP listener" in the seed) or naming the HTTP port shares it, and the HTTP gate
 *   sends HTTP/2 prior-knowledge connections to the gRPC server, everything else to HTTP;
 * - otherwise on a port of its own (another gate, same limits).
 */
import type { Api } from "../api/api.ts";
import { type Config, DEFAULT_PORT } from "../config/mod.ts";
import { startGrpcWorker } from "../grpc/worker_host.ts";
import type { GateLimits } from "./gate.ts";
import type { HttpService } from "./http_service.ts";
import { connectOptions } from "./listener.ts";
import { openPublicPort, type PublicPort } from "./public_port.ts";
import type { OwnListener } from "./serve.ts";

/** The default `[grpc].bind_addr`: it means the HTTP listener's address. */
export const SHARED_BIND_ADDR = `0.0.0.0:${DEFAULT_PORT}`;

/** Where gRPC listens: on the HTTP port, or on an address of its own. */
export type GrpcPlacement =
  | { shared: true }
  | { shared: false; hostname: string; port: number };

/**
 * Where `[grpc].bind_addr` puts gRPC, given the HTTP listener's port: its default value or
 * the HTTP port shares the HTTP listener, anything else is a port of its own.
 *
 * @example
 * ```ts
 * grpcPlacement("0.0.0.0:7070", 8080); // { shared: true }
 * grpcPlacement("127.0.0.1:8080", 8080); // { shared: true }
 * grpcPlacement("127.0.0.1:50051", 7070); // { shared: false, hostname: "127.0.0.1", port: 50051 }
 * ```
 */
export function grpcPlacement(bindAddr: string, httpPort: number): GrpcPlacement {
  if (bindAddr === SHARED_BIND_ADDR) return { shared: true };
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(bindAddr);
  if (!match) return { shared: true };
  const port = Number(match[3]);
  if (port === httpPort) return { shared: true };
  return { shared: false, hostname: match[1] ?? match[2], port };
}

/** A host as it goes in a URL (IPv6 addresses in brackets). */
function urlHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

export interface GrpcListenerOptions {
  api: Api;
  config: Config;
  /** The HTTP service already serving (its port is shared unless bind_addr says otherwise). */
  http: HttpService;
  limits: GateLimits;
  /** Longest wait between checks of a subscription's token (tests shorten it). */
  recheckMs?: number;
}

/**
 * Start gRPC: the worker, then its route on the shared port or its own port.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * import type { Config } from "../config/mod.ts";
 * import type { HttpService } from "./http_service.ts";
 * declare const api: Api, config: Config, http: HttpService;
 * const grpc = await serveGrpc({
 *   api,
 *   config,
 *   http,
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 * });
 * grpc.served; // [{ surface: "grpc", url: "grpc://127.0.0.1:7070" }]
 * await grpc.shutdown(10_000);
 * ```
 */
export async function serveGrpc(options: GrpcListenerOptions): Promise<OwnListener> {
  const { http, limits } = options;
  const placement = grpcPlacement(options.config.grpc.bind_addr, http.port);
  // A loopback port, not a Unix socket in the data dir like the HTTP workers': Deno 2.9.3's
  // node:net (which grpc-js serves on) closes each accepted Unix-socket connection's
  // descriptor twice, and the second close can hit a descriptor another thread of this
  // process (the store, a connection) was just given. Over TCP it closes once. Calls on
  // this port still need a token; what a local process that dials it directly skips is the
  // gate's connection cap and header timeout.
  const worker = await startGrpcWorker({
    api: options.api,
    target: "127.0.0.1:0",
    settings: {
      maxMessageBytes: options.config.grpc.max_message_bytes,
      idleTimeoutMs: limits.idleTimeoutMs,
      recheckMs: options.recheckMs,
    },
  });
  const upstream = connectOptions({ transport: "tcp", hostname: "127.0.0.1", port: worker.port });

  let own: PublicPort | undefined;
  let url: string;
  try {
    if (placement.shared) {
      await http.routeHttp2([upstream]);
      url = `grpc://${urlHost(http.hostname)}:${http.port}`;
    } else {
      // Every connection of this port goes to gRPC; those with the preface are HTTP/2 and
      // left to the gRPC server's own idle handling, like on the shared port.
      own = await openPublicPort({
        hostname: placement.hostname,
        port: placement.port,
        limits,
        upstreams: [upstream],
        http2Upstreams: [upstream],
      });
      url = `grpc://${urlHost(own.hostname)}:${own.port}`;
    }
  } catch (err) {
    await worker.shutdown(0);
    throw err;
  }
  const port = own;
  let stopping: Promise<boolean> | undefined;
  return {
    served: [{ surface: "grpc", url }],
    finished: Promise.race([
      worker.finished,
      ...(port ? [port.died] : []),
    ]),
    shutdown(gracePeriodMs) {
      stopping ??= (async () => {
        await port?.stopAccepting();
        const drained = await worker.shutdown(gracePeriodMs);
        await port?.close();
        return drained;
      })();
      return stopping;
    },
  };
}
