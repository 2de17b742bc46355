/**
 * The serving side of replication: a connection on the control socket's port that opened
 * with the replication hello (`protocol.ts`) is handed here by the socket's one hook. The
 * peer must hold a key pinned on this node (checked by the API before anything else is
 * said), prove it by signing this session's transcript, and then gets an encrypted
 * request/answer stream. Every request runs through the API as the `peer` caller, so what a
 * peer may do (read and import events, nothing else) is decided there, like for any caller.
 */
import { Buffer } from "node:buffer";
import type { Api } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import type { ByteReader } from "../control_protocol/stream.ts";
import { DbxError, errorData, isDbxError } from "../errors.ts";
import { loadOrCreateIdentity, type ReplicationIdentity } from "./identity.ts";
import {
  CLIENT_HELLO_BYTES,
  decodeClientHello,
  encodeServerHello,
  encodeStatus,
  freshPart,
  isReplicationStart,
  readExactly,
  readSealedFrame,
  REPLICATION_MAGIC,
  sealFrame,
  sessionKeys,
  signTranscript,
  transcript,
  verifyTranscript,
} from "./protocol.ts";
import { type PeerRequest, REQUESTS } from "./requests.ts";

/** What the replication side of a socket needs to know (plain data: it crosses to a worker). */
export interface ReplicationSettings {
  /** The data directory holding this node's replication key pair. */
  dataDir: string;
}

/**
 * The parts of a socket connection this module drives; the socket's `Connection` has them,
 * and its listener's sweep keeps applying its timeouts through them.
 */
export interface PeerConnection {
  readonly conn: { write(p: Uint8Array): Promise<number> };
  readonly reader: ByteReader;
  phase: "hello" | "handshake" | "ready";
  busy: boolean;
  writingSince: number;
  lastWrite: number;
  draining: boolean;
  readonly closed: boolean;
  close(): void;
}

/** The hook the socket calls for every new connection. */
export interface ReplicationHook {
  /** Bytes to buffer before `claims` can decide. */
  readonly startBytes: number;
  /** Whether a connection's first bytes are a replication hello. */
  claims(first: Uint8Array): boolean;
  /** Serve a claimed connection to its end; never throws. */
  serve(c: PeerConnection, clock: () => number): Promise<void>;
}

/**
 * The replication hook for a socket serving `api`.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const hook = createReplicationHook(api, { dataDir: "/tmp/db" });
 * hook.claims(new TextEncoder().encode("DBXREPL1")); // true
 * ```
 */
export function createReplicationHook(api: Api, settings: ReplicationSettings): ReplicationHook {
  let identity: Promise<ReplicationIdentity> | undefined;
  const me = () => {
    identity ??= loadOrCreateIdentity(settings.dataDir).catch((err) => {
      identity = undefined;
      throw err;
    });
    return identity;
  };
  return {
    startBytes: REPLICATION_MAGIC.length,
    claims: isReplicationStart,
    serve: (c, clock) => servePeer(api, me, c, clock),
  };
}

async function servePeer(
  api: Api,
  me: () => Promise<ReplicationIdentity>,
  c: PeerConnection,
  clock: () => number,
): Promise<void> {
  const write = async (bytes: Uint8Array) => {
    c.writingSince = clock();
    try {
      let at = 0;
      while (at < bytes.length) at += await c.conn.write(bytes.subarray(at));
    } finally {
      c.writingSince = -1;
      c.lastWrite = clock();
    }
  };
  const refuse = (reason: string) => write(encodeStatus(reason)).catch(() => {});
  try {
    c.phase = "handshake";
    let hello;
    try {
      hello = decodeClientHello(await readExactly(c.reader, CLIENT_HELLO_BYTES, "the peer"));
    } catch (err) {
      return await refuse(isDbxError(err) ? err.message : "malformed replication hello");
    }
    const caller: Caller = {
      kind: "peer",
      public_key: Buffer.from(hello.publicKey).toString("base64"),
    };
    // The pinned-key check comes first: an unknown key learns nothing else.
    try {
      await api.call(caller, "describeCaller", {});
    } catch (err) {
      return await refuse(isDbxError(err) ? err.message : "the peer could not be checked");
    }
    let identity: ReplicationIdentity;
    try {
      identity = await me();
    } catch {
      return await refuse("this node's replication key cannot be read");
    }
    const part = freshPart(identity.publicKey);
    const t = transcript(hello, part);
    await write(encodeServerHello(part, signTranscript("server", t, identity.secretKey)));
    const signature = await readExactly(c.reader, 64, "the peer");
    if (!verifyTranscript("client", t, signature, hello.publicKey)) {
      return await refuse("the peer's signature does not verify for this session");
    }
    await write(encodeStatus());
    const keys = sessionKeys("server", part.ephemeralSecret, hello.ephemeral, t);
    c.phase = "ready";

    while (!c.closed && !c.draining) {
      const message = await readSealedFrame(c.reader, keys.receive);
      if (message === null) return;
      c.busy = true;
      try {
        const answer = await answerRequest(api, caller, message);
        await write(sealFrame(keys.send, answer));
      } finally {
        c.busy = false;
      }
    }
  } catch (err) {
    if (
      !c.closed && !isDbxError(err) && !(err instanceof Deno.errors.BadResource) &&
      !(err instanceof Deno.errors.ConnectionReset) && !(err instanceof Deno.errors.BrokenPipe)
    ) {
      console.error(`warning: a replication connection failed: ${(err as Error)?.message ?? err}`);
    }
  } finally {
    c.close();
  }
}

/** Run one request for the peer; errors travel as plain data (the session goes on). */
async function answerRequest(api: Api, caller: Caller, message: unknown): Promise<unknown> {
  const request = message as Partial<PeerRequest> | null;
  const id = typeof request?.id === "number" ? request.id : 0;
  try {
    const op = request?.op;
    if (typeof op !== "string" || !Object.hasOwn(REQUESTS, op)) {
      throw new DbxError("invalid_input", `unknown replication request ${JSON.stringify(op)}`);
    }
    const result = await REQUESTS[op as keyof typeof REQUESTS](api, caller, request?.input);
    return { id, ok: true, result };
  } catch (err) {
    return { id, ok: false, error: errorData(err) };
  }
}
