/**
 * The gate: the accept loop in front of a public port. Deno.serve (like the HTTP servers of
 * Deno's node layer) stops for good when `accept` fails (EMFILE) and has no header-read
 * timeout, idle timeout or connection cap, so the public port is owned here instead, and each
 * accepted connection is spliced to a server on a private address (a Unix socket in the data
 * directory):
 *
 * - accept errors (out of descriptors and the like) never stop the gate: it logs them (at most
 *   once per interval), backs off, and accepts again as soon as descriptors free up;
 * - at most `maxConnections` are open at once; past the cap a connection is answered at once
 *   (an HTTP 503 for HTTP listeners) and closed, and the cap being reached is logged once per
 *   interval;
 * - a request head must arrive within `headerTimeoutMs` (the first from the moment the
 *   connection is accepted, each later one from its first byte), and a connection with
 *   nothing in flight (no request waiting for its response, no response being sent) and no
 *   bytes moving for `idleTimeoutMs` is closed, as is one whose request body stopped arriving.
 *   The gate follows HTTP/1.x framing both ways for this (http_framing.ts); a connection that
 *   leaves HTTP/1.x (HTTP/2, a switched protocol) keeps only the first-head rule. Timeouts are
 *   checked by one sweep for all connections, not a timer per read.
 *
 * A gate may also tell protocols apart by a connection's first bytes: one that opens with the
 * HTTP/2 prior-knowledge preface (what gRPC clients send first) goes to `http2Upstreams` (the
 * gRPC server) when any are set, every other one to `upstreams`. Only then does the gate read
 * before it connects upstream, and only until the first bytes decide (one read for HTTP/1.x).
 *
 * A gate may also serve HTTP/1.x itself (`serve`, see http1.ts) instead of splicing: then the
 * same framing follows the bytes it reads and writes, and every rule above still applies.
 *
 * Every listener uses it: HTTP (with gRPC sharing its port), a gRPC port of its own.
 */
import { acceptLoop } from "../util/accept_loop.ts";
import { type Http1Hooks, type Http1Options, type Http1Progress, serveHttp1 } from "./http1.ts";
import { ConnectionFraming } from "./http_framing.ts";

