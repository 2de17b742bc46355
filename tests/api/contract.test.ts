/**
 * The API contract (contract.ts) against every implementation of `Api`:
 *
 * - `in-process`: `createApi(node)` over a node in this isolate;
 * - `worker`: the node opened inside a Deno Worker (`_api_worker.ts`), its API served on a
 *   transferred MessagePort and reached with `connectApiOverPort` (the cases share one
 *   worker isolate, terminated after the last of them; each opens its own node in it);
 * - `http`: the HTTP client `HttpApi` against the REST app served on a loopback port over
 *   an in-process node.
 *
 * Each case runs once per implementation on a fresh node in its own temp dir; every temp
 * dir, node, server and port is closed and removed after the case. (Run with --filter, the
 * shared worker may outlive the last selected case; it holds no node and the test process
 * ends anyway.)
 */
import { Buffer } from "node:buffer";
import { createApi } from "../../src/api/api.ts";
import { type Node, openNode } from "../../src/api/node.ts";
import { connectApiOverPort } from "../../src/api/port/connect.ts";
import { HttpApi } from "../../src/client/http_api.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import { fromErrorData } from "../../src/errors.ts";
import { createRestApp } from "../../src/rest/app.ts";
import { randomDek } from "../_helpers/temp.ts";
import type { WorkerClose, WorkerOpen, WorkerReport } from "./_api_worker.ts";
import { apiContract, type OpenApi } from "./contract.ts";

const dekBase64 = () => Buffer.from(randomDek()).toString("base64");

/** A node on a new temp dir; `remove` closes it and deletes the dir. */
async function openTempNode(): Promise<{ node: Node; remove(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-contract-" });
  const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  let node: Node;
  try {
    node = await openNode({
      dataDir: dir,
      config: { ...defaultConfig(dir), dek: dekBase64() },
      openStore: true,
    });
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    node,
    async remove() {
      try {
        await node.close();
      } finally {
        await remove();
      }
    },
  };
}

async function adminToken(node: Node): Promise<string> {
  return (await (await node.tokens()).generate({ group: "admin", user: "root" })).token;
}

const openInProcess: OpenApi = async () => {
  const { node, remove } = await openTempNode();
  try {
    return { api: createApi(node), adminToken: await adminToken(node), close: remove };
  } catch (err) {
    await remove();
    throw err;
  }
};

/**
 * The worker isolate the `worker` cases share (started by the first, terminated after the
 * last): each case opens its own node in it, on its own temp dir and MessagePort, so only
 * the isolate's start-up is shared.
 */
class ApiWorker {
  readonly #worker: Worker;
  readonly #waiting = new Map<string, { resolve(r: WorkerReport): void; reject(e: Error): void }>();
  #nextId = 1;
  #failure: Error | undefined;

  constructor() {
    this.#worker = new Worker(new URL("./_api_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent) => {
      const report = event.data as WorkerReport;
      const key = `${report.type === "closed" ? "close" : "open"}:${report.id}`;
      this.#waiting.get(key)?.resolve(report);
      this.#waiting.delete(key);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#failure = new Error(`the API worker failed: ${event.message}`);
      for (const waiting of this.#waiting.values()) waiting.reject(this.#failure);
      this.#waiting.clear();
    };
  }

  #wait(key: string, ms: number): Promise<WorkerReport> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`the API worker did not answer ${key} within ${ms} ms`));
      }, ms);
      this.#waiting.set(key, {
        resolve: (report) => {
          clearTimeout(timer);
          resolve(report);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  /** Open a node on `dir` in the worker, serving its API on `port` (transferred). */
  async open(dir: string, port: MessagePort): Promise<{ id: number; adminToken: string }> {
    const id = this.#nextId++;
    const ready = this.#wait(`open:${id}`, 20_000);
    const message: WorkerOpen = { type: "open", id, dir, dek: dekBase64(), api: port };
    this.#worker.postMessage(message, [port]);
    const report = await ready;
    if (report.type === "failed") throw fromErrorData(report.error);
    if (report.type !== "ready") throw new Error(`unexpected report ${report.type}`);
    return { id, adminToken: report.adminToken };
  }

  /** Close the node `id` (its port and its store). */
  async close(id: number): Promise<void> {
    const closed = this.#wait(`close:${id}`, 10_000);
    const message: WorkerClose = { type: "close", id };
    this.#worker.postMessage(message);
    await closed;
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

let sharedWorker: ApiWorker | undefined;
/** Worker cases still to run; the worker is terminated after the last one. */
let workerCasesLeft = 0;
globalThis.addEventListener("unload", () => sharedWorker?.terminate());

const openInWorker: OpenApi = async () => {
  const worker = sharedWorker ??= new ApiWorker();
  const dir = await Deno.makeTempDir({ prefix: "dbx-contract-worker-" });
  const { port1, port2 } = new MessageChannel();
  let id: number | undefined;
  let connected: ReturnType<typeof connectApiOverPort> | undefined;
  const close = async () => {
    try {
      connected?.close();
      if (id !== undefined) await worker.close(id);
    } finally {
      port1.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      if (--workerCasesLeft <= 0 && sharedWorker === worker) {
        sharedWorker = undefined;
        worker.terminate();
      }
    }
  };
  try {
    const opened = await worker.open(dir, port2);
    id = opened.id;
    connected = connectApiOverPort(port1);
    return { api: connected, adminToken: opened.adminToken, close };
  } catch (err) {
    await close();
    throw err;
  }
};

const openOverHttp: OpenApi = async () => {
  const { node, remove } = await openTempNode();
  const streams = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  const close = async () => {
    try {
      streams.abort();
      await server?.shutdown();
    } finally {
      await remove();
    }
  };
  try {
    const app = createRestApp({ api: createApi(node), signal: streams.signal });
    server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
    const api = new HttpApi({ baseUrl: `http://127.0.0.1:${server.addr.port}`, timeoutMs: 10_000 });
    return { api, adminToken: await adminToken(node), close };
  } catch (err) {
    await close();
    throw err;
  }
};

const IMPLEMENTATIONS: [string, OpenApi][] = [
  ["in-process", openInProcess],
  ["worker", openInWorker],
  ["http", openOverHttp],
];

for (const [label, open] of IMPLEMENTATIONS) {
  const cases = apiContract(open);
  if (open === openInWorker) workerCasesLeft = cases.filter((c) => !c.ignore).length;
  for (const c of cases) {
    Deno.test({ name: `contract[${label}]: ${c.name}`, ignore: c.ignore, fn: c.fn });
  }
}
