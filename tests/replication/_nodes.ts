/**
 * Shared setup of the replication suites: nodes on loopback. A "server node" is a real
 * server (`startServer`: engine, API, HTTP and the socket in its worker, on free ports) on a
 * temp dir; a "CLI node" is a data directory driven by the real `dbx` CLI as a subprocess,
 * whose store is opened in this process (between CLI runs) only to add or read events.
 * Every node has its own DEK. Everything is shut down and removed afterwards.
 */
import { Buffer } from "node:buffer";
import { bindCaller, type BoundApi, createApi } from "../../src/api/api.ts";
import { openNode } from "../../src/api/node.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import { loadConfig } from "../../src/config/mod.ts";
import type { Config } from "../../src/config/types.ts";
import { loadOrCreateIdentity } from "../../src/replication/identity.ts";
import { type RunningServer, startServer } from "../../src/server/serve.ts";
import { randomDek } from "../_helpers/temp.ts";

export { assert, assertEquals } from "../_helpers/assert.ts";
import { runDbxOk } from "../_helpers/cli.ts";
import { serverWorkWithin, shutdownWithin } from "../_helpers/deadline.ts";
export { runDbx, runDbxOk } from "../_helpers/cli.ts";

const LOCAL = { kind: "local", user: "tester" } as const;

export interface ServerNode {
  dir: string;
  server: RunningServer;
  /** The control socket's port (replication shares it). */
  socketPort: number;
  /** The node's API as its local user. */
  api: BoundApi;
  /** The node's replication public key (base64). */
  publicKey: string;
  config: Config;
}

/** Run `fn` with a fresh server node; shut it down and remove it afterwards. */
export async function withServerNode<T>(fn: (node: ServerNode) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-repl-server-" });
  const base = defaultConfig(dir);
  const config: Config = {
    ...base,
    dek: Buffer.from(randomDek()).toString("base64"),
    server: { ...base.server, http_workers: 0 },
  };
  let server: RunningServer | undefined;
  try {
    server = await startServer({
      dataDir: dir,
      config,
      hostname: "127.0.0.1",
      port: 0,
      gracePeriodMs: 2_000,
    });
    const url = server.served.find((s) => s.surface === "socket")?.url;
    if (!url) throw new Error("the server serves no socket");
    const publicKey = (await loadOrCreateIdentity(dir)).publicKeyBase64;
    const running = server;
    return await serverWorkWithin(() =>
      fn({
        dir,
        server: running,
        socketPort: Number(new URL(url).port),
        api: bindCaller(running.api, LOCAL),
        publicKey,
        config,
      })
    );
  } finally {
    await shutdownWithin(server).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Run `fn` with a fresh CLI node's directory (configured, with its own DEK). */
export async function withCliNode<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-repl-cli-" });
  try {
    await loadConfig({ dataDir: dir }, { create: true });
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Open a CLI node's store in this process for `fn` (no CLI may run meanwhile). */
export async function withLocalApi<T>(dir: string, fn: (api: BoundApi) => Promise<T>): Promise<T> {
  const { config } = await loadConfig({ dataDir: dir }, { create: false });
  const node = await openNode({ dataDir: dir, config, mode: "write" });
  try {
    return await fn(bindCaller(createApi(node), LOCAL));
  } finally {
    await node.close();
  }
}

/** Append `count` events to one aggregate (`{n: i}` payloads). */
export async function appendMany(
  api: BoundApi,
  type: string,
  id: string,
  count: number,
  from = 1,
): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await api.call("appendEvent", {
      aggregate_type: type,
      aggregate_id: id,
      event_type: "changed",
      payload: { n: i, text: `event ${i}` },
    });
  }
}

/** Every event of an aggregate (version 0: none). */
export async function eventsOf(api: BoundApi, type: string, id: string) {
  try {
    return (await api.call("listEvents", { aggregate_type: type, aggregate_id: id, take: 1000 }))
      .items;
  } catch {
    return [];
  }
}

/** The node's replication key, through the CLI. */
export async function cliKey(dir: string): Promise<string> {
  return (await runDbxOk(dir, ["remote", "key"])).trim();
}

/**
 * Pin each node on the other: the CLI node knows the server node as "standby", the server
 * node knows the CLI node as "primary".
 */
export async function pair(local: string, remote: ServerNode): Promise<void> {
  await runDbxOk(local, [
    "remote",
    "add",
    "standby",
    "127.0.0.1",
    "--port",
    String(remote.socketPort),
    "--public-key",
    remote.publicKey,
  ]);
  await remote.api.call("upsertRemote", {
    name: "primary",
    host: "127.0.0.1",
    public_key: await cliKey(local),
  });
}
