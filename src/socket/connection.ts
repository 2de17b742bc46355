/**
 * One connection of the control socket, start to end: the hello (refused with a reason, or
 * accepted for a token the API knows), the Noise handshake unless both sides agreed on
 * plaintext, then requests answered one at a time, each answer in one write.
 *
 * Bad input never reaches past this connection: a malformed request is answered with a
 * ControlError and the connection goes on (its framing is intact); an oversized frame, a
 * message that does not decrypt or a truncated stream ends the connection (after an error
 * frame where one can still be sent). The listener's sweep (server.ts) closes connections
 * whose hello, handshake or frame takes too long, or that sit idle.
 */
import {
  CONTROL_PROTOCOL_VERSION,
  decodeHello,
  decodeRequest,
  encodeHelloResponse,
  encodeResponse,
  type HelloData,
  type ResponseBody,
} from "../control_protocol/messages.ts";
import {
  controlPsk,
  MAX_NOISE_MESSAGE,
  NOISE_TAG_BYTES,
  noiseResponder,
  type NoiseSession,
} from "../control_protocol/noise.ts";
import {
  ByteReader,
  frame,
  readFrame,
  readStreamMessage,
  writeAll,
} from "../control_protocol/stream.ts";
import { DbxError, isDbxError } from "../errors.ts";
import type { Dispatch } from "./dispatch.ts";
import type { ReplicationHook } from "../replication/server.ts";
import { controlError } from "./errors.ts";
import type { TransportConn } from "./transport.ts";

/** The largest hello accepted (a token is a few hundred bytes). */
export const MAX_HELLO_BYTES = 16 << 10;

/** What a connection needs from its listener. */
export interface ConnectionOptions {
  dispatch: Dispatch;
  /** Resolves when the API accepts the token; DbxError with the reason otherwise. */
  authenticate(token: string): Promise<void>;
  /** Plaintext sessions are allowed when the client asks (`[socket] allow_plaintext`). */
  allowPlaintext: boolean;
  /** Largest frame, either way (a Noise message is at most 65,535 bytes whatever this says). */
  maxFrameBytes: number;
  /** Replication hook (src/replication/): connections opening with its hello are its own. */
  replication?: ReplicationHook;
}

/** A connection's state, as the listener's sweep sees it. */
export class Connection {
  readonly conn: TransportConn;
  readonly reader: ByteReader;
  readonly acceptedAt: number;
  phase: "hello" | "handshake" | "ready" = "hello";
  /** A request is being answered. */
  busy = false;
  /** When the write in progress started (-1: none). */
  writingSince = -1;
  lastWrite: number;
  /** Shutdown: close once the answer in progress is out. */
  draining = false;
  closed = false;

  constructor(conn: TransportConn, clock: () => number) {
    this.conn = conn;
    this.reader = new ByteReader(conn, clock);
    this.acceptedAt = clock();
    this.lastWrite = this.acceptedAt;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* closed already */ }
  }
}

/** Why a hello is refused, or undefined when it may go on to the token check. */
function helloProblem(hello: HelloData): string | undefined {
  if (hello.protocolVersion !== CONTROL_PROTOCOL_VERSION) {
    return `unsupported control protocol version ${hello.protocolVersion} (this server speaks ${CONTROL_PROTOCOL_VERSION})`;
  }
  if (hello.token.trim() === "") return "missing control token";
  const tenant = hello.tenantId.trim();
  if (tenant !== "" && tenant !== "default") {
    return "this server is single-tenant: tenantId must be empty or 'default'";
  }
  return undefined;
}

/**
 * Serve one accepted connection until it ends. Never throws: every failure ends this
 * connection only.
 */
