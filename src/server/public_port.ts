/**
 * A public port: the gate (gate.ts) running in its worker isolate, in front of the private
 * servers that answer its connections.
 */
import { DbxError } from "../errors.ts";
import type { GateOptions, Upstream } from "./gate.ts";
import type { GateCommand, GateReport } from "./gate_worker.ts";

/** How long the gate may take to bind its port. */
const START_TIMEOUT_MS = 15_000;

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
  const reports: GateReport[] = [];
  let wake: (() => void) | undefined;
  let dead: string | undefined;
  const died = Promise.withResolvers<string>();
  worker.onmessage = (event: MessageEvent<GateReport>) => {
    if (event.data.type === "peer") return onPeer?.(event.data.peer);
    reports.push(event.data);
    wake?.();
  };
  worker.onerror = (event) => {
    event.preventDefault();
    dead = event.message;
    console.error(
      `error: the gate of ${options.hostname}:${options.port} failed: ${event.message}`,
    );
    died.resolve(`the gate of the public port failed: ${event.message}`);
    wake?.();
  };
  const next = async (timeoutMs: number): Promise<GateReport> => {
    const deadline = Date.now() + timeoutMs;
    while (reports.length === 0) {
      if (dead !== undefined) throw new DbxError("unavailable", `the gate failed: ${dead}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new DbxError("unavailable", "the gate did not answer in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    return reports.shift()!;
  };
  const send = (command: GateCommand) => worker.postMessage(command);

  send({ type: "start", options: { ...gateOptions, reportPeers: onPeer !== undefined } });
  let first: GateReport;
  try {
    first = await next(START_TIMEOUT_MS);
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
      if (closed || dead !== undefined) return;
      send({ type: "stop-accepting" });
      await next(5_000).catch(() => {});
    },
    async routeHttp2(upstreams) {
      if (closed || dead !== undefined) {
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
        if (dead === undefined) {
          send({ type: "close" });
          await next(5_000).catch(() => {});
        }
        worker.terminate();
      })();
      return closed;
    },
  };
}
