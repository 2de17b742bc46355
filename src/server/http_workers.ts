/**
 * HTTP in worker isolates: N workers each serve the REST app on the same port
 * (SO_REUSEPORT, so the kernel spreads connections over them) and reach the API on the
 * engine's thread across a message port. HTTP parsing, JSON and formatting then run beside
 * the single writer instead of on its thread; what is left on the engine's thread per
 * request is the API call itself.
 */
import { cpus } from "node:os";
import type { Api } from "../api/api.ts";
import { serveApiOnPort, type ServedPort } from "../api/port/serve.ts";
import type { ServerSettings } from "../config/mod.ts";
import { DbxError, fromErrorData } from "../errors.ts";
import type { StreamSettings } from "../rest/deps.ts";
import type { HttpService } from "./http_service.ts";
import type { WorkerReport, WorkerStart } from "./http_worker.ts";

/** How long a worker may take to bind its port. */
const START_TIMEOUT_MS = 15_000;

/**
 * The number of HTTP workers `[server] http_workers` asks for: "auto" serves HTTP on the
 * engine's thread on machines with two cores or fewer (measured: two workers there reach
 * 0.95× of one thread, one worker 0.81×) and where the kernel cannot share a port
 * (SO_REUSEPORT is Linux only); elsewhere one worker per core but the engine's.
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
  if (os !== "linux" || cores <= 2) return 0;
  return Math.min(cores - 1, 8);
}

export interface WorkersOptions {
  api: Api;
  hostname: string;
  port: number;
  workers: number;
  maxBodyBytes?: number;
  stream?: Partial<StreamSettings>;
}

interface Running {
  worker: Worker;
  served: ServedPort;
  reports: ReadableStreamDefaultReader<WorkerReport>;
}

/** The next report of a worker, or a failure when it dies or takes too long. */
async function nextReport(run: Running, timeoutMs: number): Promise<WorkerReport> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DbxError("unavailable", "an HTTP worker did not answer in time")),
      timeoutMs,
    );
  });
  try {
    const { value, done } = await Promise.race([run.reports.read(), timeout]);
    if (done) throw new DbxError("unavailable", "an HTTP worker stopped unexpectedly");
    return value;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Start `workers` HTTP workers on one port.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const http = await serveHttpInWorkers({ api, hostname: "127.0.0.1", port: 0, workers: 2 });
 * await http.shutdown(10_000);
 * ```
 */
export async function serveHttpInWorkers(options: WorkersOptions): Promise<HttpService> {
  if (Deno.build.os !== "linux") {
    throw new DbxError(
      "invalid_input",
      "[server] http_workers needs Linux (the workers share the port with SO_REUSEPORT); " +
        'set it to 0 or "auto"',
    );
  }
  const running: Running[] = [];
  const finished = Promise.withResolvers<void>();
  let port = options.port;
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
      const reports = new ReadableStream<WorkerReport>({
        start(controller) {
          worker.onmessage = (event) => controller.enqueue(event.data as WorkerReport);
          worker.onerror = (event) => {
            event.preventDefault();
            console.error(`error: HTTP worker ${i + 1} failed: ${event.message}`);
            controller.close();
            finished.resolve(); // a dead worker stops the server: the lifecycle shuts down
          };
        },
      }).getReader();
      const run: Running = { worker, served: serveApiOnPort(options.api, channel.port1), reports };
      running.push(run);
      const start: WorkerStart = {
        type: "start",
        hostname: options.hostname,
        // The first worker may let the OS pick; the others join the port it got.
        port,
        maxBodyBytes: options.maxBodyBytes,
        stream: options.stream,
        api: channel.port2,
      };
      worker.postMessage(start, [channel.port2]);
      const first = await nextReport(run, START_TIMEOUT_MS);
      if (first.type === "failed") throw fromErrorData(first.error);
      if (first.type !== "listening") throw new DbxError("internal", "unexpected worker report");
      port = first.port;
    }
  } catch (err) {
    stopAll();
    throw err;
  }

  let stopping: Promise<boolean> | undefined;
  return {
    hostname: options.hostname,
    port,
    workers: running.length,
    finished: finished.promise,
    shutdown(gracePeriodMs) {
      stopping ??= (async () => {
        for (const run of running) run.worker.postMessage({ type: "shutdown", gracePeriodMs });
        const results = await Promise.all(running.map(async (run) => {
          try {
            const report = await nextReport(run, gracePeriodMs + 5_000);
            return report.type === "stopped" && report.drained;
          } catch {
            return false;
          }
        }));
        stopAll();
        finished.resolve();
        return results.every(Boolean);
      })();
      return stopping;
    },
  };
}
