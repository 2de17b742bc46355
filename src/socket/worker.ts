/**
 * The control socket in its own worker isolate: accept loop, Noise, Cap'n Proto and JSON
 * run here, beside the engine's thread; every request reaches the API across the message
 * port the server gave. Started and stopped by `listener.ts`.
 */
/// <reference lib="deno.worker" />
import { connectApiOverPort } from "../api/port/connect.ts";
import { serveSocket, type SocketSettings } from "./serve.ts";
import type { SocketServer } from "./server.ts";

/** What the worker is told. */
export type SocketCommand =
  | { type: "start"; settings: SocketSettings; api: MessagePort }
  | { type: "shutdown"; graceMs: number };

/** What the worker reports. */
export type SocketReport =
  | { type: "listening"; hostname: string; port: number }
  | { type: "failed"; kind: "in_use" | "denied" | "other"; message: string }
  | { type: "stopped"; drained: boolean };

let server: SocketServer | undefined;
let closeApi: (() => void) | undefined;
const report = (message: SocketReport) => self.postMessage(message);

self.onmessage = async (event: MessageEvent<SocketCommand>) => {
  const command = event.data;
  if (command.type === "start") {
    try {
      const api = connectApiOverPort(command.api);
      closeApi = () => api.close();
      server = await serveSocket(api, command.settings);
      report({ type: "listening", hostname: server.hostname, port: server.port });
    } catch (err) {
      const kind = err instanceof Deno.errors.AddrInUse
        ? "in_use"
        : err instanceof Deno.errors.PermissionDenied
        ? "denied"
        : "other";
      report({ type: "failed", kind, message: (err as Error)?.message ?? String(err) });
    }
  } else if (command.type === "shutdown") {
    const drained = server ? await server.close(command.graceMs) : true;
    closeApi?.();
    report({ type: "stopped", drained });
  }
};
