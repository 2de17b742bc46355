/**
 * Running the server: open the node once, serve HTTP (on this thread or in workers) over
 * its API, and shut down in the order that loses nothing: end event streams and stop
 * accepting → let in-flight requests finish → drain the writer and close the store → save
 * token state.
 */
import { type Api, createApi } from "../api/api.ts";
import { type Node, openNode } from "../api/node.ts";
import { type Config, CONFIG_FILE_NAME } from "../config/mod.ts";
import { join } from "node:path";
import { checkAdminSettings, masterKeyUpgrade, serveAdmin } from "./admin_listener.ts";
import type { StreamSettings } from "../rest/deps.ts";
import { connectionCap, type FdLimit, raiseFdLimit } from "./fd_limit.ts";
import type { GateLimits } from "./gate.ts";
import { serveGrpc } from "./grpc_listener.ts";
import { startPluginDelivery } from "../plugins/delivery/listener.ts";
import { socketSettings, startSocket } from "../socket/listener.ts";
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
  /** Surfaces to serve, as `--api` resolved them (default: REST only). */
  surfaces?: readonly string[];
  /**
   * The config file the settings came from (default `<dataDir>/config.toml`): the Admin API
   * follows its `[admin]` table live.
   */
  configPath?: string;
  /**
   * The worker module that runs `dbx --remote` commands (the CLI's `remote_runner.ts`, which
   * `dbx start` names); absent: the socket refuses remote commands.
   */
  remoteCommands?: string;
}

/** One surface being served, and where: what `dbx status` lists. */
export interface ServedSurface {
  /** "rest", "graphql", "grpc", "admin", "socket" … */
  surface: string;
  /** Where clients reach it, e.g. `http://127.0.0.1:7070/graphql`. */
  url: string;
}

/**
 * A surface with a listener of its own (not the shared HTTP port): started after the HTTP
 * service, stopped before it.
 */
export interface OwnListener {
  served: ServedSurface[];
  /** Stop accepting and let in-flight calls finish; true when they did within the grace. */
  shutdown(gracePeriodMs: number): Promise<boolean>;
  /** Settles when it stopped serving: nothing after a shutdown, the reason on a fatal error. */
  readonly finished: Promise<string | undefined>;
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
  /** Every surface served and where. */
  served: ServedSurface[];
  /** Graceful shutdown; safe to call more than once. */
  shutdown(): Promise<void>;
  /**
   * Settles when the server has shut down and closed the store: with nothing after
   * `shutdown()`, with the reason when it stopped on its own (a fatal error).
   */
  finished: Promise<string | undefined>;
}

/** A host as it goes in a URL (IPv6 addresses in brackets). */
function urlHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** The open-file limit, raised once per process to its hard value (see fd_limit.ts). */
let fdLimit: FdLimit | undefined;

/**
 * The limits every listener gets: the configured timeouts, and the configured connection
 * cap lowered to what the open-file limit leaves room for.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "../config/mod.ts";
 * listenerLimits(defaultConfig("/tmp/db")).maxConnections; // 1024, or fewer on a low limit
 * ```
 */
