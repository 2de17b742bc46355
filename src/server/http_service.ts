import type { Upstream } from "./gate.ts";

/** What the server lifecycle needs of the HTTP service, on one thread or in workers. */
export interface HttpService {
  readonly hostname: string;
  /** The port actually bound (after `--port 0`). */
  readonly port: number;
  /** Worker isolates serving HTTP (0: on the engine's thread). */
  readonly workers: number;
  /**
   * End open event streams, stop accepting connections and let in-flight requests finish.
   * True once all finished, false when `gracePeriodMs` passed first.
   */
  shutdown(gracePeriodMs: number): Promise<boolean>;
  /**
   * Send the port's connections that open with the HTTP/2 preface (gRPC sharing the port)
   * to these servers from now on.
   */
  routeHttp2(upstreams: Upstream[]): Promise<void>;
  /**
   * Settles when the service stopped serving: with nothing after a shutdown, with the reason
   * when it stopped on its own (a fatal error).
   */
  readonly finished: Promise<string | undefined>;
}
