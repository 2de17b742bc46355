/**
 * The control protocol byte by byte, for the suites that send what no client would: a raw
 * session (hello, Noise unless plaintext, then frames of any bytes), Cap'n Proto messages
 * built word by word (pointers of every kind, segment tables that lie), and a recording
 * proxy that shows what a client put on the wire.
 */
import {
  CONTROL_PROTOCOL_VERSION,
  decodeHelloResponse,
  decodeResponse,
  encodeHello,
  type HelloResponseData,
  type ResponseData,
} from "../../src/control_protocol/messages.ts";
import { controlPsk, noiseInitiator, type NoiseSession } from "../../src/control_protocol/noise.ts";
import {
  ByteReader,
  frame,
  readFrame,
  readStreamMessage,
  writeAll,
} from "../../src/control_protocol/stream.ts";

/** What a read of a closed connection ends with: a clean end or a reset. */
export type Ended = "closed";

/** A raw TCP connection to the control socket. */
export class RawConnection {
  readonly conn: Deno.TcpConn;
  readonly reader: ByteReader;
  session: NoiseSession | undefined;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.reader = new ByteReader(conn);
  }

  static async open(port: number): Promise<RawConnection> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new RawConnection(conn);
  }

  /** Write bytes as they are. */
  async write(bytes: Uint8Array): Promise<void> {
    await writeAll(this.conn, bytes);
  }

  /** Send the hello; return the server's answer ("closed" when it hung up instead). */
  async hello(
    token: string,
    options: { noNoise?: boolean; tenantId?: string; version?: number } = {},
  ): Promise<HelloResponseData | Ended> {
    await this.write(encodeHello({
      protocolVersion: options.version ?? CONTROL_PROTOCOL_VERSION,
      token,
      tenantId: options.tenantId ?? "",
      noNoise: options.noNoise === true,
    }));
    return await this.helloResponse();
  }

  /** Read an unframed hello answer. */
  async helloResponse(): Promise<HelloResponseData | Ended> {
    try {
      const bytes = await readStreamMessage(this.reader, 64 << 10);
      return bytes === null ? "closed" : decodeHelloResponse(bytes);
    } catch (err) {
      if (isReset(err)) return "closed";
      throw err;
    }
  }

  /** The Noise handshake after an accepted hello that did not agree on plaintext. */
  async noise(token: string): Promise<void> {
    const initiator = noiseInitiator({ psk: controlPsk(token) });
    await this.write(frame(initiator.writeFirst()));
    const second = await readFrame(this.reader, 65_535);
    if (second === null) throw new Error("the server closed the connection in the handshake");
    this.session = initiator.readSecond(second);
  }

  /** Send one message as a frame (encrypted when the session is). */
  async send(message: Uint8Array): Promise<void> {
    await this.write(frame(this.session ? this.session.send.encrypt(message) : message));
  }

  /** The next response, or "closed" when the server ended the connection. */
  async receive(): Promise<ResponseData | Ended> {
    let body: Uint8Array | null;
    try {
      body = await readFrame(this.reader, 16 << 20);
    } catch (err) {
      if (isReset(err)) return "closed";
      throw err;
    }
    if (body === null) return "closed";
    return decodeResponse(this.session ? this.session.receive.decrypt(body) : body);
  }

  /** Send one message and read its answer. */
  async exchange(message: Uint8Array): Promise<ResponseData | Ended> {
    await this.send(message);
    return await this.receive();
  }

  /** Read until the server closes; true when it did (false: it sent a frame instead). */
  async ended(): Promise<boolean> {
    try {
      return !(await this.reader.fill(1));
    } catch (err) {
      if (isReset(err)) return true;
      throw err;
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed already */ }
  }
}

/** A read that failed because the peer reset or the stream stopped inside a message. */
function isReset(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BrokenPipe ||
    (err as { details?: { reason?: string } })?.details?.reason === "truncated";
}

/**
 * A session ready for requests: hello accepted, Noise done unless plaintext was agreed.
 *
 * @example
 * ```ts
 * const raw = await rawSession(port, token, { plaintext: true });
 * ```
 */
export async function rawSession(
  port: number,
  token: string,
  options: { plaintext?: boolean } = {},
): Promise<RawConnection> {
  const raw = await RawConnection.open(port);
  const answer = await raw.hello(token, { noNoise: options.plaintext === true });
  if (answer === "closed" || !answer.accepted) {
    raw.close();
    throw new Error(`hello refused: ${answer === "closed" ? "closed" : answer.message}`);
  }
  if (options.plaintext === true && !answer.noNoise) {
    raw.close();
    throw new Error("the server did not agree on plaintext");
  }
  if (!answer.noNoise) await raw.noise(token);
  return raw;
}

// ---- Cap'n Proto, word by word ----

/** One 64-bit word from its two 32-bit halves (little-endian). */
function word(low: number, high: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, low >>> 0, true);
  view.setUint32(4, high >>> 0, true);
  return out;
}

