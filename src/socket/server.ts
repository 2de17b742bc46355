/**
 * The control socket's listener: the accept loop, the connection cap and the timeouts of
 * every public port (the `[server]` limits), applied to the control protocol:
 *
 * - accept errors (out of descriptors and the like) never stop it: they are logged at most
 *   once per interval, and accepting goes on (transport.ts);
 * - past `maxConnections` a connection is answered with a refused hello and closed
 *   gracefully, so that its unread hello does not reset the refusal away;
 * - the hello and the Noise handshake must complete within `headerTimeoutMs` of the
 *   connection, and each later frame within `headerTimeoutMs` of its first byte;
 * - a connection with no request in flight and no bytes moving for `idleTimeoutMs` is
 *   closed, as is one whose answer cannot be written for that long (a client not reading).
 *
 * One sweep checks every connection's clocks; nothing else keeps a timer per read.
 */
import { acceptLoop } from "../util/accept_loop.ts";
import { encodeHelloResponse } from "../control_protocol/messages.ts";
import { Connection, type ConnectionOptions, serveConnection } from "./connection.ts";
import { listenTcp } from "./transport.ts";

/** The limits of the listener (the `[server]` table's, as `listenerLimits` computes them). */
export interface SocketLimits {
  maxConnections: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface SocketServerOptions extends ConnectionOptions {
  hostname: string;
  /** 0 lets the OS pick one. */
  port: number;
  limits: SocketLimits;
  /** Where warnings go (default stderr). */
  log?: (line: string) => void;
  /** Shortest time between two log lines of one kind (default 10 s). */
  logIntervalMs?: number;
}

/** A listening control socket. */
export interface SocketServer {
  readonly hostname: string;
  readonly port: number;
  /** Connections open now. */
  readonly open: number;
  /**
   * Stop accepting; close idle connections at once and the others once their answer is
   * out, forcing the rest after `graceMs`. True when none had to be forced.
   */
  close(graceMs: number): Promise<boolean>;
}

/** How long a refused connection may take to read its refusal and hang up. */
const REFUSAL_GRACE_MS = 2_000;
/** Refused connections given that grace at once; past it, they are closed at once. */
const MAX_REFUSING = 64;

const TOO_MANY = encodeHelloResponse({
  accepted: false,
  message: "too many open connections; retry shortly",
  noNoise: false,
});

/** Logs a kind of line at most once per interval, counting what it held back. */
function limitedLog(log: (line: string) => void, intervalMs: number) {
  const last = new Map<string, { at: number; held: number }>();
  return (kind: string, line: string) => {
    const now = performance.now();
    const seen = last.get(kind);
    if (seen && now - seen.at < intervalMs) {
      seen.held++;
      return;
    }
    const held = seen?.held ? ` (${seen.held} more since the last report)` : "";
    last.set(kind, { at: now, held: 0 });
    log(line + held);
  };
}

/**
 * Bind and start accepting; rejects with Deno.errors.AddrInUse or PermissionDenied when the
 * address cannot be bound.
 *
 * @example
 * ```ts
 * import { createDispatch } from "./dispatch.ts";
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const server = await openSocketServer({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 *   dispatch: createDispatch({ api, maxAnswerBytes: 65_535 }),
 *   authenticate: async (token) => { await api.call({ kind: "token", token }, "describeCaller", {}); },
 *   allowPlaintext: false,
 *   maxFrameBytes: 65_535,
 * });
 * await server.close(1_000);
 * ```
 */
export async function openSocketServer(options: SocketServerOptions): Promise<SocketServer> {
  const { limits } = options;
  const log = limitedLog(
    options.log ?? ((line) => console.error(line)),
    options.logIntervalMs ?? 10_000,
  );
  const listener = await listenTcp(
    options.hostname,
    options.port,
    (err) =>
      log(
        "accept",
        `warning: ${options.hostname}:${options.port}: accepting failed: ${err.message}`,
      ),
  );
  const addr = { hostname: listener.hostname, port: listener.port };
  const where = `${addr.hostname}:${addr.port}`;
  const open = new Set<Connection>();
  // A coarse clock, moved by the sweep: connections only store readings of it.
  let now = performance.now();
  const clock = () => now;
  let accepting = true;
  let refusing = 0;

  const sweepEvery = Math.max(50, Math.min(1000, limits.headerTimeoutMs / 4));
  const sweep = setInterval(() => {
    now = performance.now();
    for (const c of open) {
      const reader = c.reader;
      if (c.phase !== "ready") {
        if (now - c.acceptedAt > limits.headerTimeoutMs) c.close();
      } else if (reader.partialSince >= 0 && now - reader.partialSince > limits.headerTimeoutMs) {
        c.close(); // a frame that stopped arriving
      } else if (c.writingSince >= 0) {
        if (now - c.writingSince > limits.idleTimeoutMs) c.close(); // a client not reading
      } else if (
        !c.busy && reader.buffered === 0 &&
        now - Math.max(reader.lastRead, c.lastWrite) > limits.idleTimeoutMs
      ) c.close();
    }
  }, sweepEvery);

  const accepted = acceptLoop(listener, {
    accepting: () => accepting,
    warn: (message) => log("accept", `warning: ${where}: ${message}`),
    take: (conn) => {
      if (open.size >= limits.maxConnections) {
        log(
          "cap",
          `warning: ${where}: ${limits.maxConnections} socket connections are open (the limit); ` +
            "refusing new ones",
        );
        // Gracefully (a few at a time): the client's unread hello must not turn the refusal
        // into a reset.
        const grace = refusing < MAX_REFUSING ? REFUSAL_GRACE_MS : 0;
        refusing++;
        conn.write(TOO_MANY).then(() => conn.closeGracefully(grace)).catch(() => {})
          .finally(() => {
            refusing--;
            conn.close();
          });
        return;
      }
      // Each answer leaves in one write, at once: the transport sets TCP_NODELAY.
      now = performance.now();
      const c = new Connection(conn, clock);
      open.add(c);
      serveConnection(c, options, clock).finally(() => open.delete(c));
    },
  });

  return {
    hostname: addr.hostname,
    port: addr.port,
    get open() {
      return open.size;
    },
    async close(graceMs) {
      if (accepting) {
        accepting = false;
        try {
          listener.close();
        } catch { /* closed already */ }
      }
      await accepted;
      for (const c of open) {
        c.draining = true;
        if (!c.busy) c.close();
      }
      const deadline = performance.now() + graceMs;
      while (open.size > 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const forced = open.size > 0;
      clearInterval(sweep);
      for (const c of [...open]) c.close();
      return !forced;
    },
  };
}
