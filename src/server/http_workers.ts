/**
 * HTTP in worker isolates: N workers each serve the HTTP surfaces on a private address and reach
 * the API on the engine's thread across a message port; the public port's gate spreads
 * connections over them. HTTP parsing, JSON and formatting then run beside the single writer
 * instead of on its thread; what is left on the engine's thread per request is the API call.
 */
import {
  WORKER_START_TIMEOUT_MS,
  type WorkerReports,
  workerReports,
} from "../util/worker_reports.ts";
import { cpus } from "node:os";
import type { Api } from "../api/api.ts";
import { serveApiOnPort, type ServedPort } from "../api/port/serve.ts";
import type { ServerSettings } from "../config/mod.ts";
import { DbxError, fromErrorData } from "../errors.ts";
import type { StreamSettings } from "../rest/deps.ts";
import type { GateLimits } from "./gate.ts";
import type { HttpService } from "./http_service.ts";
import { connectOptions, type PrivateAddress, privateAddress } from "./listener.ts";
import { openPublicPort, type PublicPort } from "./public_port.ts";
import type { WorkerReport, WorkerStart } from "./http_worker.ts";

/** How long a worker may take to bind its port. */

/**
 * The number of HTTP workers `[server] http_workers` asks for: "auto" serves HTTP on the
 * engine's thread on machines with two cores or fewer (measured: two workers there reach
 * about 0.9× of one thread), elsewhere one worker per core but the engine's (at most 8).
 *
 * @example
 * ```ts
 * httpWorkerCount("auto", 2, "linux"); // 0
 * httpWorkerCount("auto", 8, "linux"); // 7
 * httpWorkerCount(3, 2, "linux"); // 3
 * ```
 */
export function httpWorkerCount(
  setting: ServerSettings["http_workers"],
  cores = cpus().length,
  os: string = Deno.build.os,
): number {
  if (setting !== "auto") return setting;
  void os;
  if (cores <= 2) return 0;
  return Math.min(cores - 1, 8);
}

export interface WorkersOptions {
  api: Api;
  hostname: string;
  port: number;
  workers: number;
  /** Where the private sockets go. */
  dataDir: string;
  limits: GateLimits;
  maxBodyBytes?: number;
  stream?: Partial<StreamSettings>;
  /** HTTP surfaces to serve (default REST only). */
  surfaces?: readonly string[];
}

interface Running {
  worker: Worker;
  served: ServedPort;
  reports: WorkerReports<WorkerReport>;
}

/**
 * Start `workers` HTTP workers on one port.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const http = await serveHttpInWorkers({
 *   api,
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   workers: 2,
 *   dataDir: "/tmp/db",
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 * });
 * await http.shutdown(10_000);
 * ```
 */
export async function serveHttpInWorkers(options: WorkersOptions): Promise<HttpService> {
  const running: Running[] = [];
  const finished = Promise.withResolvers<string | undefined>();
  const addresses: PrivateAddress[] = [];
  const stopAll = () => {
    for (const run of running) {
      run.served.close();
      run.worker.terminate();
    }
  };
  try {
    for (let i = 0; i < options.workers; i++) {
      const worker = new Worker(new URL("./http_worker.ts", import.meta.url).href, {
        type: "module",
        name: `dbx-http-${i + 1}`,
      });
      const channel = new MessageChannel();
      const reports = workerReports<WorkerReport>(worker, {
        what: `HTTP worker ${i + 1}`,
        onFailure(message) {
          console.error(`error: HTTP worker ${i + 1} failed: ${message}`);
          // A dead worker stops the server: the lifecycle shuts down.
          finished.resolve(`HTTP worker ${i + 1} failed: ${message}`);
        },
      });
      const run: Running = { worker, served: serveApiOnPort(options.api, channel.port1), reports };
      running.push(run);
      const start: WorkerStart = {
        type: "start",
        address: await privateAddress(options.dataDir, `http-${i + 1}`),
        maxBodyBytes: options.maxBodyBytes,
        stream: options.stream,
        surfaces: options.surfaces ?? ["rest"],
        api: channel.port2,
      };
      worker.postMessage(start, [channel.port2]);
      const first = await run.reports.next(WORKER_START_TIMEOUT_MS);
      if (first.type === "failed") throw fromErrorData(first.error);
      if (first.type !== "listening") throw new DbxError("internal", "unexpected worker report");
      addresses.push(first.address);
    }
  } catch (err) {
    stopAll();
    throw err;
  }
  let gate: PublicPort;
  try {
    gate = await openPublicPort({
      hostname: options.hostname,
      port: options.port,
      limits: options.limits,
      upstreams: addresses.map(connectOptions),
      http: true,
    });
  } catch (err) {
    stopAll();
    throw err;
  }

  let stopping: Promise<boolean> | undefined;
  gate.died.then((reason) => finished.resolve(reason));
  return {
    hostname: gate.hostname,
    port: gate.port,
    workers: running.length,
    finished: finished.promise,
    routeHttp2: (upstreams) => gate.routeHttp2(upstreams),
    shutdown(gracePeriodMs) {
      stopping ??= (async () => {
        await gate.stopAccepting();
        for (const run of running) run.worker.postMessage({ type: "shutdown", gracePeriodMs });
        const results = await Promise.all(running.map(async (run) => {
          try {
            const report = await run.reports.next(gracePeriodMs + 5_000);
            return report.type === "stopped" && report.drained;
          } catch {
            return false;
          }
        }));
        await gate.close();
        stopAll();
        finished.resolve(undefined);
        return results.every(Boolean);
      })();
      return stopping;
    },
  };
}