/** A struct pointer: `offset` words after the pointer's end, with its section sizes. */
export function structPointer(offset: number, dataWords: number, pointers: number): Uint8Array {
  return word((offset << 2) | 0, dataWords | (pointers << 16));
}

/** Element sizes of a list pointer. */
export const ELEMENT = { byte: 2, pointer: 6, composite: 7 } as const;

/** A list pointer: `count` elements (words, for composite lists) `offset` words on. */
export function listPointer(offset: number, elementSize: number, count: number): Uint8Array {
  return word((offset << 2) | 1, elementSize | (count << 3));
}

/** A far pointer to a landing pad at word `offset` of segment `segment`. */
export function farPointer(offset: number, segment: number, double = false): Uint8Array {
  return word((offset << 3) | (double ? 4 : 0) | 2, segment);
}

/** The tag word of a composite list: `count` elements of the given struct sizes. */
export function compositeTag(count: number, dataWords: number, pointers: number): Uint8Array {
  return word(count << 2, dataWords | (pointers << 16));
}

/** A data word with a u64 (bytes 0–7). */
export function u64Word(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return out;
}

/** A data word with a u16 at byte 0 (a union tag at bytes 8–9 is in the second word). */
export function u16Word(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setUint16(0, value, true);
  return out;
}

export const NULL_WORD: Uint8Array = new Uint8Array(8);

/** A text's bytes, NUL-terminated and padded to whole words; its list pointer counts the NUL. */
export function textWords(text: string): { words: Uint8Array; count: number } {
  const bytes = new TextEncoder().encode(text);
  const count = bytes.length + 1;
  const words = new Uint8Array(Math.ceil(count / 8) * 8);
  words.set(bytes, 0);
  return { words, count };
}

/** Concatenate words into one segment. */
export function segment(...parts: Uint8Array[]): Uint8Array {
  const size = parts.reduce((n, p) => n + p.length, 0);
  if (size % 8 !== 0) throw new Error("a segment is whole words");
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A stream message: the segment table, then the segments. `claim` overrides the word
 * counts the table gives (to lie about them).
 */
export function message(segments: Uint8Array[], claim?: number[]): Uint8Array {
  const count = claim?.length ?? segments.length;
  const table = new Uint8Array(4 + count * 4 + (count % 2 === 0 ? 4 : 0));
  const view = new DataView(table.buffer);
  view.setUint32(0, count - 1, true);
  for (let i = 0; i < count; i++) {
    view.setUint32(4 + i * 4, claim?.[i] ?? segments[i].length / 8, true);
  }
  return segment(table, ...segments);
}

/** Request union tags (the server schema). */
export const TAG = {
  listAggregates: 0,
  getAggregate: 1,
  listEvents: 2,
  appendEvent: 3,
  selectAggregate: 6,
  createAggregate: 7,
} as const;

/**
 * A well-formed getAggregate request, by hand: root ControlRequest {2 data words, 1 ptr} →
 * GetAggregateRequest {1 data word, 3 ptrs: type, id, token}, texts after it.
 *
 * @example
 * ```ts
 * const bytes = getAggregateMessage(1n, "order", "o-1");
 * ```
 */
export function getAggregateMessage(id: bigint, type: string, aggregateId: string): Uint8Array {
  const t = textWords(type);
  const a = textWords(aggregateId);
  // Words: 0 root ptr, 1–2 data, 3 member ptr, 4 member data, 5–7 member ptrs, then texts.
  return message([
    segment(
      structPointer(0, 2, 1),
      u64Word(id),
      u16Word(TAG.getAggregate),
      structPointer(0, 1, 3),
      NULL_WORD,
      listPointer(2, ELEMENT.byte, t.count), // at word 5: the type text starts at word 8
      listPointer(1 + t.words.length / 8, ELEMENT.byte, a.count), // at word 6
      NULL_WORD, // no token: the session's
      t.words,
      a.words,
    ),
  ]);
}

/**
 * A recording TCP proxy in front of `targetPort`: what clients send through it is kept, so
 * a test can tell plaintext from ciphertext on the wire.
 */
export function recordingProxy(targetPort: number): {
  port: number;
  /** Everything clients sent so far, as one latin1 string (searchable). */
  sent(): string;
  close(): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const chunks: Uint8Array[] = [];
  const latin1 = new TextDecoder("latin1");
  const pipes: Promise<void>[] = [];
  const conns: Deno.Conn[] = [];
  const pipe = async (from: Deno.Conn, to: Deno.Conn, record: boolean) => {
    const buffer = new Uint8Array(64 << 10);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        if (record) chunks.push(buffer.slice(0, n));
        await writeAll(to, buffer.subarray(0, n));
      }
    } catch { /* either side went away */ }
    await to.closeWrite().catch(() => {}); // closed already
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      conns.push(client, server);
      pipes.push(pipe(client, server, true), pipe(server, client, false));
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    sent: () => chunks.map((c) => latin1.decode(c)).join(""),
    async close() {
      listener.close();
      await accepting;
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.all(pipes);
    },
  };
}
