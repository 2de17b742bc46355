/**
 * Running the server: open the store, the token authority and the schemas once, serve the
 * HTTP app on the listener, and shut down in the order that loses nothing:
 * stop accepting → let in-flight requests finish → drain the writer and close the store →
 * save token state.
 */
import { TokenAuthority } from "../auth/authority.ts";
import { type Config, dekBytes } from "../config/mod.ts";
import { Engine } from "../engine/engine.ts";
import { SchemaStore } from "../schema/store.ts";
import { createValidator } from "../schema/validator.ts";
import { createApp } from "./app.ts";
import type { ServerContext } from "./context.ts";
import { listen } from "./listener.ts";
import { removePidFile, writePidFile } from "./pid_file.ts";

/** Largest accepted request body unless told otherwise (a batch of many 1 MiB payloads fits). */
export const DEFAULT_MAX_BODY_BYTES = 8 << 20;
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
}

/** A server that is up and serving. */
export interface RunningServer {
  hostname: string;
  port: number;
  context: ServerContext;
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
 * const server = await startServer({ dataDir, config, hostname: "127.0.0.1", port: 0 });
 * console.log(`http://127.0.0.1:${server.port}`);
 * await server.shutdown();
 * ```
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { dataDir } = options;
  // The server's own copy: the port is filled in once bound; surfaces read it live.
  const config: Config = { ...options.config, host: options.hostname };
  const dek = dekBytes(config);
  const schemas = await SchemaStore.open(dataDir);
  const engine = await Engine.open({
    dataDir,
    dek,
    cacheSize: config.cache_threshold,
    validator: createValidator(schemas, () => config.restrict),
    snapshotThreshold: (type) => schemas.snapshotThreshold(type) ?? config.snapshot_threshold,
  });
  let auth: TokenAuthority | undefined;
  try {
    auth = await TokenAuthority.open({ dataDir, dek });
    const context: ServerContext = {
      engine,
      auth,
      schemas,
      config,
      dataDir,
      startedAt: new Date(),
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    };
    // Event streams never end on their own: aborting this ends them so shutdown can finish.
    const streams = new AbortController();
    const app = createApp(context, { signal: streams.signal });
    const listener = listen({
      hostname: options.hostname,
      port: options.port,
      handler: (request, info) => app.fetch(request, info),
    });
    config.port = listener.port; // the port actually bound (after --port 0)
    const grace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    const finished = Promise.withResolvers<void>();
    finished.promise.catch(() => {}); // callers that await it still see the error
    let closing: Promise<void> | undefined;
    const shutdown = (): Promise<void> => {
      if (!closing) {
        closing = (async () => {
          streams.abort();
          const drained = await listener.shutdown(grace);
          if (!drained) {
            console.error(
              `warning: requests still open after ${grace} ms; closing the store anyway`,
            );
          }
          try {
            await engine.close(); // finishes every queued write before closing
          } finally {
            await context.auth.close();
          }
        })();
        closing.then(finished.resolve, finished.reject);
      }
      return closing;
    };
    // A listener that stops on its own (fatal error) still closes the store.
    const onStopped = () => void shutdown().catch(() => {});
    listener.finished.then(onStopped, onStopped);
    return {
      hostname: listener.hostname,
      port: listener.port,
      context,
      shutdown,
      finished: finished.promise,
    };
  } catch (err) {
    await auth?.close().catch(() => {});
    await engine.close().catch(() => {});
    throw err;
  }
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
 * await runForeground({ dataDir, config, hostname: "127.0.0.1", port: 7070, api: ["rest"] });
 * ```
 */
export async function runForeground(options: ForegroundOptions): Promise<void> {
  const server = await startServer(options);
  const startedAt = server.context.startedAt;
  try {
    await writePidFile(options.dataDir, {
      pid: Deno.pid,
      host: server.hostname,
      port: server.port,
      started_at: startedAt.toISOString(),
      restrict: options.config.restrict,
      api: options.api,
    });
  } catch (err) {
    await server.shutdown();
    throw err;
  }
  const announce = options.announce ?? ((line: string) => console.log(line));
  announce(
    `dbx listening on http://${server.hostname}:${server.port} (pid ${Deno.pid}, ` +
      `restrict ${options.config.restrict}, api ${options.api.join(",")}, ` +
      `data dir ${options.dataDir})`,
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
