/**
 * The Admin API on its own address (`[admin] bind`/`port`, default 127.0.0.1:7171), with
 * the protections of every public port: the gate (connection cap, header and idle timeouts)
 * in its worker, in front of a private `Deno.serve` on this thread.
 *
 * The private server listens on a loopback TCP port (not a Unix socket) so that each
 * connection has a port of its own: the gate reports, for each port, which client address
 * it carries, and that address is what wrong keys are rate limited by. A connection the
 * gate did not report (someone dialling the private port directly) is refused.
 *
 * The `[admin]` table is followed live: a key set, rotated or cleared with `dbx config`, or
 * `--admin-enabled false`, takes effect on the next request.
 */
import type { Api } from "../api/api.ts";
import type { LimiterOptions } from "../admin/rate_limit.ts";
import { createAdminApp } from "../admin/app.ts";
import {
  AdminSettingsFile,
  type Config,
  type ConfigFileRef,
  upgradeMasterKeyHash,
} from "../config/mod.ts";
import { DbxError } from "../errors.ts";
import type { GateLimits, PeerEvent } from "./gate.ts";
import { connectOptions, listen } from "./listener.ts";
import { openPublicPort } from "./public_port.ts";
import type { OwnListener } from "./serve.ts";

/**
 * How long a request waits for the gate to say whose connection it came on. The gate says
 * so before it forwards a byte, so only a connection that bypassed the gate waits this long
 * (a thread held up by other work must not turn a real client away).
 */
const PEER_WAIT_MS = 10_000;

export interface AdminListenerOptions {
  api: Api;
  /** The server's settings: `admin` is kept as config.toml says now. */
  config: Config;
  /** The config file to follow (when it exists; else the settings stay as started). */
  file: ConfigFileRef;
  limits: GateLimits;
  maxBodyBytes?: number;
  /** Rate limiting of wrong keys (tests). */
  rateLimits?: LimiterOptions;
  /** Where security events go (default stderr). */
  log?: (line: string) => void;
}

/** The Admin API being served. */
export interface AdminListener extends OwnListener {
  hostname: string;
  port: number;
}

/**
 * Refuse to start a server whose Admin API is enabled without a master key, saying why.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "../config/mod.ts";
 * checkAdminSettings(defaultConfig("/tmp/db")); // ok: the Admin API is off by default
 * ```
 */
export function checkAdminSettings(config: Config): void {
  if (config.admin.enabled && config.admin.master_key_hash === undefined) {
    throw new DbxError(
      "invalid_input",
      "the Admin API is enabled ([admin] enabled = true) but no master key is set: set one " +
        "with `dbx config --admin-master-key <secret>`, or turn the Admin API off with " +
        "`dbx config --admin-enabled false`",
    );
  }
}

/**
 * What the node calls once a key matched an earlier version's scrypt hash: store an
 * Argon2id hash of it in the config file, and use it from now on.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "../config/mod.ts";
 * const config = defaultConfig("/tmp/db");
 * const upgrade = masterKeyUpgrade(config, { configPath: "/tmp/db/config.toml", dataDir: "/tmp/db" });
 * ```
 */
export function masterKeyUpgrade(
  config: Config,
  file: ConfigFileRef,
): (key: string, legacyHash: string) => Promise<void> {
  return async (key, legacyHash) => {
    const next = await upgradeMasterKeyHash(file, legacyHash, key);
    if (next !== undefined && config.admin.master_key_hash === legacyHash) {
      config.admin.master_key_hash = next;
    }
    if (next !== undefined) {
      console.error(`note: the Admin master key hash in ${file.configPath} is now Argon2id`);
    }
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Which client each private connection (by its local port) carries, as the gate says. */
class Peers {
  readonly #byPort = new Map<number, string>();
  #waiters: (() => void)[] = [];

  report(peer: PeerEvent): void {
    if (peer.type === "open") this.#byPort.set(peer.upstreamPort, peer.client);
    else this.#byPort.delete(peer.upstreamPort);
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const wake of waiting) wake();
  }

  /** The client of a connection; undefined when the gate never reported it. */
  async of(port: number): Promise<string | undefined> {
    const deadline = Date.now() + PEER_WAIT_MS;
    for (;;) {
      const client = this.#byPort.get(port);
      const left = deadline - Date.now();
      if (client !== undefined) return client;
      if (left <= 0) {
        // Let reports that queued up behind the timer be handled first.
        await new Promise((resolve) => setTimeout(resolve, 0));
        return this.#byPort.get(port);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.push(done);
      });
    }
  }
}

/**
 * Serve the Admin API.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * import { defaultConfig } from "../config/mod.ts";
 * declare const api: Api;
 * const config = defaultConfig("/tmp/db");
 * const admin = await serveAdmin({
 *   api,
 *   config,
 *   file: { configPath: "/tmp/db/config.toml", dataDir: "/tmp/db" },
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 * });
 * await admin.shutdown(10_000);
 * ```
 */
export async function serveAdmin(options: AdminListenerOptions): Promise<AdminListener> {
  const { config } = options;
  const settings = await exists(options.file.configPath)
    ? new AdminSettingsFile(options.file)
    : undefined;
  const ready = async () => {
    if (settings) {
      const now = await settings.current();
      config.admin.enabled = now.enabled;
      if (now.master_key_hash === undefined) delete config.admin.master_key_hash;
      else config.admin.master_key_hash = now.master_key_hash;
    }
    if (!config.admin.enabled) {
      throw new DbxError(
        "forbidden",
        "the Admin API is disabled; turn it on with `dbx config --admin-enabled true`",
      );
    }
  };
  const app = createAdminApp({
    api: options.api,
    maxBodyBytes: options.maxBodyBytes,
    limits: options.rateLimits,
    ready,
    log: options.log,
  });
  const peers = new Peers();
  const listener = listen({
    address: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
    handler: async (request, info) => {
      const client = await peers.of((info.remoteAddr as Deno.NetAddr).port);
      if (client === undefined) {
        return Response.json(
          { message: "connect through the Admin API's port", code: "forbidden" },
          { status: 403 },
        );
      }
      return app.fetch(request, { client });
    },
  });
  let gate;
  try {
    gate = await openPublicPort({
      hostname: config.admin.bind,
      port: config.admin.port,
      limits: options.limits,
      upstreams: [connectOptions(listener.address)],
      http: true,
      onPeer: (peer) => peers.report(peer),
    });
  } catch (err) {
    await listener.shutdown(0);
    throw err;
  }
  const publicPort = gate;
  const host = publicPort.hostname.includes(":") ? `[${publicPort.hostname}]` : publicPort.hostname;
  let stopping = false;
  return {
    hostname: publicPort.hostname,
    port: publicPort.port,
    served: [{ surface: "admin", url: `http://${host}:${publicPort.port}/admin` }],
    finished: Promise.race([
      listener.finished.then(
        () => stopping ? undefined : "the Admin API server stopped",
        (err) => `the Admin API server failed: ${(err as Error)?.message ?? err}`,
      ),
      publicPort.died,
    ]),
    async shutdown(gracePeriodMs) {
      stopping = true;
      await publicPort.stopAccepting();
      const drained = await listener.shutdown(gracePeriodMs);
      await publicPort.close();
      return drained;
    },
  };
}
