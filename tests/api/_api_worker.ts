/**
 * A worker isolate for the API contract suite: it opens a node in a data directory it is
 * given, serves the node's in-process API (`createApi`) on the MessagePort it is handed, and
 * closes the node when told. The test's side reaches the API with `connectApiOverPort`, so
 * every call crosses a real worker boundary (structured clone, another isolate and event
 * loop). One worker can hold several nodes at once, each under the id the test chose.
 *
 * Messages in: `{ type: "open", id, dir, dek, api: MessagePort }`, `{ type: "close", id }`.
 * Messages out: `{ type: "ready", id, adminToken }` or `{ type: "failed", id, error }`,
 * and `{ type: "closed", id }` once that node is closed.
 */
/// <reference lib="deno.worker" />
import { createApi } from "../../src/api/api.ts";
import { type Node, openNode } from "../../src/api/node.ts";
import { serveApiOnPort, type ServedPort } from "../../src/api/port/serve.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import { type ErrorData, errorData } from "../../src/errors.ts";

/** Open a node and serve its API on `api`. */
export interface WorkerOpen {
  type: "open";
  id: number;
  /** The data directory (created and removed by the test). */
  dir: string;
  /** Base64 of the 32-byte DEK. */
  dek: string;
  /** The port to serve the API on (transferred). */
  api: MessagePort;
}

/** Stop serving, close the node. */
export interface WorkerClose {
  type: "close";
  id: number;
}

/** What the worker reports. */
export type WorkerReport =
  | { type: "ready"; id: number; adminToken: string }
  | { type: "failed"; id: number; error: ErrorData; detail: string }
  | { type: "closed"; id: number };

interface Opened {
  node?: Node;
  served?: ServedPort;
  port: MessagePort;
}

const opened = new Map<number, Opened>();
const report = (message: WorkerReport) => self.postMessage(message);

async function open(message: WorkerOpen): Promise<void> {
  const entry: Opened = { port: message.api };
  opened.set(message.id, entry);
  try {
    entry.node = await openNode({
      dataDir: message.dir,
      config: { ...defaultConfig(message.dir), dek: message.dek },
      openStore: true,
    });
    entry.served = serveApiOnPort(createApi(entry.node), entry.port);
    const authority = await entry.node.tokens();
    const { token } = await authority.generate({ group: "admin", user: "root" });
    report({ type: "ready", id: message.id, adminToken: token });
  } catch (err) {
    report({ type: "failed", id: message.id, error: errorData(err), detail: String(err) });
  }
}

async function close(id: number): Promise<void> {
  const entry = opened.get(id);
  opened.delete(id);
  try {
    entry?.served?.close();
    entry?.port.close();
    await entry?.node?.close();
  } finally {
    report({ type: "closed", id });
  }
}

self.onmessage = (event: MessageEvent) => {
  const message = event.data as WorkerOpen | WorkerClose;
  if (message.type === "open") open(message);
  else if (message.type === "close") close(message.id);
};