export function listenerLimits(config: Config): GateLimits {
  fdLimit ??= raiseFdLimit();
  return {
    maxConnections: connectionCap(config.server.max_connections, fdLimit.soft),
    headerTimeoutMs: config.server.header_read_timeout * 1000,
    idleTimeoutMs: config.server.idle_timeout * 1000,
  };
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
  const config: Config = {
    ...options.config,
    host: options.hostname,
    admin: { ...options.config.admin },
  };
  const startedAt = new Date();
  checkAdminSettings(config);
  const configFile = {
    configPath: options.configPath ?? join(dataDir, CONFIG_FILE_NAME),
    dataDir,
  };
  const node = await openNode({
    dataDir,
    config,
    mode: "write",
    openStore: true,
    upgradeMasterKey: masterKeyUpgrade(config, configFile),
  });
  let http: HttpService;
  const api = createApi(node);
  try {
    const workers = httpWorkerCount(config.server.http_workers);
    const common = {
      api,
      hostname: options.hostname,
      port: options.port,
      dataDir,
      limits: listenerLimits(config),
      maxBodyBytes: options.maxBodyBytes,
      stream: options.stream,
      surfaces: options.surfaces ?? ["rest"],
    };
    http = workers === 0
      ? await serveHttpInThread(common)
      : await serveHttpInWorkers({ ...common, workers });
  } catch (err) {
    await node.close().catch(() => {});
    throw err;
  }
  config.port = http.port; // the port actually bound (after --port 0)
  const surfaces = new Set(options.surfaces ?? ["rest"]);
  const httpUrl = `http://${urlHost(http.hostname)}:${http.port}`;
  const served: ServedSurface[] = [];
  if (surfaces.has("rest")) served.push({ surface: "rest", url: `${httpUrl}/v1` });
  if (surfaces.has("graphql")) served.push({ surface: "graphql", url: `${httpUrl}/graphql` });
  // Surfaces with listeners of their own start here, each from its module.
  const own: OwnListener[] = [];
  try {
    // The control socket ([socket]): the client SDKs' protocol and `dbx --remote`.
    own.push(
      await startSocket(
        api,
        {
          ...socketSettings(config, listenerLimits(config), {
            anyPort: options.port === 0,
            commandWorkerUrl: options.remoteCommands,
          }),
          // Replication peers share the socket's port (src/replication/).
          replication: { dataDir },
        },
        // Where HTTP serves on the engine's thread, so does the socket (the same trade-off).
        { inThread: http.workers === 0 },
      ),
    );
    if (surfaces.has("grpc")) {
      own.push(
        await serveGrpc({
          api,
          config,
          http,
          limits: listenerLimits(config),
          recheckMs: options.stream?.recheckMs,
        }),
      );
    }
    // Plugin delivery reads the engine's feed, off the writer's path.
    own.push(await startPluginDelivery(node));
    if (config.admin.enabled) {
      own.push(
        await serveAdmin({
          api,
          config,
          file: configFile,
          limits: listenerLimits(config),
        }),
      );
    }
  } catch (err) {
    await Promise.all(own.map((l) => l.shutdown(0).catch(() => {})));
    await http.shutdown(0).catch(() => {});
    await node.close().catch(() => {});
    throw err;
  }
  for (const listener of own) served.push(...listener.served);
  const grace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
  const finished = Promise.withResolvers<string | undefined>();
  finished.promise.catch(() => {}); // callers that await it still see the error
  let closing: Promise<void> | undefined;
  let failure: string | undefined;
  const shutdown = (): Promise<void> => {
    if (!closing) {
      closing = (async () => {
        const drained = (await Promise.all([
          ...own.map((l) => l.shutdown(grace)),
          http.shutdown(grace),
        ])).every(Boolean);
        if (!drained) {
          console.error(`warning: requests still open after ${grace} ms; closing the store anyway`);
        }
        await node.close(); // finishes every queued write, closes the store, saves tokens
      })();
      closing.then(() => finished.resolve(failure), finished.reject);
    }
    return closing;
  };
  // A listener that stops on its own (fatal error) still closes the store.
  for (const stopped of [http.finished, ...own.map((l) => l.finished)]) {
    stopped.then((reason) => {
      if (reason === undefined || closing) return;
      failure = reason;
      console.error(`error: ${reason}; shutting down`);
      shutdown().catch(() => {});
    });
  }
  return {
    hostname: http.hostname,
    port: http.port,
    node,
    api,
    startedAt,
    httpWorkers: http.workers,
    served,
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
  const server = await startServer({ ...options, surfaces: options.surfaces ?? options.api });
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
      served: server.served,
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
  for (const { surface, url } of server.served) announce(`  ${surface.padEnd(8)}${url}`);

  let signalled = false;
  let stoppedBy: Deno.Signal | undefined;
  const onSignal = (signal: Deno.Signal) => () => {
    if (signalled) {
      if (signal === "SIGINT") {
        console.error("interrupted again: exiting without waiting");
        Deno.exit(130);
      }
      return;
    }
    signalled = true;
    stoppedBy = signal;
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
  let reason: string | undefined;
  try {
    reason = await server.finished;
  } finally {
    for (const { signal, handler } of handlers) Deno.removeSignalListener(signal, handler);
    await removePidFile(options.dataDir, Deno.pid).catch(() => {});
  }
  // The last line always says why (SIGTERM is also what `dbx stop` sends).
  const why = reason !== undefined
    ? `after a fatal error: ${reason}`
    : `on ${stoppedBy ?? "request"}${
      stoppedBy === "SIGTERM" ? " (sent by dbx stop or the OS)" : ""
    }`;
  announce(`dbx stopped (pid ${Deno.pid}) ${why}`);
}
