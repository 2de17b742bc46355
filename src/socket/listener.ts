/**
 * Starting and stopping the control socket from the server's lifecycle: the socket runs in
 * a worker isolate of its own (worker.ts) and reaches the API on the engine's thread across
 * a message port, so hostile or slow clients, Noise and Cap'n Proto never take the writer's
 * thread — except where HTTP, too, serves on the engine's thread (two cores or fewer: a
 * port round trip per request costs more there than the thread it frees). What
 * `startSocket` returns is what the server's lifecycle needs of a surface with a listener of
 * its own (the served address, a graceful shutdown, the end).
 */
import { serveSocket } from "./serve.ts";
import { WORKER_START_TIMEOUT_MS, workerReports } from "../util/worker_reports.ts";
import type { Api } from "../api/api.ts";
import { serveApiOnPort } from "../api/port/serve.ts";
import { type Config, defaultConfig } from "../config/mod.ts";
import { DbxError } from "../errors.ts";
import { DEFAULT_MAX_FRAME_BYTES, type SocketSettings } from "./serve.ts";
import type { SocketLimits } from "./server.ts";
import type { SocketCommand, SocketReport } from "./worker.ts";

/** How long the worker may take to bind its port. */

/** A running control socket. */
export interface SocketListener {
  readonly hostname: string;
  readonly port: number;
  /** What `dbx status` lists. */
  readonly served: { surface: string; url: string }[];
  /** Stop accepting, let answers in progress go out; true when all did within the grace. */
  shutdown(gracePeriodMs: number): Promise<boolean>;
  /** Settles when it stopped: nothing after a shutdown, the reason when its worker died. */
  readonly finished: Promise<string | undefined>;
}

/**
 * Split a `[socket] bind_addr` (`HOST:PORT`, IPv6 in brackets).
 *
 * @example
 * ```ts
 * parseBindAddr("127.0.0.1:6363"); // { hostname: "127.0.0.1", port: 6363 }
 * parseBindAddr("[::1]:0"); // { hostname: "::1", port: 0 }
 * ```
 */
export function parseBindAddr(addr: string): { hostname: string; port: number } {
  const at = addr.lastIndexOf(":");
  const host = addr.slice(0, at);
  return { hostname: host.replace(/^\[|\]$/g, ""), port: Number(addr.slice(at + 1)) };
}

/** The `[socket] bind_addr` of a configuration that does not set one. */
const DEFAULT_BIND_ADDR = defaultConfig("/").socket.bind_addr;

/**
 * The socket's settings from the configuration. A server asked for any free HTTP port
 * (`--port 0`, as tests and scripts do) also takes any free socket port while `bind_addr`
 * is left at its default, so that such servers never contend for 6363; the PID file and
 * `dbx status` say which port it got.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "../config/mod.ts";
 * const limits = { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 };
 * socketSettings(defaultConfig("/tmp/db"), limits, { anyPort: true }).port; // 0
 * ```
 */
export function socketSettings(
  config: Config,
  limits: SocketLimits,
  options: { anyPort?: boolean; commandWorkerUrl?: string } = {},
): SocketSettings {
  const bind = parseBindAddr(config.socket.bind_addr);
  const anyPort = options.anyPort === true && config.socket.bind_addr === DEFAULT_BIND_ADDR;
  return {
    hostname: bind.hostname,
    port: anyPort ? 0 : bind.port,
    limits,
    allowPlaintext: config.socket.allow_plaintext === true,
    maxFrameBytes: config.socket.max_frame_bytes ?? DEFAULT_MAX_FRAME_BYTES,
    commandWorkerUrl: options.commandWorkerUrl,
  };
}

/**
 * Start the control socket for `api` in its worker (on this thread with `inThread`). Throws
 * DbxError "unavailable" naming the address when the port cannot be bound.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const socket = await startSocket(api, {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 *   allowPlaintext: false,
 *   maxFrameBytes: 65_535,
 * });
 * await socket.shutdown(10_000);
 * ```
 */
export async function startSocket(
  api: Api,
  settings: SocketSettings,
  options: { inThread?: boolean } = {},
): Promise<SocketListener> {
  if (options.inThread) return await startSocketInThread(api, settings);
  const worker = new Worker(new URL("./worker.ts", import.meta.url).href, {
    type: "module",
    name: "dbx-socket",
  });
  const channel = new MessageChannel();
  const served = serveApiOnPort(api, channel.port1);
  const finished = Promise.withResolvers<string | undefined>();
  let stopping = false;
  const reports = workerReports<SocketReport>(worker, {
    what: "the control socket's worker",
    onFailure(message) {
      console.error(`error: the control socket's worker failed: ${message}`);
      if (!stopping) finished.resolve(`the control socket failed: ${message}`);
    },
  });
  const next = (timeoutMs: number) => reports.next(timeoutMs);
  const send = (command: SocketCommand, transfer: Transferable[] = []) =>
    worker.postMessage(command, transfer);
  const stop = () => {
    served.close();
    channel.port1.close();
    worker.terminate();
  };

  send({ type: "start", settings, api: channel.port2 }, [channel.port2]);
  let first: SocketReport;
  try {
    first = await next(WORKER_START_TIMEOUT_MS);
  } catch (err) {
    stop();
    throw err;
  }
  const where = `${settings.hostname}:${settings.port}`;
  if (first.type !== "listening") {
    stop();
    const reason = first.type !== "failed"
      ? "unexpected report"
      : first.kind === "in_use"
      ? "the port is already in use"
      : first.kind === "denied"
      ? "permission denied"
      : first.message;
    throw new DbxError("unavailable", `cannot listen on ${where} (control socket): ${reason}`);
  }
  const host = first.hostname.includes(":") ? `[${first.hostname}]` : first.hostname;
  let shutdown: Promise<boolean> | undefined;
  return {
    hostname: first.hostname,
    port: first.port,
    served: [{ surface: "socket", url: `tcp://${host}:${first.port}` }],
    finished: finished.promise,
    shutdown(gracePeriodMs) {
      shutdown ??= (async () => {
        stopping = true;
        let drained = false;
        if (reports.failure === undefined) {
          send({ type: "shutdown", graceMs: gracePeriodMs });
          try {
            const report = await next(gracePeriodMs + 5_000);
            drained = report.type === "stopped" && report.drained;
          } catch {
            drained = false;
          }
        }
        stop();
        finished.resolve(undefined);
        return drained;
      })();
      return shutdown;
    },
  };
}

/**
 * The socket on this (the engine's) thread, like HTTP on machines with two cores or fewer:
 * there a worker's message-port round trip per request costs more than the thread it frees
 * (measured: one client's sequential appends 0.70 of REST's through a worker, 0.90 here).
 */
async function startSocketInThread(api: Api, settings: SocketSettings): Promise<SocketListener> {
  let server;
  try {
    server = await serveSocket(api, settings);
  } catch (err) {
    const where = `${settings.hostname}:${settings.port}`;
    const reason = err instanceof Deno.errors.AddrInUse
      ? "the port is already in use"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (err as Error)?.message ?? String(err);
    throw new DbxError("unavailable", `cannot listen on ${where} (control socket): ${reason}`);
  }
  const host = server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
  const finished = Promise.withResolvers<string | undefined>();
  let shutdown: Promise<boolean> | undefined;
  return {
    hostname: server.hostname,
    port: server.port,
    served: [{ surface: "socket", url: `tcp://${host}:${server.port}` }],
    finished: finished.promise,
    shutdown(gracePeriodMs) {
      shutdown ??= server.close(gracePeriodMs).finally(() => finished.resolve(undefined));
      return shutdown;
    },
  };
}
