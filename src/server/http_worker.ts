/**
 * One HTTP worker isolate: the HTTP surfaces (REST, GraphQL) over the API reached across a
 * message port, served on its own private address; the public port's gate spreads
 * connections over the workers. The engine stays on the main thread; this isolate only
 * parses, calls and formats. Started and stopped by `http_workers.ts`.
 */
/// <reference lib="deno.worker" />
import { connectApiOverPort } from "../api/port/connect.ts";
import { DbxError, errorData } from "../errors.ts";
import type { StreamSettings } from "../rest/deps.ts";
import { createHttpHandler } from "./http_handler.ts";
import { listen, type Listener, type PrivateAddress } from "./listener.ts";

/** The first message a worker gets. */
export interface WorkerStart {
  type: "start";
  /** Where this worker serves (the gate connects here). */
  address: PrivateAddress;
  maxBodyBytes?: number;
  stream?: Partial<StreamSettings>;
  /** HTTP surfaces to serve ("rest", "graphql"). */
  surfaces: readonly string[];
  /** The port the API is served on (transferred). */
  api: MessagePort;
}

/** What a worker reports back. */
export type WorkerReport =
  | { type: "listening"; address: PrivateAddress }
  | { type: "failed"; error: ReturnType<typeof errorData> }
  | { type: "stopped"; drained: boolean };

let listener: Listener | undefined;
const streams = new AbortController();
const report = (message: WorkerReport) => self.postMessage(message);

self.onmessage = async (event: MessageEvent) => {
  const message = event.data as WorkerStart | { type: "shutdown"; gracePeriodMs: number };
  if (message.type === "start") {
    try {
      const api = connectApiOverPort(message.api);
      const handler = createHttpHandler({
        api,
        surfaces: message.surfaces,
        maxBodyBytes: message.maxBodyBytes,
        signal: streams.signal,
        stream: message.stream,
      });
      listener = listen({ address: message.address, handler });
      report({ type: "listening", address: listener.address });
    } catch (err) {
      // The report carries only what is safe to show; the log gets what went wrong.
      if (!(err instanceof DbxError)) {
        console.error("error: an HTTP worker could not start:", (err as Error)?.stack ?? err);
      }
      report({ type: "failed", error: errorData(err) });
    }
  } else if (message.type === "shutdown") {
    streams.abort();
    const drained = listener ? await listener.shutdown(message.gracePeriodMs) : true;
    report({ type: "stopped", drained });
  }
};
