/**
 * Starting and stopping the gRPC worker (worker.ts) from the engine's thread: the API is
 * served to it over a message port, and it reports when it listens and when it stopped.
 */
import { WORKER_START_TIMEOUT_MS, workerReports } from "../util/worker_reports.ts";
import type { Api } from "../api/api.ts";
import { serveApiOnPort } from "../api/port/serve.ts";
import { DbxError, fromErrorData } from "../errors.ts";
import type { GrpcServiceOptions } from "./service.ts";
import type { GrpcWorkerReport, GrpcWorkerShutdown, GrpcWorkerStart } from "./worker.ts";

export interface GrpcWorkerOptions {
  api: Api;
  /** grpc-js address to bind, e.g. `127.0.0.1:0` (see grpc_listener.ts for why not a Unix socket). */
  target: string;
  settings?: Omit<GrpcServiceOptions, "api">;
}

/** A gRPC worker that is serving. */
export interface GrpcWorker {
  /** The TCP port bound. */
  readonly port: number;
  /** End subscriptions, let in-flight calls finish (up to `graceMs`), stop the worker. */
  shutdown(graceMs: number): Promise<boolean>;
  /** Settles when the worker stopped: nothing after a shutdown, the reason if it died. */
  readonly finished: Promise<string | undefined>;
}

/**
 * Start the gRPC server in a worker isolate.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const grpc = await startGrpcWorker({ api, target: "127.0.0.1:0" });
 * await grpc.shutdown(10_000);
 * ```
 */
export async function startGrpcWorker(options: GrpcWorkerOptions): Promise<GrpcWorker> {
  const worker = new Worker(new URL("./worker.ts", import.meta.url).href, {
    type: "module",
    name: "dbx-grpc",
  });
  const channel = new MessageChannel();
  const served = serveApiOnPort(options.api, channel.port1);
  const finished = Promise.withResolvers<string | undefined>();
  const reports = workerReports<GrpcWorkerReport>(worker, {
    what: "the gRPC worker",
    onFailure(message) {
      console.error(`error: the gRPC worker failed: ${message}`);
      finished.resolve(`the gRPC worker failed: ${message}`);
    },
  });
  const next = (timeoutMs: number) => reports.next(timeoutMs);
  const stop = () => {
    served.close();
    channel.port1.close();
    worker.terminate();
  };

  const start: GrpcWorkerStart = {
    type: "start",
    target: options.target,
    settings: options.settings ?? {},
    api: channel.port2,
  };
  worker.postMessage(start, [channel.port2]);
  let first: GrpcWorkerReport;
  try {
    first = await next(WORKER_START_TIMEOUT_MS);
  } catch (err) {
    stop();
    throw err;
  }
  if (first.type !== "listening") {
    stop();
    throw first.type === "failed"
      ? fromErrorData(first.error)
      : new DbxError("internal", "unexpected report from the gRPC worker");
  }

  let stopping: Promise<boolean> | undefined;
  return {
    port: first.port,
    finished: finished.promise,
    shutdown(graceMs) {
      stopping ??= (async () => {
        let drained = false;
        if (reports.failure === undefined) {
          worker.postMessage({ type: "shutdown", graceMs } satisfies GrpcWorkerShutdown);
          try {
            const report = await next(graceMs + 5_000);
            drained = report.type === "stopped" && report.drained;
          } catch {
            drained = false;
          }
        }
        stop();
        finished.resolve(undefined);
        return drained;
      })();
      return stopping;
    },
  };
}
