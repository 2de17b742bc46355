/**
 * A client of the control protocol: connect, hello, Noise (unless both sides agree on
 * plaintext), then one request at a time. `dbx --remote` uses it, and so do the tests that
 * need to speak the protocol byte by byte.
 */
import { DbxError } from "../errors.ts";
import {
  CONTROL_PROTOCOL_VERSION,
  decodeHelloResponse,
  decodeResponse,
  encodeHello,
  encodeRequest,
  type RequestBody,
  type ResponseBody,
} from "./messages.ts";
import { controlPsk, MAX_NOISE_MESSAGE, noiseInitiator, type NoiseSession } from "./noise.ts";
import { ByteReader, frame, readFrame, readStreamMessage, writeAll } from "./stream.ts";

/** The default port of the control socket. */
export const DEFAULT_CONTROL_PORT = 6363;
/** Largest frame this client accepts from a server in plaintext (Noise caps at 64 KiB). */
const MAX_PLAIN_FRAME = 16 << 20;
const MAX_HELLO_RESPONSE = 64 << 10;

export interface ControlClientOptions {
  hostname: string;
  port: number;
  token: string;
  tenantId?: string;
  /** Ask for plaintext (the server decides; it may answer with Noise anyway). */
  noNoise?: boolean;
  /** How long connecting, the handshake and each answer may take (default 60 s). */
  timeoutMs?: number;
}

/**
 * A connected session.
 *
 * @example
 * ```ts
 * const client = await ControlClient.connect({ hostname: "127.0.0.1", port: 6363, token: "eyJ…" });
 * const answer = await client.request({ kind: "runCommand", args: ["aggregate", "list"], token: "" });
 * client.close();
 * ```
 */
export class ControlClient {
  readonly #conn: Deno.TcpConn;
  readonly #reader: ByteReader;
  readonly #session: NoiseSession | undefined;
  readonly #timeoutMs: number;
  #nextId = 1n;
  #closed = false;

  private constructor(
    conn: Deno.TcpConn,
    reader: ByteReader,
    session: NoiseSession | undefined,
    timeoutMs: number,
  ) {
    this.#conn = conn;
    this.#reader = reader;
    this.#session = session;
    this.#timeoutMs = timeoutMs;
  }

  /** True when the session is encrypted. */
  get encrypted(): boolean {
    return this.#session !== undefined;
  }

  /** Connect and handshake; DbxError "unauthorized" when the server refuses the hello. */
  static async connect(options: ControlClientOptions): Promise<ControlClient> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    let conn: Deno.TcpConn;
    try {
      conn = await within(
        timeoutMs,
        Deno.connect({ hostname: options.hostname, port: options.port }),
        () => {},
      );
    } catch (err) {
      if (err instanceof DbxError) throw err;
      throw new DbxError(
        "unavailable",
        `cannot connect to ${options.hostname}:${options.port}: ${(err as Error).message}`,
      );
    }
    conn.setNoDelay(true);
    const reader = new ByteReader(conn);
    const fail = () => {
      try {
        conn.close();
      } catch { /* closed */ }
    };
    try {
      const session = await within(timeoutMs, handshake(conn, reader, options), fail);
      return new ControlClient(conn, reader, session, timeoutMs);
    } catch (err) {
      fail();
      throw err;
    }
  }

  /** Send one request and wait for its answer. */
  async request(body: RequestBody): Promise<ResponseBody> {
    if (this.#closed) throw new DbxError("unavailable", "the control connection is closed");
    const id = this.#nextId++;
    let message = encodeRequest({ id, body });
    if (this.#session) {
      if (message.length + 16 > MAX_NOISE_MESSAGE) {
        throw new DbxError("too_large", `the request is larger than a Noise message can be`);
      }
      message = this.#session.send.encrypt(message);
    }
    await writeAll(this.#conn, frame(message));
    const reply = await within(
      this.#timeoutMs,
      readFrame(this.#reader, this.#session ? MAX_NOISE_MESSAGE : MAX_PLAIN_FRAME),
      () => this.close(),
    );
    if (reply === null) throw new DbxError("unavailable", "the server closed the connection");
    const plain = this.#session ? this.#session.receive.decrypt(reply) : reply;
    const response = decodeResponse(plain);
    if (response.id !== id && !(response.body.kind === "error" && response.id === 0n)) {
      throw new DbxError("internal", `the answer has id ${response.id}, the request ${id}`);
    }
    return response.body;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

async function handshake(
  conn: Deno.TcpConn,
  reader: ByteReader,
  options: ControlClientOptions,
): Promise<NoiseSession | undefined> {
  await writeAll(
    conn,
    encodeHello({
      protocolVersion: CONTROL_PROTOCOL_VERSION,
      token: options.token,
      tenantId: options.tenantId ?? "",
      noNoise: options.noNoise === true,
    }),
  );
  const bytes = await readStreamMessage(reader, MAX_HELLO_RESPONSE);
  if (bytes === null) throw new DbxError("unavailable", "the server closed the connection");
  const answer = decodeHelloResponse(bytes);
  if (!answer.accepted) {
    throw new DbxError("unauthorized", `control handshake rejected: ${answer.message}`);
  }
  if (answer.noNoise) return undefined;
  const initiator = noiseInitiator({ psk: controlPsk(options.token) });
  await writeAll(conn, frame(initiator.writeFirst()));
  const second = await readFrame(reader, MAX_NOISE_MESSAGE);
  if (second === null) throw new DbxError("unavailable", "the server closed the connection");
  const { send, receive, handshakeHash } = initiator.readSecond(second);
  return { send, receive, handshakeHash };
}

/** `promise`, or DbxError "unavailable" after `ms` (then `onTimeout` runs). */
async function within<T>(ms: number, promise: Promise<T>, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new DbxError("unavailable", `no answer from the server within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
