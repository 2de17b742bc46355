/**
 * The dialling side of replication: connect to a remote's socket, run the handshake
 * (`protocol.ts`) against the remote's pinned key, and offer the remote as a
 * `ReplicationSide` over the encrypted session. Nothing but the handshake's public parts is
 * sent before the remote proved it holds the pinned key.
 */
import { Buffer } from "node:buffer";
import { ByteReader, writeAll } from "../control_protocol/stream.ts";
import { DbxError, fromErrorData, isDbxError } from "../errors.ts";
import type { ReplicationIdentity } from "./identity.ts";
import {
  decodeServerHello,
  encodeClientHello,
  freshPart,
  readExactly,
  readSealedFrame,
  readStatus,
  refused,
  sameKey,
  sealFrame,
  SERVER_HELLO_BYTES,
  sessionKeys,
  signTranscript,
  transcript,
  verifyTranscript,
} from "./protocol.ts";
import type { PeerRequest, ReplicationSide } from "./requests.ts";

/** How to reach and trust a remote. */
export interface PeerTarget {
  /** The remote's name, for messages. */
  name: string;
  hostname: string;
  port: number;
  /** The remote's pinned Ed25519 public key (base64). */
  publicKey: string;
  /** Longest the connection and handshake, and then each request, may take (default 60 s). */
  timeoutMs?: number;
}

/** An open session with a remote. */
export interface PeerSession extends ReplicationSide {
  close(): void;
}

/**
 * Connect to a remote and authenticate both sides.
 *
 * @example
 * ```ts
 * import type { ReplicationIdentity } from "./identity.ts";
 * declare const me: ReplicationIdentity;
 * const peer = await openPeerSession(me, {
 *   name: "standby", hostname: "127.0.0.1", port: 6363,
 *   publicKey: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
 * });
 * const page = await peer.listHeads({});
 * peer.close();
 * ```
 */
export async function openPeerSession(
  me: ReplicationIdentity,
  target: PeerTarget,
): Promise<PeerSession> {
  const who = `remote ${target.name}`;
  const timeoutMs = target.timeoutMs ?? 60_000;
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: target.hostname, port: target.port });
  } catch (err) {
    throw new DbxError(
      "unavailable",
      `cannot connect to ${who} at ${target.hostname}:${target.port}: ${(err as Error).message}`,
    );
  }
  conn.setNoDelay(true);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* closed already */ }
  };
  // One timer at a time: the handshake, then each request. Expiry closes the connection.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      close();
    }, timeoutMs);
  };
  const disarm = () => clearTimeout(timer);
  const failure = (err: unknown): unknown => {
    if (timedOut) {
      return new DbxError("unavailable", `${who} did not answer within ${timeoutMs} ms`);
    }
    if (isDbxError(err)) return err;
    return new DbxError(
      "unavailable",
      `the connection to ${who} failed: ${(err as Error).message}`,
    );
  };

  const reader = new ByteReader(conn);
  let keys;
  arm();
  try {
    const pinned = new Uint8Array(Buffer.from(target.publicKey, "base64"));
    const part = freshPart(me.publicKey);
    await writeAll(conn, encodeClientHello(part));
    await readStatus(reader, who);
    const server = decodeServerHello(await readExactly(reader, SERVER_HELLO_BYTES - 1, who));
    if (!sameKey(server.part.publicKey, pinned)) {
      throw refused(
        `${who} presented the key ${Buffer.from(server.part.publicKey).toString("base64")}, ` +
          `not its pinned key ${target.publicKey}; nothing was sent`,
      );
    }
    const t = transcript(part, server.part);
    if (!verifyTranscript("server", t, server.signature, server.part.publicKey)) {
      throw refused(
        `${who} did not prove it holds its pinned key (bad signature); nothing was sent`,
      );
    }
    await writeAll(conn, signTranscript("client", t, me.secretKey));
    await readStatus(reader, who);
    keys = sessionKeys("client", part.ephemeralSecret, server.part.ephemeral, t);
  } catch (err) {
    disarm();
    close();
    throw failure(err);
  }
  disarm();

  // Requests are pipelined: each is sealed and written as soon as it is made (frames go out
  // in nonce order), and the answers, which the remote sends in the same order, are matched
  // to them by one reader. So the remote always has the next request at hand.
  let nextId = 1;
  const waiting: {
    id: number;
    resolve: (result: unknown) => void;
    reject: (err: unknown) => void;
  }[] = [];
  let reading = false;
  let written: Promise<void> = Promise.resolve();
  const failAll = (err: unknown) => {
    close();
    disarm();
    const error = failure(err);
    for (const w of waiting.splice(0)) w.reject(error);
  };
  const readAnswers = async () => {
    reading = true;
    try {
      while (waiting.length > 0) {
        const answer = await readSealedFrame(reader, keys.receive) as
          | { id: number; ok: true; result: unknown }
          | { id: number; ok: false; error: unknown }
          | null;
        if (answer === null) throw new DbxError("unavailable", `${who} closed the session`);
        if (answer.id !== waiting[0].id) {
          throw new DbxError("unavailable", `${who} answered out of order`);
        }
        const { resolve, reject } = waiting.shift()!;
        // Each answer restarts the clock for the next one.
        if (waiting.length > 0) arm();
        else disarm();
        if (answer.ok) resolve(answer.result);
        // An error the remote answered keeps the session open.
        else reject(fromErrorData(answer.error as never));
      }
    } catch (err) {
      failAll(err);
    } finally {
      reading = false;
    }
  };
  const request = (op: PeerRequest["op"], input: unknown): Promise<unknown> => {
    if (closed) {
      return Promise.reject(new DbxError("unavailable", `the session with ${who} is closed`));
    }
    const id = nextId++;
    let frame: Uint8Array;
    try {
      frame = sealFrame(keys.send, { id, op, input });
    } catch (err) {
      failAll(err);
      return Promise.reject(failure(err));
    }
    return new Promise((resolve, reject) => {
      waiting.push({ id, resolve, reject });
      if (waiting.length === 1) arm();
      written = written.then(() => writeAll(conn, frame)).catch(failAll);
      if (!reading) readAnswers();
    });
  };

  return {
    listHeads: (input) => request("list", input) as ReturnType<ReplicationSide["listHeads"]>,
    heads: (refs) => request("heads", { aggregates: refs }) as ReturnType<ReplicationSide["heads"]>,
    events: (input) => request("events", input) as ReturnType<ReplicationSide["events"]>,
    importEvents: (input) =>
      request("import", input) as ReturnType<ReplicationSide["importEvents"]>,
    schemas: () => request("schemas", {}) as ReturnType<ReplicationSide["schemas"]>,
    importSchemas: (schemas) =>
      request("import_schemas", { schemas }) as ReturnType<ReplicationSide["importSchemas"]>,
    close: () => {
      disarm();
      close();
    },
  };
}