export async function serveConnection(
  c: Connection,
  options: ConnectionOptions,
  clock: () => number,
): Promise<void> {
  const write = async (bytes: Uint8Array) => {
    c.writingSince = clock();
    try {
      await writeAll(c.conn, bytes);
    } finally {
      c.writingSince = -1;
      c.lastWrite = clock();
    }
  };
  const refuse = async (message: string) => {
    await write(encodeHelloResponse({ accepted: false, message, noNoise: false })).catch(() => {});
  };
  try {
    // Replication hook: a replication peer's first bytes are never a control hello's.
    const peers = options.replication;
    if (peers && await c.reader.fill(peers.startBytes) && peers.claims(c.reader.peek())) {
      return await peers.serve(c, clock);
    }
    // 1. The hello.
    let hello: HelloData;
    try {
      const bytes = await readStreamMessage(c.reader, MAX_HELLO_BYTES);
      if (bytes === null) return;
      hello = decodeHello(bytes);
    } catch (err) {
      if (c.closed) return;
      return await refuse(`malformed control hello: ${(err as Error).message}`);
    }
    const problem = helloProblem(hello);
    if (problem) return await refuse(problem);
    const token = hello.token.trim();
    try {
      await options.authenticate(token);
    } catch (err) {
      const reason = isDbxError(err) ? err.message : "the token could not be checked";
      return await refuse(`invalid control token: ${reason}`);
    }
    const plaintext = hello.noNoise && options.allowPlaintext;
    await write(encodeHelloResponse({ accepted: true, message: "", noNoise: plaintext }));

    // 2. Noise, keyed by the token (the client proves it holds it).
    let session: NoiseSession | undefined;
    if (!plaintext) {
      c.phase = "handshake";
      const first = await readFrame(c.reader, MAX_NOISE_MESSAGE);
      if (first === null) return;
      const responder = noiseResponder({ psk: controlPsk(token) });
      responder.readFirst(first);
      await write(frame(responder.writeSecond()));
      session = responder.finish();
    }
    c.phase = "ready";

    // 3. Requests, one at a time.
    const maxFrame = session
      ? Math.min(options.maxFrameBytes, MAX_NOISE_MESSAGE)
      : options.maxFrameBytes;
    const maxPlain = session ? maxFrame - NOISE_TAG_BYTES : maxFrame;
    const send = async (id: bigint, body: ResponseBody) => {
      let bytes = encodeResponse({ id, body });
      if (bytes.length > maxPlain) {
        bytes = encodeResponse({
          id,
          body: {
            kind: "error",
            ...controlError(
              new DbxError(
                "too_large",
                `the answer (${bytes.length} bytes) is larger than a socket frame ` +
                  `(${maxPlain} bytes)`,
              ),
            ),
          },
        });
      }
      await write(frame(session ? session.send.encrypt(bytes) : bytes));
    };
    while (!c.closed && !c.draining) {
      let body: Uint8Array | null;
      try {
        body = await readFrame(c.reader, maxFrame);
      } catch (err) {
        // Too large: say so, then close (the rest of the frame is never read).
        if (isDbxError(err, "too_large") && !c.closed) {
          await send(0n, { kind: "error", ...controlError(err) }).catch(() => {});
        }
        return;
      }
      if (body === null) return;
      c.busy = true;
      try {
        const plain = session ? session.receive.decrypt(body) : body;
        let request;
        try {
          request = decodeRequest(plain);
        } catch (err) {
          const id = isDbxError(err) && typeof err.details?.id === "string"
            ? BigInt(err.details.id)
            : 0n;
          await send(id, { kind: "error", ...controlError(err) });
          continue;
        }
        await send(request.id, await options.dispatch(request.body, token));
      } finally {
        c.busy = false;
      }
    }
  } catch (err) {
    // A reset, a closed socket, a Noise failure: this connection ends, nothing else does.
    if (
      !c.closed && !isDbxError(err) && !(err instanceof Deno.errors.BadResource) &&
      !(err instanceof Deno.errors.ConnectionReset) && !(err instanceof Deno.errors.BrokenPipe) &&
      !(err instanceof Deno.errors.Interrupted)
    ) {
      console.error(`warning: a socket connection failed: ${(err as Error)?.message ?? err}`);
    }
  } finally {
    c.close();
  }
}
