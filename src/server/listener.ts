/**
 * The HTTP server behind the gate: `Deno.serve` with the HTTP handler (Hono's `fetch`) on a
 * private address (a Unix socket in the data directory), and nothing in between. The public
 * port belongs to the gate (gate.ts), which owns the accept loop, the connection cap and the
 * timeouts that `Deno.serve` lacks, and splices each connection here.
 *
 * How gRPC will share the public port (a later issue): the gate already sees the first bytes
 * of every connection; one that opens with the HTTP/2 preface and carries
 * `content-type: application/grpc` can go to the gRPC server's private address instead.
 */
import { join } from "node:path";
import { DbxError } from "../errors.ts";

/** The HTTP handler: a web-standard fetch function, e.g. `app.fetch` of a Hono app. */
export type FetchHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;

/** Where a private server listens: a Unix socket, or a loopback port where there are none. */
export type PrivateAddress =
  | { transport: "unix"; path: string }
  | { transport: "tcp"; hostname: "127.0.0.1"; port: number };

export interface ListenOptions {
  address: PrivateAddress;
  handler: FetchHandler;
}

/** A bound, serving listener. */
export interface Listener {
  /** The address actually bound (a loopback port filled in once bound). */
  readonly address: PrivateAddress;
  /**
   * Stop accepting connections and let in-flight requests finish. Resolves true once all
   * of them finished, or false when `gracePeriodMs` passed first (long-lived responses such
   * as event streams are still open then; the caller decides what happens to them).
   */
  shutdown(gracePeriodMs: number): Promise<boolean>;
  /** Settles when the listener has stopped serving. */
  readonly finished: Promise<void>;
}

/** Longest Unix socket path that fits `sun_path` on every supported system. */
const MAX_SOCKET_PATH = 100;

/**
 * A private address for the server called `name` of a data directory: a Unix socket in the
 * directory itself (mode 0700, so only its owner reaches it), in a private temp directory
 * when that path would be too long, or a loopback port where Unix sockets are missing.
 *
 * @example
 * ```ts
 * const address = await privateAddress("/tmp/db", "http-1");
 * // { transport: "unix", path: "/tmp/db/.http-1.sock" }
 * ```
 */
export async function privateAddress(dataDir: string, name: string): Promise<PrivateAddress> {
  if (Deno.build.os === "windows") return { transport: "tcp", hostname: "127.0.0.1", port: 0 };
  let path = join(dataDir, `.${name}.sock`);
  if (path.length > MAX_SOCKET_PATH) {
    path = join(await Deno.makeTempDir({ prefix: "dbx-" }), `${name}.sock`);
  }
  // A socket file left by a server that crashed: only this server may own it (the store's
  // lock says so), so it is stale.
  await Deno.remove(path).catch(() => {});
  return { transport: "unix", path };
}

/** Last resort for a handler that throws instead of answering (Hono normally answers). */
function internalError(): Response {
  return Response.json({ message: "internal server error", code: "internal" }, { status: 500 });
}

/**
 * Serve `handler` on a private address.
 *
 * @example
 * ```ts
 * const address = await privateAddress("/tmp/db", "http");
 * const listener = listen({ address, handler: () => new Response("ok") });
 * await listener.shutdown(10_000);
 * ```
 */
export function listen(options: ListenOptions): Listener {
  const { address } = options;
  const onError = (err: unknown) => {
    console.error(`error: request handler failed: ${(err as Error)?.message ?? err}`);
    return internalError();
  };
  let server: Deno.HttpServer;
  try {
    server = address.transport === "unix"
      ? Deno.serve({ path: address.path, onListen: () => {}, onError }, options.handler)
      : Deno.serve(
        { hostname: address.hostname, port: address.port, onListen: () => {}, onError },
        options.handler,
      );
  } catch (err) {
    const where = address.transport === "unix" ? address.path : `127.0.0.1:${address.port}`;
    throw new DbxError("unavailable", `cannot serve on ${where}: ${(err as Error).message}`);
  }
  const bound: PrivateAddress = address.transport === "unix"
    ? address
    : { ...address, port: (server.addr as Deno.NetAddr).port };
  let stopping: Promise<void> | undefined;
  return {
    address: bound,
    finished: server.finished.finally(() => {
      if (address.transport === "unix") return Deno.remove(address.path).catch(() => {});
    }),
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

/** The Deno.connect options of a private address. */
export function connectOptions(
  address: PrivateAddress,
): Deno.ConnectOptions | Deno.UnixConnectOptions {
  return address.transport === "unix"
    ? { transport: "unix", path: address.path }
    : { hostname: address.hostname, port: address.port };
}
