/**
 * The gate in its own worker isolate: the public port's accept loop and the byte splicing run
 * beside the engine's thread, not on it. Started and stopped by `public_port.ts`.
 */
/// <reference lib="deno.worker" />
import { type Gate, type GateOptions, openGate, type PeerEvent, type Upstream } from "./gate.ts";

/** What the worker is told. */
export type GateCommand =
  | { type: "start"; options: Omit<GateOptions, "log" | "onPeer"> }
  | { type: "stop-accepting" }
  | { type: "route-http2"; upstreams: Upstream[] }
  | { type: "close" };

/** What the worker reports. */
export type GateReport =
  | { type: "listening"; hostname: string; port: number }
  | { type: "failed"; kind: "in_use" | "denied" | "other"; message: string }
  | { type: "stopped-accepting" }
  | { type: "routed" }
  | { type: "peer"; peer: PeerEvent }
  | { type: "closed" };

let gate: Gate | undefined;
const report = (message: GateReport) => self.postMessage(message);

self.onmessage = async (event: MessageEvent<GateCommand>) => {
  const command = event.data;
  switch (command.type) {
    case "start":
      try {
        gate = openGate({
          ...command.options,
          onPeer: command.options.reportPeers
            ? (peer) => report({ type: "peer", peer })
            : undefined,
        });
        report({ type: "listening", hostname: gate.hostname, port: gate.port });
      } catch (err) {
        const kind = err instanceof Deno.errors.AddrInUse
          ? "in_use"
          : err instanceof Deno.errors.PermissionDenied
          ? "denied"
          : "other";
        report({ type: "failed", kind, message: (err as Error).message });
      }
      break;
    case "stop-accepting":
      gate?.stopAccepting();
      report({ type: "stopped-accepting" });
      break;
    case "route-http2":
      gate?.routeHttp2(command.upstreams);
      report({ type: "routed" });
      break;
    case "close":
      await gate?.close();
      report({ type: "closed" });
      break;
  }
};
