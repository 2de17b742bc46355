/**
 * Running the server: open the node once, serve HTTP (on this thread or in workers) over
 * its API, and shut down in the order that loses nothing: end event streams and stop
 * accepting → let in-flight requests finish → drain the writer and close the store → save
 * token state.
 */
import { type Api, createApi } from "../api/api.ts";
import { type Node, openNode } from "../api/node.ts";
import type { Config } from "../config/mod.ts";
import type { StreamSettings } from "../rest/deps.ts";
import { serveHttpInThread } from "./http_in_thread.ts";
import type { HttpService } from "./http_service.ts";
import { httpWorkerCount, serveHttpInWorkers } from "./http_workers.ts";
import { removePidFile, writePidFile } from "./pid_file.ts";

/** How long shutdown waits for in-flight requests before closing the store anyway. */
export const DEFAULT_GRACE_PERIOD_MS = 10_000;

export interface ServerOptions {
  dataDir: string;
  /** Effective settings (restrict, page sizes, DEK …) after command-line overrides. */
  config: Config;
  hostname: string;
  /** 0 lets the OS pick a port; {@link RunningServer.port} tells which. */
  port: number;
  maxBodyBytes?: number;
  /** See {@link DEFAULT_GRACE_PERIOD_MS}. */
  gracePeriodMs?: number;
  /** Event stream tuning (tests shorten the intervals). */
  stream?: Partial<StreamSettings>;
}

/** A server that is up and serving. */
export interface RunningServer {
  hostname: string;
  port: number;
  node: Node;
  api: Api;
  startedAt: Date;
  /** HTTP worker isolates (0: HTTP runs on the engine's thread). */
  httpWorkers: number;
  /** Graceful shutdown; safe to call more than once. */
  shutdown(): Promise<void>;
  /** Settles when the server has shut down and closed the store. */
  finished: Promise<void>;
}

/**
 * Open everything a data directory needs and start serving it.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "../config/mod.ts";
 * import { generateDek } from "../crypto/aead.ts";
 * const dataDir = await Deno.makeTempDir();
 * const config = { ...defaultConfig(dataDir), dek: generateDek() };
 * const server = await startServer({ dataDir, config, hostname: "127.0.0.1", port: 0 });
 * console.log(`http://127.0.0.1:${server.port}`);
 * await server.shutdown();
 * ```
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { dataDir } = options;
  // The server's own copy: the port is filled in once bound; the API reads it live.
  const config: Config = { ...options.config, host: options.hostname };
  const startedAt = new Date();
  const node = await openNode({ dataDir, config, mode: "write", openStore: true });
  let http: HttpService;
  const api = createApi(node);
  try {
    const workers = httpWorkerCount(config.server.http_workers);
    const common = {
      api,
      hostname: options.hostname,
      port: options.port,
      maxBodyBytes: options.maxBodyBytes,
      stream: options.stream,
    };
    http = workers === 0
      ? serveHttpInThread(common)
      : await serveHttpInWorkers({ ...common, workers });
  } catch (err) {
    await node.close().catch(() => {});
    throw err;
  }
  config.port = http.port; // the port actually bound (after --port 0)
  const grace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
  const finished = Promise.withResolvers<void>();
  finished.promise.catch(() => {}); // callers that await it still see the error
  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    if (!closing) {
      closing = (async () => {
        const drained = await http.shutdown(grace);
        if (!drained) {
          console.error(`warning: requests still open after ${grace} ms; closing the store anyway`);
        }
        await node.close(); // finishes every queued write, closes the store, saves tokens
      })();
      closing.then(finished.resolve, finished.reject);
    }
    return closing;
  };
  // An HTTP service that stops on its own (fatal error) still closes the store.
  const onStopped = () => void shutdown().catch(() => {});
  http.finished.then(onStopped, onStopped);
  return {
    hostname: http.hostname,
    port: http.port,
    node,
    api,
    startedAt,
    httpWorkers: http.workers,
    shutdown,
    finished: finished.promise,
  };
}

export interface ForegroundOptions extends ServerOptions {
  /** Surfaces served, recorded in the PID file (e.g. ["rest"]). */
  api: string[];
  /** Where to announce the address (stdout by default). */
  announce?: (line: string) => void;
}

/** Signals that ask a foreground server to stop. */
function stopSignals(): Deno.Signal[] {
  return Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGTERM", "SIGINT"];
}

/**
 * Serve in this process until SIGTERM/SIGINT (or `dbx stop`): write the PID file once the
 * listener is up, shut down gracefully on a signal, remove the PID file. A second SIGINT
 * while shutting down exits at once (acknowledged writes are already durable).
 *
 * @example
 * ```ts
 * import { loadConfig } from "../config/mod.ts";
 * const { config, dataDir } = await loadConfig({ dataDir: "/tmp/db" }, { create: true });
 * await runForeground({ dataDir, config, hostname: "127.0.0.1", port: 7070, api: ["rest"] });
 * ```
 */
export async function runForeground(options: ForegroundOptions): Promise<void> {
  const server = await startServer(options);
  const startedAt = server.startedAt;
  try {
    await writePidFile(options.dataDir, {
      pid: Deno.pid,
      host: server.hostname,
      port: server.port,
      started_at: startedAt.toISOString(),
      restrict: options.config.restrict,
      api: options.api,
      http_workers: server.httpWorkers,
    });
  } catch (err) {
    await server.shutdown();
    throw err;
  }
  const announce = options.announce ?? ((line: string) => console.log(line));
  announce(
    `dbx listening on http://${server.hostname}:${server.port} (pid ${Deno.pid}, ` +
      `restrict ${options.config.restrict}, api ${options.api.join(",")}, ` +
      `http ${
        server.httpWorkers === 0 ? "on the engine thread" : `in ${server.httpWorkers} workers`
      }, data dir ${options.dataDir})`,
  );

  let signalled = false;
  const onSignal = (signal: Deno.Signal) => () => {
    if (signalled) {
      if (signal === "SIGINT") {
        console.error("interrupted again: exiting without waiting");
        Deno.exit(130);
      }
      return;
    }
    signalled = true;
    announce(`dbx received ${signal}: finishing in-flight requests, then closing the store`);
    server.shutdown().catch((err) => {
      console.error(`error: shutdown failed: ${(err as Error).message}`);
    });
  };
  const handlers = stopSignals().map((signal) => {
    const handler = onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return { signal, handler };
  });
  try {
    await server.finished;
  } finally {
    for (const { signal, handler } of handlers) Deno.removeSignalListener(signal, handler);
    await removePidFile(options.dataDir, Deno.pid).catch(() => {});
  }
  announce(`dbx stopped (pid ${Deno.pid})`);
}
