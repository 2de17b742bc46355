/**
 * Reading the control protocol's byte stream: the unframed hello (a Cap'n Proto stream
 * message, sized by its own segment table) and the frames after it (a 4-byte big-endian
 * length, then that many bytes). Sizes are checked before anything is buffered, so a peer
 * can never make a reader hold more than the limit plus one read.
 */
import { DbxError } from "../errors.ts";
import { streamMessageLength } from "./messages.ts";

/** Anything with Deno.Conn's `read`. */
export interface ByteSource {
  read(buffer: Uint8Array): Promise<number | null>;
}

const READ_CHUNK = 16 << 10;

/**
 * A buffered reader over a byte source. `partialSince` says since when a message has been
 * arriving without being complete (-1: nothing is waiting), for the callers' timeouts.
 *
 * @example
 * ```ts
 * declare const conn: Deno.Conn;
 * const reader = new ByteReader(conn);
 * const body = await readFrame(reader, 65_535); // null at a clean end of stream
 * ```
 */
export class ByteReader {
  readonly #source: ByteSource;
  readonly #clock: () => number;
  #buffer = new Uint8Array(READ_CHUNK);
  #start = 0;
  #end = 0;
  /** When the bytes buffered now started arriving (-1: none are). */
  partialSince = -1;
  /** When the last bytes arrived. */
  lastRead: number;

  constructor(source: ByteSource, clock: () => number = () => performance.now()) {
    this.#source = source;
    this.#clock = clock;
    this.lastRead = clock();
  }

  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The bytes buffered now (a view; valid until the next read). */
  peek(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end);
  }

  /**
   * Buffer at least `n` bytes. False at the end of the stream with nothing buffered; a
   * stream that ends inside a message throws DbxError "invalid_input" (truncated).
   */
  async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.#buffer.length - this.#start < n || this.#end === this.#buffer.length) {
        // Move what is buffered to the front, growing only to what `n` needs.
        if (n <= this.#buffer.length) {
          this.#buffer.copyWithin(0, this.#start, this.#end);
        } else {
          const next = new Uint8Array(n + READ_CHUNK);
          next.set(this.#buffer.subarray(this.#start, this.#end), 0);
          this.#buffer = next;
        }
        this.#end -= this.#start;
        this.#start = 0;
      }
      const got = await this.#source.read(this.#buffer.subarray(this.#end));
      if (got === null) {
        if (this.buffered === 0) return false;
        throw new DbxError(
          "invalid_input",
          `the stream ended inside a message (${this.buffered} of ${n} bytes)`,
          { reason: "truncated" },
        );
      }
      if (got > 0 && this.buffered === 0) this.partialSince = this.#clock();
      this.#end += got;
      this.lastRead = this.#clock();
    }
    return true;
  }

  /** Take `n` buffered bytes (a copy). */
  take(n: number): Uint8Array {
    if (n > this.buffered) throw new DbxError("internal", "take past the buffered bytes");
    const out = this.#buffer.slice(this.#start, this.#start + n);
    this.#start += n;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      this.partialSince = -1;
      // An idle connection holds one small buffer, whatever its largest frame was.
      if (this.#buffer.length > 4 * READ_CHUNK) this.#buffer = new Uint8Array(READ_CHUNK);
    } else this.partialSince = this.#clock();
    return out;
  }
}

/**
 * Read one unframed Cap'n Proto stream message (the hello and its answer), at most
 * `maxBytes`; null at a clean end of stream.
 */
export async function readStreamMessage(
  reader: ByteReader,
  maxBytes: number,
): Promise<Uint8Array | null> {
  if (!(await reader.fill(4))) return null;
  for (;;) {
    const length = streamMessageLength(reader.peek(), maxBytes);
    if (length !== undefined) {
      await reader.fill(length);
      return reader.take(length);
    }
    await reader.fill(reader.buffered + 4);
  }
}

/**
 * Read one frame's body, at most `maxBytes`; null at a clean end of stream. A larger frame
 * throws DbxError "too_large" with `details.length` before any of its body is read.
 */
export async function readFrame(reader: ByteReader, maxBytes: number): Promise<Uint8Array | null> {
  if (!(await reader.fill(4))) return null;
  const head = reader.peek();
  const length = ((head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) >>> 0;
  if (length > maxBytes) {
    throw new DbxError(
      "too_large",
      `a frame of ${length} bytes is larger than the limit of ${maxBytes} bytes`,
      { length, limit: maxBytes },
    );
  }
  await reader.fill(4 + length);
  reader.take(4);
  return reader.take(length);
}

/**
 * One frame: the 4-byte big-endian length and the body in one buffer (one write).
 *
 * @example
 * ```ts
 * frame(new Uint8Array([7, 8])); // Uint8Array [0, 0, 0, 2, 7, 8]
 * ```
 */
export function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, 4);
  return out;
}

/** Write every byte (Deno's `write` may take part of a buffer). */
export async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}
