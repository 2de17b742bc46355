/**
 * Shared setup of the socket suites: a real server (`startServer`: engine, API, HTTP and the
 * control socket in its worker) on a temp dir, on any free ports, and the official client
 * `eventdbxjs-linux-x64-gnu@1.4.5` loaded unmodified from node_modules. Everything is shut
 * down and removed after each test, whatever happens.
 */
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { GenerateOptions } from "../../src/auth/authority.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import type { Config } from "../../src/config/types.ts";
import { type RunningServer, startServer } from "../../src/server/serve.ts";
import { randomDek } from "../_helpers/temp.ts";
import { serverWorkWithin, shutdownWithin } from "../_helpers/deadline.ts";

export { assert, assertEquals } from "../_helpers/assert.ts";

/** The runner module `dbx start` names for remote commands. */
export const REMOTE_RUNNER = new URL("../../src/cli/remote_runner.ts", import.meta.url).href;

export interface SocketServer {
  server: RunningServer;
  dir: string;
  /** The control socket's port. */
  port: number;
  /** The HTTP port (REST). */
  httpPort: number;
  /** A token that may do everything (group "admin", user "root"). */
  admin: string;
  /** Issue a token (defaults: group "test", user "tester", every scope). */
  token(options?: Partial<GenerateOptions>): Promise<string>;
  config: Config;
}

export interface SocketServerOptions {
  /** Accept plaintext sessions (`[socket] allow_plaintext`). */
  allowPlaintext?: boolean;
  config?: Partial<Config>;
  /** Serve remote commands (default true). */
  remoteCommands?: boolean;
}

/**
 * Run `fn` against a fresh server; shut it down and remove its directory afterwards.
 *
 * @example
 * ```ts
 * await withSocketServer(async (s) => console.log(s.port));
 * ```
 */
export async function withSocketServer<T>(
  fn: (s: SocketServer) => Promise<T>,
  options: SocketServerOptions = {},
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-socket-test-" });
  const base = defaultConfig(dir);
  const config: Config = {
    ...base,
    dek: Buffer.from(randomDek()).toString("base64"),
    ...options.config,
    socket: {
      ...base.socket,
      allow_plaintext: options.allowPlaintext === true,
      ...options.config?.socket,
    },
    server: { ...base.server, http_workers: 0, ...options.config?.server },
  };
  let server: RunningServer | undefined;
  try {
    server = await startServer({
      dataDir: dir,
      config,
      hostname: "127.0.0.1",
      port: 0,
      gracePeriodMs: 2_000,
      remoteCommands: options.remoteCommands === false ? undefined : REMOTE_RUNNER,
    });
    const url = server.served.find((s) => s.surface === "socket")?.url;
    if (!url) throw new Error("the server serves no socket");
    const port = Number(new URL(url).port);
    const authority = await server.node.tokens();
    const admin = (await authority.generate({ group: "admin", user: "root" })).token;
    const started = server;
    return await serverWorkWithin(() =>
      fn({
        server: started,
        dir,
        port,
        httpPort: started.port,
        admin,
        config,
        token: async (o = {}) =>
          (await authority.generate({ group: "test", user: "tester", ...o })).token,
      })
    );
  } finally {
    await shutdownWithin(server).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The official client's module (the prebuilt native addon, unmodified). */
// deno-lint-ignore no-explicit-any
export type JsClient = any;

const require = createRequire(import.meta.url);
const ADDON = fileURLToPath(
  new URL(
    "../../node_modules/eventdbxjs-linux-x64-gnu/eventdbx.linux-x64-gnu.node",
    import.meta.url,
  ),
);

/**
 * A client of the official SDK for this server (`verbose: true`, so that a response the
 * client cannot parse fails instead of becoming "Ok").
 *
 * @example
 * ```ts
 * const client = officialClient(s.port, s.admin, { noNoise: true });
 * await client.connect();
 * ```
 */
export function officialClient(
  port: number,
  token: string,
  options: { noNoise?: boolean } = {},
): JsClient {
  const { createClient } = require(ADDON);
  return createClient({
    ip: "127.0.0.1",
    port,
    token,
    verbose: true,
    noNoise: options.noNoise === true,
  });
}
