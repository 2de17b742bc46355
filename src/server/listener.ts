/**
 * The layer that owns the server's TCP port.
 *
 * Today it is `Deno.serve` on the port with the HTTP handler (Hono's `fetch`) and nothing in
 * between: REST pays for no extra hop, no byte copying and no wrapper per request.
 *
 * How gRPC will share the port (a later issue) without slowing REST:
 * - `Deno.serve` already speaks HTTP/1.1 and HTTP/2 over cleartext with prior knowledge
 *   (h2c, the `PRI * HTTP/2.0` preface): checked with `curl --http2-prior-knowledge`
 *   against Deno 2.9.3. gRPC requests are recognisable inside the same handler by
 *   `content-type: application/grpc`, so a gRPC-Web/unary bridge can be one branch of the
 *   handler, costing REST a single header comparison.
 * - Full gRPC needs HTTP/2 trailers (`grpc-status`), which `Deno.serve` responses cannot
 *   send. For that, and only when `[api] grpc` is enabled, this module will own the port with
 *   `Deno.listen`, read the first 24 bytes of each connection, and hand connections that open
 *   with the HTTP/2 preface to `@grpc/grpc-js` (its HTTP/2 server accepts injected
 *   connections, as upstream EventDBX did). `Deno.serve` cannot adopt an accepted socket, so
 *   the other connections are spliced to the same handler served on a private Unix socket
 *   (`Deno.serve({ path })`): one extra byte copy for REST, paid only while gRPC is enabled
 *   and to be measured by the REST benchmark then. With gRPC disabled the port stays plain
 *   `Deno.serve`, so REST keeps today's path exactly.
 * Callers only see {@link listen} and {@link Listener}; the shape does not change when the
 * sniffing front arrives.
 */
import { DbxError } from "../errors.ts";

/** The HTTP handler: a web-standard fetch function, e.g. `app.fetch` of a Hono app. */
export type FetchHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

export interface ListenOptions {
  /** Address to bind, e.g. "127.0.0.1" or "0.0.0.0". */
  hostname: string;
  /** Port to bind; 0 lets the OS pick one (see {@link Listener.port}). */
  port: number;
  handler: FetchHandler;
  /**
   * Share the port with other listeners that also set it (SO_REUSEPORT, Linux): the HTTP
   * workers each bind the same port and the kernel spreads connections over them.
   */
  reusePort?: boolean;
}

/** A bound, serving listener. */
export interface Listener {
  readonly hostname: string;
  /** The port actually bound. */
  readonly port: number;
  /**
   * Stop accepting connections and let in-flight requests finish. Resolves true once all
   * of them finished, or false when `gracePeriodMs` passed first (long-lived responses such
   * as event streams are still open then; the caller decides what happens to them).
   */
  shutdown(gracePeriodMs: number): Promise<boolean>;
  /** Settles when the listener has stopped serving. */
  readonly finished: Promise<void>;
}

/** Last resort for a handler that throws instead of answering (Hono normally answers). */
function internalError(): Response {
  return Response.json({ message: "internal server error", code: "internal" }, { status: 500 });
}

/**
 * Bind the port and serve `handler` on it. Throws a DbxError "unavailable" naming the
 * address when the port cannot be bound (in use, not permitted, unknown address).
 *
 * @example
 * ```ts
 * const listener = listen({ hostname: "127.0.0.1", port: 0, handler: () => new Response("ok") });
 * console.log(listener.port);
 * await listener.shutdown(10_000);
 * ```
 */
export function listen(options: ListenOptions): Listener {
  const where = `${options.hostname}:${options.port}`;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      reusePort: options.reusePort,
      onListen: () => {}, // the caller announces the address itself
      onError: (err) => {
        console.error(`error: request handler failed: ${(err as Error)?.message ?? err}`);
        return internalError();
      },
    }, options.handler);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new DbxError("unavailable", `cannot listen on ${where}: the port is already in use`);
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new DbxError("unavailable", `cannot listen on ${where}: permission denied`);
    }
    throw new DbxError("unavailable", `cannot listen on ${where}: ${(err as Error).message}`);
  }
  let stopping: Promise<void> | undefined;
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    finished: server.finished,
    shutdown(gracePeriodMs) {
      stopping ??= server.shutdown();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), gracePeriodMs);
      });
      return Promise.race([stopping.then(() => true), expired]).finally(() => clearTimeout(timer));
    },
  };
}
