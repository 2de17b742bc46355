/**
 * The control socket over an API: the listener, the dispatcher and the remote command
 * runner wired together. Runs wherever it is given an API — in the socket's worker isolate
 * (worker.ts, the server's way) or on the caller's thread.
 */
import type { Api } from "../api/api.ts";
import { tokenCaller } from "../api/caller.ts";
import { MAX_NOISE_MESSAGE } from "../control_protocol/noise.ts";
import { createCommandRunner } from "./commands.ts";
import { createDispatch } from "./dispatch.ts";
import { createReplicationHook, type ReplicationSettings } from "../replication/server.ts";
import { openSocketServer, type SocketLimits, type SocketServer } from "./server.ts";

/** Largest frame unless `[socket] max_frame_bytes` says otherwise (what upstream allows). */
export const DEFAULT_MAX_FRAME_BYTES = MAX_NOISE_MESSAGE;

/** Settings of one control socket (plain data: they cross into its worker). */
export interface SocketSettings {
  hostname: string;
  port: number;
  limits: SocketLimits;
  /** Accept plaintext sessions from clients that ask (`[socket] allow_plaintext`). */
  allowPlaintext: boolean;
  maxFrameBytes: number;
  /** The remote command runner's worker module; absent: remote commands are refused. */
  commandWorkerUrl?: string;
  /** Longest a remote command may run. */
  commandTimeoutMs?: number;
  /** Replication peers on this port (src/replication/); absent: none are served. */
  replication?: ReplicationSettings;
}

/**
 * Serve the control socket for `api`.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const socket = await serveSocket(api, {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 *   allowPlaintext: false,
 *   maxFrameBytes: 65_535,
 * });
 * await socket.close(1_000);
 * ```
 */
export function serveSocket(api: Api, settings: SocketSettings): Promise<SocketServer> {
  // Plaintext frames may be larger than Noise's; answers are sized for the smaller.
  const maxAnswerBytes = Math.min(settings.maxFrameBytes, MAX_NOISE_MESSAGE) - 16;
  const runCommand = settings.commandWorkerUrl === undefined ? undefined : createCommandRunner({
    api,
    workerUrl: settings.commandWorkerUrl,
    timeoutMs: settings.commandTimeoutMs,
    maxOutputBytes: maxAnswerBytes - 1024,
  });
  return openSocketServer({
    hostname: settings.hostname,
    port: settings.port,
    limits: settings.limits,
    allowPlaintext: settings.allowPlaintext,
    maxFrameBytes: settings.maxFrameBytes,
    dispatch: createDispatch({ api, maxAnswerBytes, runCommand }),
    replication: settings.replication && createReplicationHook(api, settings.replication),
    authenticate: async (token) => {
      await api.call(tokenCaller(token), "describeCaller", {});
    },
  });
}
