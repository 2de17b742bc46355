/**
 * Shared setup of the Admin API suites: a real server (`startServer`) on a temp data dir
 * with the Admin API enabled on 127.0.0.1 port 0, its config.toml written with an Argon2id
 * hash of the test key (the server follows that file live), and fetch helpers that can send
 * from another loopback address (127.0.0.x) to play a second client. Everything is shut
 * down and removed after each test, whatever happens.
 */
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { scrypt } from "node:crypto";
import { defaultConfig, hashMasterKey, loadConfig, saveConfig } from "../../src/config/mod.ts";
import type { Config } from "../../src/config/types.ts";
import { type RunningServer, startServer } from "../../src/server/serve.ts";
import { randomDek } from "../_helpers/temp.ts";
import { serverWorkWithin, shutdownWithin } from "../_helpers/deadline.ts";

export { assert, assertEquals } from "../_helpers/assert.ts";

/** The master key of the test servers. */
export const KEY = "admin-test-key-0f3a9c";

/** A valid Ed25519 public key (RFC 8032, test 1) and a second one (test 2). */
export const PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
export const OTHER_PUBLIC_KEY = "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=";

/** A response read whole. */
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

export interface AdminRequest {
  /** X-Admin-Key value (default KEY); null sends none. */
  key?: string | null;
  /** Send the key as `Authorization: Bearer` instead of X-Admin-Key. */
  bearer?: boolean;
  /** A value sent as JSON, or a string sent as it is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Send from this loopback address (default 127.0.0.1). */
  from?: string;
}

export interface AdminServer {
  dir: string;
  configPath: string;
  server: RunningServer;
  /** `http://127.0.0.1:<port>/admin` */
  admin: string;
  /** `http://127.0.0.1:<port>` of REST. */
  rest: string;
  request(method: string, path: string, options?: AdminRequest): Promise<Reply>;
  /** A REST request with a bearer token. */
  restRequest(method: string, path: string, token: string, body?: unknown): Promise<Reply>;
}

export interface AdminServerOptions {
  /** The stored master key hash (default: Argon2id of KEY); null stores none. */
  hash?: string | null;
  configure?: (config: Config) => void;
}

const clients = new Map<string, Deno.HttpClient>();

/** An HTTP client that connects from `address` (one per address, closed by closeClients). */
export function clientFrom(address: string): Deno.HttpClient {
  let client = clients.get(address);
  if (!client) {
    client = Deno.createHttpClient({ localAddress: address });
    clients.set(address, client);
  }
  return client;
}

function closeClients(): void {
  for (const client of clients.values()) client.close();
  clients.clear();
}

/** Send a request and read the reply whole. */
export async function send(
  url: string,
  method: string,
  options: AdminRequest = {},
): Promise<Reply> {
  const headers = new Headers(options.headers);
  const key = options.key === undefined ? KEY : options.key;
  if (key !== null) {
    if (options.bearer) headers.set("Authorization", `Bearer ${key}`);
    else headers.set("X-Admin-Key", key);
  }
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const response = await fetch(url, {
    method,
    headers,
    body,
    client: options.from ? clientFrom(options.from) : undefined,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** The config of a fresh data dir with the Admin API on (key hash as given). */
export function adminConfig(dir: string, hash: string | null): Config {
  const config: Config = {
    ...defaultConfig(dir),
    dek: Buffer.from(randomDek()).toString("base64"),
  };
  config.admin = { enabled: true, bind: "127.0.0.1", port: 7171 };
  if (hash !== null) config.admin.master_key_hash = hash;
  return config;
}

/** An earlier version's scrypt hash of `secret` (cheaper parameters than it used: ln=14). */
export async function legacyScryptHash(secret: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await new Promise<Buffer>((resolve, reject) =>
    scrypt(secret, salt, 32, { N: 2 ** 14, r: 8, p: 1 }, (e, k) => e ? reject(e) : resolve(k))
  );
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  return `scrypt$ln=14,r=8,p=1$${b64(salt)}$${b64(hash)}`;
}

/** What config.toml says now. */
export async function fileConfig(dir: string): Promise<Config> {
  return (await loadConfig({ dataDir: dir }, { create: false })).config;
}

/**
 * Run `fn` with a real server whose Admin API is on (port 0), then shut it down and remove
 * its data dir.
 */
export async function withAdminServer(
  fn: (s: AdminServer) => Promise<void>,
  options: AdminServerOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-admin-" });
  let server: RunningServer | undefined;
  try {
    const hash = options.hash === undefined ? await hashMasterKey(KEY) : options.hash;
    const config = adminConfig(dir, hash);
    options.configure?.(config);
    const configPath = join(dir, "config.toml");
    await saveConfig(configPath, config);
    // The file holds a real port; the server binds any free one.
    const started = (await loadConfig({ dataDir: dir }, { create: false })).config;
    started.admin.port = 0;
    server = await startServer({ dataDir: dir, config: started, hostname: "127.0.0.1", port: 0 });
    const admin = server.served.find((s) => s.surface === "admin")?.url;
    if (!admin) throw new Error(`the Admin API is not served: ${JSON.stringify(server.served)}`);
    const rest = `http://127.0.0.1:${server.port}`;
    const running = server;
    await serverWorkWithin(() =>
      fn({
        dir,
        configPath,
        server: running,
        admin,
        rest,
        request: (method, path, o) => send(`${admin}${path}`, method, o),
        restRequest: (method, path, token, body) =>
          send(`${rest}${path}`, method, {
            key: null,
            headers: { Authorization: `Bearer ${token}` },
            body,
          }),
      })
    );
  } finally {
    await shutdownWithin(server).catch(() => {});
    closeClients();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
