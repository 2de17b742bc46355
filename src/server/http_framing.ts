/**
 * Where the HTTP/1.x messages are in a connection's bytes, so the gate can tell a head that
 * arrives too slowly, and a connection that is idle (no request or response in flight) from
 * one that is busy, without parsing anything else: heads are followed up to their blank line,
 * bodies are skipped by Content-Length or chunked framing (a response without either lasts
 * until the connection closes). A connection that opens with the HTTP/2 preface, or switches
 * protocols, is not followed. Bytes are scanned as they are; only a completed head's status
 * and framing headers are looked at.
 */
import { concatBytes } from "../util/concat_bytes.ts";

/** What the bytes seen so far in one direction mean. */
export type FramingState =
  /** Between messages, or inside a head. */
  | "head"
  /** Inside a body. */
  | "body"
  /** HTTP/2 with prior knowledge, or a switched protocol: not followed. */
  | "other"
  /** Not HTTP/1.x framing this follows (the server will refuse it), or a head too large. */
  | "unknown";

const CR = 0x0d;
const LF = 0x0a;
/** "PRI * HTTP/2.0\r\n", the start of the HTTP/2 connection preface. */
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n");
const HEAD_METHOD = new TextEncoder().encode("HEAD ");
const decoder = new TextDecoder("latin1");

/** Follows one direction of a connection (`request` or `response` messages). */
class MessageFraming {
  state: FramingState = "head";
  /** Heads completed so far. */
  heads = 0;
  /** Messages completed so far (head and body). */
  completed = 0;
  /** Set when a head grew past `maxHeadBytes`. */
  tooLarge = false;
  readonly maxHeadBytes: number;
  readonly #role: "request" | "response";
  #partial: Uint8Array[] = [];
  #headBytes = 0;
  #headStarted = false;
  /** How much of CR LF CR LF has been matched at the end of what was read. */
  #matched = 0;
  #first = true;
  /** Body bytes still to skip (Content-Length); -1 reads until the connection closes. */
  #remaining = 0;
  #chunked = false;
  #line: number[] = [];
  #chunkData = 0;
  #trailers = false;
  /** Requests only: whether each request seen was a HEAD (its response has no body). */
  readonly headRequests: boolean[] = [];
  /** Responses only: the requests' HEAD flags, in order (shared with the request side). */
  #expectations: boolean[] | undefined;

  constructor(role: "request" | "response", maxHeadBytes: number, expectations?: boolean[]) {
    this.#role = role;
    this.maxHeadBytes = maxHeadBytes;
    this.#expectations = expectations;
  }

  /** True while a head has started and not yet ended. */
  get inHead(): boolean {
    return this.state === "head" && this.#headStarted;
  }