/** The limits of one listener. */
export interface GateLimits {
  maxConnections: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface GateOptions {
  hostname: string;
  /** 0 lets the OS pick one (see {@link Gate.port}). */
  port: number;
  limits: GateLimits;
  /** Private addresses of the servers behind the gate; connections are spread over them. */
  upstreams: Upstream[];
  /**
   * Where connections that open with the HTTP/2 prior-knowledge preface go (gRPC sharing the
   * port); none or empty: with every other connection to `upstreams`.
   */
  http2Upstreams?: Upstream[];
  /** Follow HTTP/1.x request heads (for the header timeout) and answer refusals in HTTP. */
  http?: boolean;
  /** Where warnings go (default stderr). */
  log?: (line: string) => void;
  /** Shortest time between two log lines of the same kind (default 10 s). */
  logIntervalMs?: number;
  /**
   * Told of every spliced connection (before any of its bytes go upstream) and of its end:
   * the client's address and the local port of the upstream connection, which is how a
   * server behind the gate on a loopback TCP address learns who its client is. Set only
   * in the worker (functions do not cross to it); `reportPeers` asks for it.
   */
  onPeer?: (peer: PeerEvent) => void;
  /** Report peers (see `onPeer`) from the gate's worker. */
  reportPeers?: boolean;
  /**
   * Serve HTTP/1.x connections here (http1.ts) with this handler instead of splicing them to
   * `upstreams`: the gate on the engine's thread, with no private server behind it. HTTP/2
   * connections still go to `http2Upstreams`. Only where the gate is opened in-process (a
   * function cannot cross to the gate's worker).
   */
  serve?: Http1Options;
}

/** A spliced connection opened (with its client's address) or ended. */
export type PeerEvent =
  | { type: "open"; client: string; upstreamPort: number }
  | { type: "close"; upstreamPort: number };

/** The private address of a server behind a gate. */
export type Upstream = Deno.ConnectOptions | Deno.UnixConnectOptions;

/** A gate that is accepting. */
export interface Gate {
  readonly hostname: string;
  /** The port actually bound. */
  readonly port: number;
  /** Connections open now. */
  readonly open: number;
  /** Stop accepting; open connections go on. */
  stopAccepting(): void;
  /**
   * Send the connections accepted from now on that open with the HTTP/2 preface to these
   * servers (empty: with all the others), as `http2Upstreams` does from the start.
   */
  routeHttp2(upstreams: Upstream[]): void;
  /**
   * Stop accepting, let the connections still open finish what is in flight (the servers
   * behind close them once they are done) for up to `graceMs`, then close the rest. True
   * when none was left to close.
   */
  close(graceMs?: number): Promise<boolean>;
}

const REFUSED_HTTP = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
    'Connection: close\r\nContent-Length: 75\r\n\r\n{"message":"too many open connections; retry shortly","code":"unavailable"}',
);
const HEAD_TIMEOUT_HTTP = new TextEncoder().encode(
  "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
);
const HEAD_TOO_LARGE_HTTP = new TextEncoder().encode(
  "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
);
/** The HTTP/2 connection preface a client sends first with prior knowledge (RFC 9113 §3.4). */
const HTTP2_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Whether `bytes` (a connection's first bytes) open with the HTTP/2 preface: true, false, or
 * undefined while they are a part of it too short to tell.
 *
 * @example
 * ```ts
 * opensHttp2(new TextEncoder().encode("GET / HTTP/1.1\r\n")); // false
 * opensHttp2(new TextEncoder().encode("PRI * HT")); // undefined
 * ```
 */
export function opensHttp2(bytes: Uint8Array): boolean | undefined {
  const n = Math.min(bytes.length, HTTP2_PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== HTTP2_PREFACE[i]) return false;
  return n === HTTP2_PREFACE.length ? true : undefined;
}

/** One spliced connection and what the sweep needs to know about it. */
interface Open {
  client: Deno.Conn;
  upstream?: Deno.Conn;
  /** HTTP listeners: the connection's framing, while it is HTTP/1.x. */
  framing?: ConnectionFraming;
  /** Served here (`serve`): where the connection is, as the server reports it. */
  progress?: Http1Progress;
  /** Left HTTP/1.x (HTTP/2, a switched protocol): only the first-head rule applies. */
  unfollowed: boolean;
  /** Clock reading of the last byte in either direction. */
  lastActivity: number;
  /** When the request head being read started (-1: none is being read). */
  headStarted: number;
  closed: boolean;
  /** The upstream connection's local port, once reported to `onPeer`. */
  peerPort?: number;
}

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
 * Bind the public port and start accepting. Throws (like Deno.listen) when the port cannot
 * be bound.
 *
 * @example
 * ```ts
 * const gate = openGate({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: { maxConnections: 1024, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000 },
 *   upstreams: [{ transport: "unix", path: "/tmp/db/http.sock" }],
 *   http: true,
 * });
 * console.log(gate.port);
 * await gate.close();
 * ```
 */
export function openGate(options: GateOptions): Gate {
  const { limits } = options;
  const log = limitedLog(
    options.log ?? ((line) => console.error(line)),
    options.logIntervalMs ?? 10_000,
  );
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const addr = listener.addr as Deno.NetAddr;
  const where = `${addr.hostname}:${addr.port}`;
  const open = new Set<Open>();
  let accepting = true;
  let next = 0;
  let nextHttp2 = 0;
  let http2Upstreams = options.http2Upstreams ?? [];
  /** Closing: connections served here finish what is in flight, then close. */
  let draining = false;
  // A coarse clock, moved by the sweep: reads and writes only store it.
  let now = performance.now();
  const sweepEvery = Math.max(50, Math.min(1000, limits.headerTimeoutMs / 4));
  const sweep = setInterval(() => {
    now = performance.now();
    for (const c of open) {
      const framing = c.framing ?? c.progress;
      if (c.headStarted >= 0 && now - c.headStarted > limits.headerTimeoutMs) {
        // A 408 only where no response is pending (it would be taken for that response).
        drop(c, !framing || framing.inFlight === 0 ? HEAD_TIMEOUT_HTTP : undefined);
      } else if (!c.unfollowed && now - c.lastActivity > limits.idleTimeoutMs) {
        // Idle between requests, or a body that stopped arriving; never a request the
        // server is still working on or a response still being sent.
        if (!framing || framing.inFlight === 0 || framing.inRequestBody) drop(c);
      }
    }
  }, sweepEvery);

  const drop = (c: Open, farewell?: Uint8Array) => {
    if (c.closed) return;
    c.closed = true;
    open.delete(c);
    if (c.peerPort !== undefined) options.onPeer?.({ type: "close", upstreamPort: c.peerPort });
    const end = () => {
      try {
        c.client.close();
      } catch { /* closed already */ }
      try {
        c.upstream?.close();
      } catch { /* closed already */ }
    };
    if (farewell && options.http) c.client.write(farewell).catch(() => {}).finally(end);
    else end();
  };

  /**
   * Follow bytes from the client (the header timeout and head size rules); false when the
   * connection was dropped for them.
   */
  const follow = (c: Open, chunk: Uint8Array): boolean => {
    const framing = c.framing;
    if (framing) {
      framing.fromClient(chunk);
      if (framing.requests.tooLarge) {
        drop(c, framing.inFlight === 0 ? HEAD_TOO_LARGE_HTTP : undefined);
        return false;
      }
      if (!framing.followed) unfollow(c);
      else if (framing.inRequestHead) {
        if (c.headStarted < 0) c.headStarted = now;
      } else c.headStarted = -1;
    } else c.headStarted = -1;
    return true;
  };

  /** Serve an HTTP/1.x connection here (`serve`), from the bytes sniffing read. */
  const serveHere = async (c: Open, serve: Http1Options, first: Uint8Array | undefined) => {
    // The server says where the connection is: its bytes need not be followed again.
    const progress: Http1Progress = { inFlight: 0, inRequestBody: false };
    c.framing = undefined;
    c.progress = progress;
    const hooks: Http1Hooks = {
      active() {
        c.lastActivity = now;
      },
      head(arriving) {
        // The first head is due from the accept; each later one from its first byte.
        if (!arriving) c.headStarted = -1;
        else if (c.headStarted < 0) c.headStarted = now;
      },
      open: () => !c.closed,
      draining: () => draining,
    };
    try {
      await serveHttp1(c.client, first, serve, hooks, progress);
    } catch {
      // A reset by the client.
    } finally {
      drop(c);
    }
  };

  /** HTTP/2 or a switched protocol: framing is no longer followed. */
  const unfollow = (c: Open) => {
    c.framing = undefined;
    c.unfollowed = true;
    c.headStarted = -1;
  };

  const refuse = (conn: Deno.Conn) => {
    const close = () => {
      try {
        conn.close();
      } catch { /* closed already */ }
    };
    if (options.http) conn.write(REFUSED_HTTP).catch(() => {}).finally(close);
    else close();
  };

  /**
   * A connection's first bytes, read until they tell whether it opens with the HTTP/2
   * preface (one read but for a client that sends the preface in pieces); null when the
   * client left first.
   */
  const sniff = async (c: Open): Promise<{ bytes: Uint8Array; http2: boolean } | null> => {
    const buffer = new Uint8Array(64 << 10);
    let length = 0;
    for (;;) {
      const n = await c.client.read(buffer.subarray(length)).catch(() => null);
      if (n === null) return null;
      c.lastActivity = now;
      length += n;
      const bytes = buffer.subarray(0, length);
      const http2 = opensHttp2(bytes);
      if (http2 !== undefined) return { bytes, http2 };
    }
  };

  const splice = async (c: Open) => {
    // Only a gate that routes HTTP/2 elsewhere waits for the first bytes before connecting.
    let first: Uint8Array | undefined;
    let http2 = false;
    if (http2Upstreams.length > 0 || options.serve) {
      const sniffed = await sniff(c);
      if (sniffed === null) return drop(c);
      ({ bytes: first, http2 } = sniffed);
      // The preface was the first head: from here on the HTTP/2 server owns the connection.
      if (http2) unfollow(c);
    }
    if (!http2 && options.serve) return await serveHere(c, options.serve, first);
    const targets = http2 ? http2Upstreams : options.upstreams;
    const target = http2 ? targets[nextHttp2++ % targets.length] : targets[next++ % targets.length];
    try {
      c.upstream = await Deno.connect(target as Deno.ConnectOptions);
    } catch (err) {
      log("upstream", `warning: ${where}: cannot reach the server behind the gate: ${err}`);
      drop(c, options.http && !http2 ? REFUSED_HTTP : undefined);
      return;
    }
    if (c.closed) {
      c.upstream.close();
      return;
    }
    const upstream = c.upstream;
    if (options.onPeer && upstream.localAddr.transport === "tcp") {
      c.peerPort = upstream.localAddr.port;
      const client = c.client.remoteAddr as Deno.NetAddr;
      options.onPeer({ type: "open", client: client.hostname, upstreamPort: c.peerPort });
    }
    /** Pass one chunk from the client on; false when the connection was dropped for it. */
    const forward = async (chunk: Uint8Array): Promise<boolean> => {
      if (!follow(c, chunk)) return false;
      await writeAll(upstream, chunk);
      return true;
    };
    const toServer = async () => {
      if (first && !(await forward(first))) return;
      const buffer = new Uint8Array(64 << 10);
      for (;;) {
        const n = await c.client.read(buffer);
        if (n === null) break;
        c.lastActivity = now;
        if (!(await forward(buffer.subarray(0, n)))) return;
      }
      try {
        await upstream.closeWrite();
      } catch { /* closed already */ }
    };
    const toClient = async () => {
      const buffer = new Uint8Array(64 << 10);
      for (;;) {
        const n = await upstream.read(buffer);
        if (n === null) break;
        c.lastActivity = now;
        const chunk = buffer.subarray(0, n);
        if (c.framing) {
          c.framing.fromServer(chunk);
          if (!c.framing.followed) unfollow(c);
        }
        await writeAll(c.client, chunk);
      }
      c.framing?.serverClosed();
    };
    // The client may half-close after its request and still read the answer; the connection
    // is over when the server's side ends, or at once when either side fails.
    const sending = toServer().catch(() => drop(c));
    try {
      await toClient();
    } catch {
      // A reset by either side.
    } finally {
      drop(c);
    }
    await sending;
  };

  const accepted = acceptLoop(listener, {
    accepting: () => accepting,
    warn: (message) => log("accept", `warning: ${where}: ${message}`),
    take: (conn) => {
      if (open.size >= limits.maxConnections) {
        log(
          "cap",
          `warning: ${where}: ${limits.maxConnections} connections are open (the limit); ` +
            "refusing new ones",
        );
        refuse(conn);
        return;
      }
      // Each answer goes out at once (no Nagle delay behind a small write).
      (conn as Deno.TcpConn).setNoDelay?.(true);
      now = performance.now();
      const c: Open = {
        client: conn,
        framing: options.http ? new ConnectionFraming() : undefined,
        unfollowed: false,
        lastActivity: now,
        // The first request head is due from the moment the connection is accepted.
        headStarted: now,
        closed: false,
      };
      open.add(c);
      splice(c);
    },
  });

  const stopAccepting = () => {
    if (!accepting) return;
    accepting = false;
    try {
      listener.close();
    } catch { /* closed already */ }
  };
  return {
    hostname: addr.hostname,
    port: addr.port,
    get open() {
      return open.size;
    },
    stopAccepting,
    routeHttp2(upstreams) {
      http2Upstreams = [...upstreams];
    },
    async close(graceMs = 2_000) {
      stopAccepting();
      await accepted;
      if (options.serve) {
        // Served here: idle connections close now, busy ones once their answer is out.
        draining = true;
        for (const c of [...open]) {
          const busy = c.framing ?? c.progress;
          if (busy && busy.inFlight === 0 && !busy.inRequestBody) drop(c);
        }
      }
      const deadline = performance.now() + graceMs;
      while (open.size > 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      clearInterval(sweep);
      const finished = open.size === 0;
      for (const c of [...open]) drop(c);
      return finished;
    },
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}
