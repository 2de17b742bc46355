/**
 * Shared parts of the plugin suites: a node on a temp data dir with its API and a running
 * delivery, real receivers on loopback (an HTTP server, a TCP listener), a clock the tests
 * move by hand, and waits with deadlines. Everything is stopped and removed afterwards.
 */
import { type Api, bindCaller, type BoundApi, createApi } from "../../src/api/api.ts";
import { type Node, openNode } from "../../src/api/node.ts";
import type { EventRecord } from "../../src/api/operations.ts";
import { defaultConfig } from "../../src/config/mod.ts";
import { generateDek } from "../../src/crypto/aead.ts";
import type { Clock } from "../../src/plugins/delivery/backoff.ts";
import { type DeliveryListener, startPluginDelivery } from "../../src/plugins/delivery/listener.ts";
import type { DeliveryOptions } from "../../src/plugins/delivery/service.ts";
import { waitUntil } from "../_helpers/deadline.ts";

export { assert, assertEquals } from "../_helpers/assert.ts";
export { waitUntil } from "../_helpers/deadline.ts";

/** The local OS user, who may do everything. */
export const LOCAL = { kind: "local", user: "tester" } as const;

/** Waits of these suites. */
export const WAIT_MS = 30_000;

/** A clock that moves only when told. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = Date.parse("2030-01-01T00:00:00Z")) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export interface TestNode {
  dir: string;
  node: Node;
  api: Api;
  db: BoundApi;
  /** Log lines of log plugins and delivery warnings. */
  logs: string[];
  /** Start (or restart) delivery with these options. */
  startDelivery(options?: Partial<DeliveryOptions>): Promise<DeliveryListener>;
  stopDelivery(): Promise<void>;
}

/**
 * Run `fn` with a node on a fresh data dir; delivery and node are closed and the dir
 * removed afterwards.
 */
export async function withNode(
  fn: (t: TestNode) => Promise<void>,
  configure: (config: ReturnType<typeof defaultConfig>) => void = () => {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-plugins-test-" });
  const config = { ...defaultConfig(dir), dek: generateDek() };
  configure(config);
  const node = await openNode({ dataDir: dir, config, mode: "write", openStore: true });
  const api = createApi(node);
  const logs: string[] = [];
  let delivery: DeliveryListener | undefined;
  const t: TestNode = {
    dir,
    node,
    api,
    db: bindCaller(api, LOCAL),
    logs,
    async startDelivery(options = {}) {
      await t.stopDelivery();
      delivery = await startPluginDelivery(node, {
        log: (line) => logs.push(line),
        pollMs: 100,
        idleMs: 20,
        ...options,
      });
      return delivery;
    },
    async stopDelivery() {
      await delivery?.shutdown(0);
      delivery = undefined;
    },
  };
  try {
    await fn(t);
  } finally {
    await t.stopDelivery().catch(() => {});
    await node.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Append an event through the API. */
export async function append(
  db: BoundApi,
  type: string,
  id: string,
  payload: Record<string, unknown> = {},
): Promise<EventRecord> {
  return (await db.call("appendEvent", {
    aggregate_type: type,
    aggregate_id: id,
    event_type: "changed",
    payload,
  })).event;
}

/** What an HTTP receiver answers to one POST: a status, or a promise of one (to hang). */
export type HttpAnswer = number | Promise<number>;

/** An HTTP server on 127.0.0.1 that records every POSTed EventRecord. */
export interface HttpReceiver {
  url: string;
  /** Every body received, in arrival order (failed attempts too). */
  received: EventRecord[];
  /** Headers of the last request. */
  lastHeaders?: Headers;
  close(): Promise<void>;
}

/**
 * Start an HTTP receiver; `answer` decides the status of each request (default 200).
 */
export function httpReceiver(
  answer: (record: EventRecord, attempt: number) => HttpAnswer = () => 200,
): HttpReceiver {
  const attempts = new Map<number, number>();
  const receiver: HttpReceiver = {
    url: "",
    received: [],
    close: async () => {
      await server.shutdown();
    },
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const record = await req.json() as EventRecord;
    receiver.received.push(record);
    receiver.lastHeaders = req.headers;
    const attempt = (attempts.get(record.position) ?? 0) + 1;
    attempts.set(record.position, attempt);
    const status = await answer(record, attempt);
    return new Response(status < 300 ? "ok" : "no", { status });
  });
  receiver.url = `http://127.0.0.1:${server.addr.port}/events`;
  return receiver;
}

/** A TCP listener on 127.0.0.1 that collects every line it is sent, as JSON. */
export interface TcpReceiver {
  port: number;
  records: EventRecord[];
  close(): Promise<void>;
}

/** Start a TCP receiver. */
export function tcpReceiver(): TcpReceiver {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const receiver: TcpReceiver = {
    port: (listener.addr as Deno.NetAddr).port,
    records: [],
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
  const read = async (conn: Deno.Conn) => {
    conns.add(conn);
    let text = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of conn.readable) {
        text += decoder.decode(chunk, { stream: true });
        let at: number;
        while ((at = text.indexOf("\n")) >= 0) {
          receiver.records.push(JSON.parse(text.slice(0, at)));
          text = text.slice(at + 1);
        }
      }
    } catch { /* closed */ }
    conns.delete(conn);
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) void read(conn);
    } catch { /* closed */ }
  })();
  return receiver;
}

/** Wait until `check` holds (at most WAIT_MS), describing the state reached on failure. */
export function eventually<T>(
  label: string | (() => string),
  check: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  return waitUntil(WAIT_MS, label, check, 10);
}

/** Sorted positions of records. */
export const positions = (records: { position: number }[]) =>
  records.map((r) => r.position).sort((a, b) => a - b);
