/**
 * Shared setup of the REST suites: a real node (engine, token authority, schemas) on a temp
 * dir opened by `openNode`, the REST app over its in-process API served by `Deno.serve` on a
 * free port, and small fetch helpers. Everything is closed and removed after each test,
 * whatever happens.
 */
import { type Api, type ApiOptions, createApi } from "../../src/api/api.ts";
import { type Node, openNode } from "../../src/api/node.ts";
import { type GenerateOptions, TokenAuthority } from "../../src/auth/authority.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import type { Config } from "../../src/config/types.ts";
import { Buffer } from "node:buffer";
import { type Engine, storePath } from "../../src/engine/engine.ts";
import { createRestApp, type StreamSettings } from "../../src/rest/app.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import type { Storage } from "../../src/store/storage.ts";
import { randomDek } from "../_helpers/temp.ts";

export { assert, assertEquals } from "../_helpers/assert.ts";

/** A clock the tests move by hand (epoch milliseconds); the token authority uses it. */
export class ManualClock {
  ms = Date.now();
  now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** A response read whole: status, headers, text and (when it parses) JSON. */
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

export interface RequestOptions {
  /** Bearer token; `null` sends no Authorization header. */
  token?: string | null;
  /** A value sent as JSON, or a string / bytes sent as they are. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RestServer {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  dir: string;
  node: Node;
  api: Api;
  /** The node's engine, to check what was stored. */
  engine: Engine;
  /** The storage the engine runs on, for tests that read or alter stored bytes. */
  storage: Storage;
  /** The node's live settings (a test may change restrict). */
  config: Config;
  /** The app under test (for its route table). */
  app: ReturnType<typeof createRestApp>;
  clock: ManualClock;
  /** A token that may do everything (group "admin", user "root"). */
  admin: string;
  /** Issue a token (defaults: group "test", user "tester", every scope). */
  token(options?: Partial<GenerateOptions>): Promise<string>;
  /** Send a request (with the admin token unless `token` is given) and read the reply. */
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  /** Append directly through the engine, as setup. */
  seed(
    type: string,
    id: string,
    payload?: Record<string, unknown>,
    eventType?: string,
  ): Promise<void>;
}

export interface RestServerOptions {
  config?: Partial<Config>;
  maxBodyBytes?: number;
  stream?: Partial<StreamSettings>;
  /** Feed tuning of the API (tests shrink the buffers). */
  feed?: ApiOptions;
}

/**
 * Run `fn` against a fresh server; close server, streams, engine and authority
 * and remove the temp dir afterwards.
 *
 * @example
 * ```ts
 * await withRestServer(async (s) => {
 *   const reply = await s.request("GET", "/v1/aggregates");
 * });
 * ```
 */
export async function withRestServer<T>(
  fn: (server: RestServer) => Promise<T>,
  options: RestServerOptions = {},
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-rest-test-" });
  const clock = new ManualClock();
  const config: Config = {
    ...defaultConfig(dir),
    dek: Buffer.from(randomDek()).toString("base64"),
    ...options.config,
  };
  let node: Node | undefined;
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  const streams = new AbortController();
  try {
    const storage = await openRocksStorage(storePath(dir));
    node = await openNode({ dataDir: dir, config, storage, openStore: true, now: clock.now });
    const engine = await node.engine();
    const api = createApi(node, options.feed);
    const app = createRestApp({
      api,
      maxBodyBytes: options.maxBodyBytes ?? 1 << 20,
      signal: streams.signal,
      stream: options.stream,
    });
    server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
    const port = server.addr.port;
    const base = `http://127.0.0.1:${port}`;
    const authority = await node.tokens();
    const admin = (await authority.generate({ group: "admin", user: "root" })).token;
    const rest: RestServer = {
      base,
      port,
      dir,
      node,
      api,
      engine,
      storage,
      config,
      app,
      clock,
      admin,
      token: async (o = {}) =>
        (await authority.generate({ group: "test", user: "tester", ...o })).token,
      request: (method, path, o = {}) =>
        send(base, method, path, o.token === undefined ? { ...o, token: admin } : o),
      seed: async (type, id, payload = {}, eventType = "seeded") => {
        await engine.append({
          aggregate_type: type,
          aggregate_id: id,
          event_type: eventType,
          payload,
        });
      },
    };
    return await fn(rest);
  } finally {
    streams.abort();
    await server?.shutdown();
    await node?.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** How long one request of `RestServer.request` may take, its body read included. */
export const REQUEST_TIMEOUT_MS = 30_000;

async function send(base: string, method: string, path: string, o: RequestOptions): Promise<Reply> {
  const headers = new Headers(o.headers);
  if (o.token !== null && o.token !== undefined) headers.set("Authorization", `Bearer ${o.token}`);
  let body: BodyInit | undefined;
  if (typeof o.body === "string" || o.body instanceof Uint8Array) {
    body = o.body as BodyInit;
  } else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  // Bounded: a server that never answers fails the test instead of hanging it.
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * Assert a JSON error reply: status, code, and (optionally) a message part.
 *
 * @example
 * ```ts
 * expectError(reply, 404, "not_found", "p-404");
 * ```
 */
export function expectError(
  reply: Reply,
  status: number,
  code: string,
  messagePart?: string,
): void {
  const where = `${status} ${code} expected, got ${reply.status}: ${reply.text}`;
  if (reply.status !== status) throw new Error(where);
  if (typeof reply.json !== "object" || reply.json === null) throw new Error(`not JSON: ${where}`);
  if (reply.json.code !== code) throw new Error(where);
  if (typeof reply.json.message !== "string" || reply.json.message === "") {
    throw new Error(`no message: ${where}`);
  }
  if (messagePart !== undefined && !reply.json.message.includes(messagePart)) {
    throw new Error(`message lacks ${JSON.stringify(messagePart)}: ${where}`);
  }
  const keys = Object.keys(reply.json).sort().join(",");
  if (keys !== "code,message") throw new Error(`error body has keys ${keys}`);
  if (!reply.headers.get("content-type")?.startsWith("application/json")) {
    throw new Error(`error is not application/json: ${reply.headers.get("content-type")}`);
  }
}

/**
 * A token signed by another node (valid format, foreign key).
 *
 * @example
 * ```ts
 * const foreign = await foreignToken();
 * ```
 */
export async function foreignToken(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-rest-foreign-" });
  const auth = await TokenAuthority.open({ dataDir: dir, dek: randomDek() });
  try {
    return (await auth.generate({ group: "evil", user: "mallory" })).token;
  } finally {
    await auth.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Append-event body for the per-aggregate route. */
export function eventBody(
  eventType = "patient-updated",
  payload: Record<string, unknown> = { status: "active" },
  more: Record<string, unknown> = {},
): Record<string, unknown> {
  return { event_type: eventType, payload, ...more };
}
