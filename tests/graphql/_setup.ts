/**
 * Shared setup of the GraphQL suites: the real server (`startServer`: the node on a temp
 * dir with a real RocksDB store, the gate on a free loopback port, HTTP on the engine's
 * thread or in worker isolates) serving REST and GraphQL on one port, tokens minted by the
 * node's own authority, and a small client for `/graphql`. Everything is shut down and
 * removed after each test, whatever happens.
 */
import { Buffer } from "node:buffer";
import type { GenerateOptions } from "../../src/auth/authority.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import type { Config } from "../../src/config/types.ts";
import { type RunningServer, startServer } from "../../src/server/serve.ts";
import { randomDek } from "../_helpers/temp.ts";
import { serverWorkWithin, shutdownWithin } from "../_helpers/deadline.ts";

export { assert, assertEquals } from "../_helpers/assert.ts";

/** Server tests start workers and a gate: leave the sanitizers to the shutdown. */
export const SERVER_TEST = { sanitizeResources: false, sanitizeOps: false };

/** How long one request may take, its body read included. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** A response read whole. */
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

export interface SendOptions {
  /** Bearer token; `null` sends no Authorization header; default the admin token. */
  token?: string | null;
  headers?: Record<string, string>;
  method?: string;
  /** A string or bytes sent as they are, anything else as JSON. */
  body?: unknown;
}

export interface GqlOptions {
  token?: string | null;
  operationName?: string;
  headers?: Record<string, string>;
}

export interface GraphqlServer {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** `${base}/graphql` */
  url: string;
  dir: string;
  server: RunningServer;
  /** HTTP worker isolates (0: on the engine's thread). */
  workers: number;
  /** A token that may do everything (group "admin", user "root"). */
  admin: string;
  /** Issue a token (defaults: group "test", user "tester", every scope). */
  token(options?: Partial<GenerateOptions>): Promise<string>;
  /** POST a GraphQL request (admin token unless told) and read the reply. */
  gql(query: string, variables?: Record<string, unknown>, options?: GqlOptions): Promise<Reply>;
  /** Any HTTP request to a path of the server. */
  send(path: string, options?: SendOptions): Promise<Reply>;
  /** Append through the API as the node's local user, as setup. */
  seed(
    type: string,
    id: string,
    payload?: Record<string, unknown>,
    eventType?: string,
  ): Promise<void>;
}

export interface GraphqlServerOptions {
  /** `[server] http_workers` (default 0: HTTP on the engine's thread). */
  workers?: number;
  surfaces?: string[];
  maxBodyBytes?: number;
  config?: Partial<Config>;
}

/**
 * Run `fn` against a fresh server; shut it down and remove its data dir afterwards.
 *
 * @example
 * ```ts
 * await withGraphqlServer(async (s) => {
 *   const reply = await s.gql("{ schemas { aggregate } }");
 * });
 * ```
 */
export async function withGraphqlServer<T>(
  fn: (server: GraphqlServer) => Promise<T>,
  options: GraphqlServerOptions = {},
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-graphql-test-" });
  const workers = options.workers ?? 0;
  const base = defaultConfig(dir);
  const config: Config = {
    ...base,
    dek: Buffer.from(randomDek()).toString("base64"),
    ...options.config,
    server: { ...base.server, http_workers: workers, ...options.config?.server },
  };
  let server: RunningServer | undefined;
  try {
    server = await startServer({
      dataDir: dir,
      config,
      hostname: "127.0.0.1",
      port: 0,
      maxBodyBytes: options.maxBodyBytes,
      surfaces: options.surfaces ?? ["rest", "graphql"],
    });
    const running = server;
    const authority = await running.node.tokens();
    const admin = (await authority.generate({ group: "admin", user: "root" })).token;
    const origin = `http://127.0.0.1:${running.port}`;
    const send = (path: string, o: SendOptions = {}) =>
      request(`${origin}${path}`, o.token === undefined ? { ...o, token: admin } : o);
    return await serverWorkWithin(() =>
      fn({
        base: origin,
        url: `${origin}/graphql`,
        dir,
        server: running,
        workers: running.httpWorkers,
        admin,
        token: async (o = {}) =>
          (await authority.generate({ group: "test", user: "tester", ...o })).token,
        send,
        gql: (query, variables, o = {}) => {
          const body: Record<string, unknown> = { query };
          if (variables !== undefined) body.variables = variables;
          if (o.operationName !== undefined) body.operationName = o.operationName;
          return send("/graphql", {
            method: "POST",
            token: o.token,
            headers: { "content-type": "application/json", ...o.headers },
            body: JSON.stringify(body),
          });
        },
        seed: async (type, id, payload = {}, eventType = "seeded") => {
          await running.api.call({ kind: "local", user: "test" }, "appendEvent", {
            aggregate_type: type,
            aggregate_id: id,
            event_type: eventType,
            payload,
          });
        },
      })
    );
  } finally {
    await shutdownWithin(server);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function request(url: string, o: SendOptions): Promise<Reply> {
  const headers = new Headers(o.headers);
  if (o.token !== null && o.token !== undefined) headers.set("Authorization", `Bearer ${o.token}`);
  let body: BodyInit | undefined;
  if (typeof o.body === "string" || o.body instanceof Uint8Array) body = o.body as BodyInit;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const res = await fetch(url, {
    method: o.method ?? (body === undefined ? "GET" : "POST"),
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

/** The `extensions.code` of each error of a reply. */
export function codes(reply: Reply): string[] {
  // deno-lint-ignore no-explicit-any
  return (reply.json?.errors ?? []).map((e: any) => e?.extensions?.code);
}

/**
 * Assert a reply whose errors all have `code` (and one mentions `part`), with the status.
 *
 * @example
 * ```ts
 * expectErrors(reply, 401, "UNAUTHENTICATED", "expired");
 * ```
 */
export function expectErrors(reply: Reply, status: number, code: string, part?: string): void {
  const where = `${status} ${code} expected, got ${reply.status}: ${reply.text}`;
  if (reply.status !== status) throw new Error(where);
  const errors = reply.json?.errors;
  if (!Array.isArray(errors) || errors.length === 0) throw new Error(`no errors[]: ${where}`);
  for (const error of errors) {
    if (error?.extensions?.code !== code) throw new Error(`code: ${where}`);
    if (typeof error.message !== "string" || error.message === "") {
      throw new Error(`no message: ${where}`);
    }
  }
  // deno-lint-ignore no-explicit-any
  if (part !== undefined && !errors.some((e: any) => e.message.includes(part))) {
    throw new Error(`no message mentions ${JSON.stringify(part)}: ${where}`);
  }
}

/** Both HTTP modes, for suites cheap enough to run twice. */
export const MODES: { label: string; workers: number }[] = [
  { label: "in-thread", workers: 0 },
  { label: "1 worker", workers: 1 },
];
