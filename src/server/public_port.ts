/**
 * A public port: the gate (gate.ts) running in its worker isolate, in front of the private
 * servers that answer its connections.
 */
import { WORKER_START_TIMEOUT_MS, workerReports } from "../util/worker_reports.ts";
import { DbxError } from "../errors.ts";
import type { GateOptions, Upstream } from "./gate.ts";
import type { GateCommand, GateReport } from "./gate_worker.ts";

/** How long the gate may take to bind its port. */

/** A public port that is accepting. */
export interface PublicPort {
  readonly hostname: string;
  readonly port: number;
  /** Stop accepting new connections (open ones go on). */
  stopAccepting(): Promise<void>;
  /**
   * From now on, send connections that open with the HTTP/2 preface (gRPC) to `upstreams`
   * (empty: with all the others). Resolves once the gate applies it.
   */
  routeHttp2(upstreams: Upstream[]): Promise<void>;
  /** Close every connection and the worker. */
  close(): Promise<void>;
  /** Settles with the reason if the gate dies (it never ends on its own otherwise). */
  readonly died: Promise<string>;
}

/**
 * Open a public port in front of `options.upstreams`. Throws DbxError "unavailable" naming
 * the address when the port cannot be bound.
 *
 * @example
 * ```ts
 * const port = await openPublicPort({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 *   upstreams: [{ transport: "unix", path: "/tmp/db/.http.sock" }],
 *   http: true,
 * });
 * await port.close();
 * ```
 */
export async function openPublicPort(
  options: Omit<GateOptions, "log" | "reportPeers">,
): Promise<PublicPort> {
  // A function cannot cross to the worker: it is asked to report peers, answered here.
  const { onPeer, ...gateOptions } = options;
  const worker = new Worker(new URL("./gate_worker.ts", import.meta.url).href, {
    type: "module",
    name: "dbx-gate",
  });
  const died = Promise.withResolvers<string>();
  const reports = workerReports<GateReport>(worker, {
    what: "the gate",
    aside(report) {
      if (report.type !== "peer") return false;
      onPeer?.(report.peer);
      return true;
    },
    onFailure(message) {
      console.error(`error: the gate of ${options.hostname}:${options.port} failed: ${message}`);
      died.resolve(`the gate of the public port failed: ${message}`);
    },
  });
  const next = (timeoutMs: number) => reports.next(timeoutMs);
  const send = (command: GateCommand) => worker.postMessage(command);

  send({ type: "start", options: { ...gateOptions, reportPeers: onPeer !== undefined } });
  let first: GateReport;
  try {
    first = await next(WORKER_START_TIMEOUT_MS);
  } catch (err) {
    worker.terminate();
    throw err;
  }
  const where = `${options.hostname}:${options.port}`;
  if (first.type === "failed") {
    worker.terminate();
    const reason = first.kind === "in_use"
      ? "the port is already in use"
      : first.kind === "denied"
      ? "permission denied"
      : first.message;
    throw new DbxError("unavailable", `cannot listen on ${where}: ${reason}`);
  }
  if (first.type !== "listening") {
    worker.terminate();
    throw new DbxError("internal", "unexpected report from the gate");
  }
  let closed: Promise<void> | undefined;
  return {
    hostname: first.hostname,
    port: first.port,
    died: died.promise,
    async stopAccepting() {
      if (closed || reports.failure !== undefined) return;
      send({ type: "stop-accepting" });
      await next(5_000).catch(() => {});
    },
    async routeHttp2(upstreams) {
      if (closed || reports.failure !== undefined) {
        throw new DbxError("unavailable", `the gate of ${where} is closed`);
      }
      send({ type: "route-http2", upstreams });
      const answer = await next(5_000);
      if (answer.type !== "routed") {
        throw new DbxError("internal", "unexpected report from the gate");
      }
    },
    close() {
      closed ??= (async () => {
        if (reports.failure === undefined) {
          send({ type: "close" });
          await next(5_000).catch(() => {});
        }
        worker.terminate();
      })();
      return closed;
    },
  };
}
