/**
 * The gRPC server in its own worker isolate: the grpc-js server (HTTP/2 framing, protobuf,
 * the handlers) runs beside the engine's thread and reaches the API across a message port.
 * It listens on a private address; the public port's gate hands it the connections that
 * open with the HTTP/2 preface. Started and stopped by `worker_host.ts`.
 */
/// <reference lib="deno.worker" />
import { ServerCredentials } from "@grpc/grpc-js";
import { connectApiOverPort, type PortApi } from "../api/port/connect.ts";
import { DbxError, errorData } from "../errors.ts";
import { createGrpcService, type GrpcService, type GrpcServiceOptions } from "./service.ts";

/** The first message the worker gets. */
export interface GrpcWorkerStart {
  type: "start";
  /** grpc-js address to bind, e.g. `127.0.0.1:0`. */
  target: string;
  settings: Omit<GrpcServiceOptions, "api">;
  /** The port the API is served on (transferred). */
  api: MessagePort;
}

/** Ask the worker to stop (in-flight calls get `graceMs`). */
export interface GrpcWorkerShutdown {
  type: "shutdown";
  graceMs: number;
}

/** What the worker reports back. */
export type GrpcWorkerReport =
  | { type: "listening"; port: number }
  | { type: "failed"; error: ReturnType<typeof errorData> }
  | { type: "stopped"; drained: boolean };

let service: GrpcService | undefined;
let api: PortApi | undefined;
const report = (message: GrpcWorkerReport) => self.postMessage(message);

function bind(grpc: GrpcService, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    grpc.server.bindAsync(target, ServerCredentials.createInsecure(), (err, port) => {
      if (err) {
        reject(new DbxError("unavailable", `cannot serve gRPC on ${target}: ${err.message}`));
      } else resolve(port);
    });
  });
}

self.onmessage = async (event: MessageEvent) => {
  const message = event.data as GrpcWorkerStart | GrpcWorkerShutdown;
  if (message.type === "start") {
    try {
      api = connectApiOverPort(message.api);
      service = createGrpcService({ ...message.settings, api });
      const port = await bind(service, message.target);
      report({ type: "listening", port });
    } catch (err) {
      // The report carries only what is safe to show; the log gets what went wrong.
      if (!(err instanceof DbxError)) {
        console.error("error: the gRPC worker could not start:", (err as Error)?.stack ?? err);
      }
      report({ type: "failed", error: errorData(err) });
    }
  } else if (message.type === "shutdown") {
    const drained = service ? await service.shutdown(message.graceMs) : true;
    api?.close();
    report({ type: "stopped", drained });
  }
};