  /** Account for bytes that went this way. */
  push(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length && (this.state === "head" || this.state === "body")) {
      at = this.state === "head" ? this.#readHead(bytes, at) : this.#readBody(bytes, at);
    }
  }

  /** The connection closed: a response that lasts until the close is complete now. */
  end(): void {
    if (this.state === "body" && this.#remaining === -1) {
      this.completed++;
      this.state = "head";
    }
  }

  #readHead(bytes: Uint8Array, at: number): number {
    if (!this.#headStarted) {
      // Blank lines between messages are allowed (RFC 9112 §2.2).
      while (at < bytes.length && (bytes[at] === CR || bytes[at] === LF)) at++;
      if (at >= bytes.length) return at;
      this.#headStarted = true;
      this.#matched = 0;
      if (this.#role === "request") this.headRequests.push(startsWith(bytes, at, HEAD_METHOD));
    }
    const start = at;
    if (
      this.#first && this.#role === "request" && this.#partial.length === 0 &&
      bytes.length - start >= PREFACE.length
    ) {
      this.#first = false;
      if (startsWith(bytes, start, PREFACE)) {
        this.state = "other";
        return bytes.length;
      }
    }
    let matched = this.#matched;
    let end = -1;
    for (let i = at; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === (matched % 2 === 0 ? CR : LF)) {
        if (++matched === 4) {
          end = i + 1;
          break;
        }
      } else matched = b === CR ? 1 : 0;
    }
    if (end < 0) {
      this.#matched = matched;
      this.#headBytes += bytes.length - start;
      if (this.#headBytes > this.maxHeadBytes) {
        this.tooLarge = true;
        this.state = "unknown";
        return bytes.length;
      }
      this.#partial.push(bytes.slice(start));
      return bytes.length;
    }
    const head = this.#partial.length === 0
      ? bytes.subarray(start, end)
      : concatBytes(...this.#partial, bytes.subarray(start, end));
    this.#partial = [];
    this.#headBytes = 0;
    this.#headStarted = false;
    this.#first = false;
    this.heads++;
    this.#startBody(decoder.decode(head));
    return end;
  }

  /** Read the status (responses) and framing headers of a completed head. */
  #startBody(head: string): void {
    this.#remaining = 0;
    this.#chunked = false;
    let length: number | undefined;
    for (const line of head.split("\r\n").slice(1)) {
      const colon = line.indexOf(":");
      if (colon !== 14 && colon !== 17) continue;
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === "content-length" && /^\d+$/.test(value)) length = Number(value);
      else if (name === "transfer-encoding" && value.endsWith("chunked")) this.#chunked = true;
    }
    if (this.#role === "response") {
      const status = Number(head.slice(9, 12));
      if (status >= 100 && status < 200) {
        // Interim (100 Continue); a switch of protocols leaves HTTP/1.x behind.
        if (status === 101) this.state = "other";
        return;
      }
      const wasHead = this.#expectations?.shift() ?? false;
      if (wasHead || status === 204 || status === 304) {
        this.completed++;
        return;
      }
      // A response with neither framing header ends when the connection closes.
      if (!this.#chunked && length === undefined) {
        this.#remaining = -1;
        this.state = "body";
        return;
      }
    }
    if (this.#chunked) {
      this.#line = [];
      this.#chunkData = 0;
      this.#trailers = false;
      this.state = "body";
      return;
    }
    this.#remaining = length ?? 0;
    if (this.#remaining > 0) this.state = "body";
    else this.completed++;
  }

  #readBody(bytes: Uint8Array, at: number): number {
    if (!this.#chunked) {
      if (this.#remaining === -1) return bytes.length;
      const take = Math.min(this.#remaining, bytes.length - at);
      this.#remaining -= take;
      if (this.#remaining === 0) this.#done();
      return at + take;
    }
    while (at < bytes.length) {
      if (this.#chunkData > 0) {
        const take = Math.min(this.#chunkData, bytes.length - at);
        this.#chunkData -= take;
        at += take;
        continue;
      }
      const byte = bytes[at++];
      if (byte !== LF) {
        if (byte !== CR) this.#line.push(byte);
        if (this.#line.length > 4096) {
          this.state = "unknown";
          return bytes.length;
        }
        continue;
      }
      const line = String.fromCharCode(...this.#line);
      this.#line = [];
      if (this.#trailers) {
        if (line === "") {
          this.#done();
          return at;
        }
        continue;
      }
      const size = parseInt(line.split(";")[0], 16);
      if (Number.isNaN(size)) {
        this.state = "unknown";
        return bytes.length;
      }
      if (size === 0) this.#trailers = true;
      else this.#chunkData = size + 2; // the data and its CRLF
    }
    return at;
  }

  #done(): void {
    this.completed++;
    this.state = "head";
  }
}

/**
 * Follows both directions of one HTTP/1.x connection.
 *
 * @example
 * ```ts
 * const conn = new ConnectionFraming();
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * conn.fromClient(bytes("POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"));
 * conn.inFlight; // 1: a request waits for its answer
 * conn.fromServer(bytes("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"));
 * conn.inFlight; // 0: idle again
 * ```
 */
export class ConnectionFraming {
  readonly requests: MessageFraming;
  readonly responses: MessageFraming;

  constructor(maxHeadBytes = 64 << 10) {
    this.requests = new MessageFraming("request", maxHeadBytes);
    this.responses = new MessageFraming("response", maxHeadBytes, this.requests.headRequests);
  }

  fromClient(bytes: Uint8Array): void {
    this.requests.push(bytes);
  }

  fromServer(bytes: Uint8Array): void {
    this.responses.push(bytes);
  }

  /** The server closed its side: a response that lasts until the close is complete. */
  serverClosed(): void {
    this.responses.end();
  }

  /** Followed both ways so far (false once either direction left HTTP/1.x framing). */
  get followed(): boolean {
    const ok = (s: FramingState) => s === "head" || s === "body";
    return ok(this.requests.state) && ok(this.responses.state);
  }

  /** A request head has started and not ended. */
  get inRequestHead(): boolean {
    return this.requests.inHead;
  }

  /** A request body is arriving. */
  get inRequestBody(): boolean {
    return this.requests.state === "body";
  }

  /** Requests (their heads complete) whose response has not ended. */
  get inFlight(): number {
    return this.requests.heads - this.responses.completed;
  }
}

function startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (bytes.length - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}
