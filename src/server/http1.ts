/**
 * HTTP/1.1 served on a connection the gate accepted, in the gate's own isolate: the request is
 * parsed here and handed to the fetch handler as a `Request`, its `Response` written back. On
 * the engine's thread this replaces splicing every connection to a `Deno.serve` on a private
 * socket, which cost a second socket, a second thread and four more system calls per request.
 *
 * What it keeps of HTTP/1.1 (RFC 9112): keep-alive (1.1 by default, 1.0 on request),
 * pipelined requests answered in order, Content-Length and chunked request bodies (both at
 * once is refused, as request smuggling), `Expect: 100-continue`, HEAD, and responses framed
 * by Content-Length, or chunked as they stream (event streams: `text/event-stream`; any other
 * body is read whole first, as every other answer of the HTTP surfaces is whole anyway). A
 * body declared larger than the limit is not read: the handler refuses it (413) from its
 * header and the connection closes after the answer. A head longer than 64 KiB gets 431. The
 * timeouts are the gate's: it learns where the connection is from `Http1Hooks` and
 * `Http1Progress` instead of following the bytes a second time.
 */
import { concatBytes } from "../util/concat_bytes.ts";
import type { FetchHandler } from "./listener.ts";

/** What the gate learns of a served connection, for its timeouts (see gate.ts). */
export interface Http1Hooks {
  /** Bytes moved, either way. */
  active(): void;
  /** A request head began to arrive (true: its first byte) or is complete (false). */
  head(arriving: boolean): void;
  /** False once the gate dropped the connection. */
  open(): boolean;
  /** True once the server is shutting down: answer what is in flight, then close. */
  draining(): boolean;
}

/** Where a served connection is, kept up to date for the gate's idle rule. */
export interface Http1Progress {
  /** Requests whose head is complete and whose answer is not yet written. */
  inFlight: number;
  /** A request body is being read. */
  inRequestBody: boolean;
}

/** Longest request head (request line and headers); a longer one gets 431. */
export const MAX_HEAD_BYTES = 64 << 10;

export interface Http1Options {
  handler: FetchHandler;
  /** Request bodies declared larger are not read (the handler answers 413 from the header). */
  maxBodyBytes: number;
}

const CRLF = "\r\n";
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NO_BODY_STATUS = new Set([204, 304]);
/** Headers the connection owns: the handler's values are replaced. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

/** A request that cannot be served: answered with `status`, then the connection closes. */
class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Buffered reads from the connection: bytes not yet parsed are `bytes[start..end]`. */
class Input {
  bytes = new Uint8Array(16 << 10);
  start = 0;
  end = 0;
  /** The client closed its side (or the connection failed). */
  ended = false;
  /** Waiting for a request head, and whether its first byte came. */
  awaitingHead = false;
  headArriving = false;
  #pending: Promise<boolean> | undefined;

  constructor(readonly conn: Deno.Conn, readonly hooks: Http1Hooks, first?: Uint8Array) {
    if (first && first.length > 0) this.#append(first);
  }

  get available(): number {
    return this.end - this.start;
  }

  /** Read once more (one read at a time); false at the end of the client's bytes. */
  fill(): Promise<boolean> {
    this.#pending ??= this.#read().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #read(): Promise<boolean> {
    if (this.ended) return false;
    this.#room(16 << 10);
    let n: number | null;
    try {
      n = await this.conn.read(this.bytes.subarray(this.end));
    } catch {
      n = null;
    }
    if (n === null) {
      this.ended = true;
      return false;
    }
    this.end += n;
    this.hooks.active();
    if (!this.hooks.open()) {
      this.ended = true;
      return false;
    }
    if (this.awaitingHead) this.noteHead();
    return true;
  }

  #append(chunk: Uint8Array): void {
    this.#room(chunk.length);
    this.bytes.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** Tell the gate once that the awaited head began (bytes of it are buffered). */
  noteHead(): void {
    if (this.headArriving || this.available === 0) return;
    this.headArriving = true;
    this.hooks.head(true);
  }

  /** Make room for `n` more bytes after `end`, moving or growing the buffer. */
  #room(n: number): void {
    if (this.bytes.length - this.end >= n) return;
    const used = this.end - this.start;
    const size = Math.max(this.bytes.length, used + n);
    const next = size > this.bytes.length ? new Uint8Array(size * 2) : this.bytes;
    next.set(this.bytes.subarray(this.start, this.end), 0);
    this.bytes = next;
    this.start = 0;
    this.end = used;
  }

  /** Index just past the blank line ending a head that starts at `start`, or -1. */
  headEnd(): number {
    const b = this.bytes;
    for (let i = this.start; i + 3 < this.end; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i + 4;
    }
    return -1;
  }

  /** Take `n` buffered bytes (a copy: the buffer is reused). */
  take(n: number): Uint8Array {
    const out = this.bytes.slice(this.start, this.start + n);
    this.start += n;
    return out;
  }

  /** Take the bytes up to the next CRLF (not included) as text, or undefined if not buffered. */
  line(): string | undefined {
    const b = this.bytes;
    for (let i = this.start; i + 1 < this.end; i++) {
      if (b[i] === 13 && b[i + 1] === 10) {
        const text = latin1.decode(b.subarray(this.start, i));
        this.start = i + 2;
        return text;
      }
    }
    return undefined;
  }
}

/** One parsed request head. */
interface Head {
  method: string;
  target: string;
  minor: number;
  headers: [string, string][];
  /** Lower-cased names of the framing headers, and the values the server acts on. */
  contentLength: number | undefined;
  chunked: boolean;
  keepAlive: boolean;
  expectContinue: boolean;
  host: string | undefined;
}

function parseHead(text: string): Head {
  const lines = text.split(CRLF);
  const [method, target, version, extra] = lines[0].split(" ");
  if (extra !== undefined || !method || !target || !TOKEN.test(method)) {
    throw new BadRequest(400, "malformed request line");
  }
  const minor = version === "HTTP/1.1" ? 1 : version === "HTTP/1.0" ? 0 : -1;
  if (minor < 0) throw new BadRequest(505, "only HTTP/1.0 and HTTP/1.1 are served here");
  const headers: [string, string][] = [];
  let contentLength: number | undefined;
  let chunked = false;
  let connection = "";
  let expectContinue = false;
  let host: string | undefined;
  // lines end with two empty strings: the blank line and what follows it.
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new BadRequest(400, "malformed header line");
    const value = line.slice(colon + 1).trim();
    headers.push([name, value]);
    switch (name.toLowerCase()) {
      case "content-length": {
        if (!/^\d{1,15}$/.test(value)) throw new BadRequest(400, "malformed Content-Length");
        const length = Number(value);
        if (contentLength !== undefined && contentLength !== length) {
          throw new BadRequest(400, "conflicting Content-Length headers");
        }
        contentLength = length;
        break;
      }
      case "transfer-encoding": {
        const codings = value.toLowerCase().split(",").map((c) => c.trim());
        if (codings[codings.length - 1] !== "chunked" || codings.length > 1) {
          throw new BadRequest(501, "only the chunked transfer coding is served here");
        }
        chunked = true;
        break;
      }
      case "connection":
        connection += `,${value.toLowerCase()}`;
        break;
      case "expect":
        if (value.toLowerCase() !== "100-continue") {
          throw new BadRequest(417, "only Expect: 100-continue is understood");
        }
        expectContinue = true;
        break;
      case "host":
        if (host !== undefined) throw new BadRequest(400, "more than one Host header");
        host = value;
        break;
    }
  }
  if (chunked && contentLength !== undefined) {
    throw new BadRequest(400, "both Content-Length and Transfer-Encoding");
  }
  if (minor === 1 && host === undefined) throw new BadRequest(400, "no Host header");
  const tokens = connection.split(",").map((t) => t.trim());
  const keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  return {
    method,
    target,
    minor,
    headers,
    contentLength,
    chunked,
    keepAlive,
    expectContinue,
    host,
  };
}

function requestUrl(head: Head, conn: Deno.Conn): string {
  if (head.target.startsWith("/")) {
    const local = conn.localAddr as Deno.NetAddr;
    const host = head.host || `${local.hostname}:${local.port}`;
    return `http://${host}${head.target}`;
  }
  if (/^https?:\/\//i.test(head.target)) return head.target;
  if (head.target === "*" && head.method === "OPTIONS") {
    return `http://${head.host ?? "localhost"}/`;
  }
  throw new BadRequest(400, "malformed request target");
}

/**
 * The status line and headers of a response. `length` undefined: the body streams, chunked
 * (`chunked` false for an HTTP/1.0 client: the body then ends with the connection).
 */
function responseHead(
  response: Response,
  length: number | undefined,
  keepAlive: boolean,
  chunked = true,
): string {
  let text = `HTTP/1.1 ${response.status} ${response.statusText || reason(response.status)}\r\n`;
  for (const [name, value] of response.headers) {
    if (HOP_BY_HOP.has(name)) continue;
    text += `${name}: ${value}\r\n`;
  }
  if (!response.headers.has("date")) text += `date: ${httpDate()}\r\n`;
  if (length !== undefined) text += `content-length: ${length}\r\n`;
  else if (chunked && !NO_BODY_STATUS.has(response.status)) {
    text += "transfer-encoding: chunked\r\n";
  }
  if (!keepAlive) text += "connection: close\r\n";
  return text + CRLF;
}

let dateText = "";
let dateAt = 0;
/** The Date header's value, computed at most once a second. */
function httpDate(): string {
  const now = Date.now();
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000);
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  413: "Content Too Large",
  417: "Expectation Failed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  505: "HTTP Version Not Supported",
};

function reason(status: number): string {
  return REASONS[status] ?? "";
}

async function writeAll(conn: Deno.Conn, hooks: Http1Hooks, bytes: Uint8Array): Promise<void> {
  hooks.active();
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/** A short plain-text answer for requests that cannot be served, then the connection closes. */
async function refuse(conn: Deno.Conn, hooks: Http1Hooks, err: BadRequest): Promise<void> {
  const code = err.status < 500 ? "invalid_input" : "unsupported";
  const body = JSON.stringify({ message: err.message, code });
  const text =
    `HTTP/1.1 ${err.status} ${reason(err.status)}\r\ncontent-type: application/json\r\n` +
    `content-length: ${encoder.encode(body).length}\r\nconnection: close\r\n\r\n${body}`;
  await writeAll(conn, hooks, encoder.encode(text)).catch(() => {});
}

/** The body of a request declared over the limit: reading it fails instead of reading it. */
function unreadBody(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      controller.error(new Error("the request body is over the limit and was not read"));
    },
  });
}

/**
 * Read a chunked body (RFC 9112 §7.1) into one buffer; past `max` bytes it stops reading and
 * returns what it has (one byte over the limit is enough for the handler to refuse it).
 */
async function readChunked(
  input: Input,
  max: number,
): Promise<{ body: Uint8Array; whole: boolean }> {
  const parts: Uint8Array[] = [];
  let size = 0;
  const line = async () => {
    for (;;) {
      const text = input.line();
      if (text !== undefined) return text;
      if (input.available > 4096) throw new BadRequest(400, "malformed chunk size line");
      if (!(await input.fill())) throw new BadRequest(400, "the request body ended early");
    }
  };
  for (;;) {
    const sizeLine = await line();
    const hex = sizeLine.split(";")[0].trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new BadRequest(400, "malformed chunk size");
    const chunk = parseInt(hex, 16);
    if (chunk === 0) {
      // Trailers, up to the blank line.
      while ((await line()) !== "");
      return { body: concatBytes(...parts), whole: true };
    }
    while (input.available < chunk + 2) {
      if (size + input.available > max) {
        parts.push(input.take(input.available));
        return { body: concatBytes(...parts), whole: false };
      }
      if (!(await input.fill())) throw new BadRequest(400, "the request body ended early");
    }
    parts.push(input.take(chunk));
    size += chunk;
    if (input.line() !== "") throw new BadRequest(400, "malformed chunk");
    if (size > max) return { body: concatBytes(...parts), whole: false };
  }
}

/**
 * Whether a response's body streams (written chunk by chunk as it comes): event streams. Every
 * other answer of the HTTP surfaces is whole when returned, and is read whole.
 */
function isStream(response: Response): boolean {
  if (!response.body) return false;
  const type = response.headers.get("content-type");
  return type !== null && type.startsWith("text/event-stream");
}

/** Request bytes buffered while a response streams, beyond which the watch stops reading. */
const MAX_BUFFERED_WHILE_STREAMING = 1 << 20;

/**
 * Write a response: framed by Content-Length when it is whole (every answer but an event
 * stream), else chunked as it streams (HTTP/1.0: raw, ending with the connection).
 * False when the connection cannot carry another request (the client went away, or the
 * body ended with the connection); the body is then cancelled.
 */
async function writeResponse(
  input: Input,
  hooks: Http1Hooks,
  response: Response,
  request: { head: boolean; minor: number },
  keepAlive: boolean,
): Promise<boolean> {
  const conn = input.conn;
  const status = response.status;
  const noBody = request.head || NO_BODY_STATUS.has(status);
  if (!isStream(response)) {
    // Whole at once (every answer but an event stream): head and body in one write, framed
    // by length, with no stream reader.
    const bytes = new Uint8Array(await response.arrayBuffer());
    const length = NO_BODY_STATUS.has(status) ? undefined : bytes.length;
    const head = encoder.encode(responseHead(response, length, keepAlive));
    await writeAll(conn, hooks, noBody || bytes.length === 0 ? head : concatBytes(head, bytes));
    return true;
  }
  const reader = response.body!.getReader();
  try {
    const chunked = request.minor === 1;
    const head = responseHead(response, undefined, keepAlive && chunked, chunked);
    await writeAll(conn, hooks, encoder.encode(head));
    if (noBody) {
      await reader.cancel();
      return keepAlive && chunked;
    }
    // The client leaving ends the stream (an event stream may go quiet for long).
    let gone = false;
    (async () => {
      while (!gone && input.available < MAX_BUFFERED_WHILE_STREAMING && (await input.fill()));
      if (!gone && input.ended) {
        gone = true;
        reader.cancel().catch(() => {});
      }
    })();
    const send = async (bytes: Uint8Array) => {
      if (bytes.length === 0) return;
      if (!chunked) return await writeAll(conn, hooks, bytes);
      const prefix = encoder.encode(`${bytes.length.toString(16)}\r\n`);
      const out = new Uint8Array(prefix.length + bytes.length + 2);
      out.set(prefix);
      out.set(bytes, prefix.length);
      out[out.length - 2] = 13;
      out[out.length - 1] = 10;
      await writeAll(conn, hooks, out);
    };
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        await send(next.value);
      }
      if (chunked) await writeAll(conn, hooks, LAST_CHUNK);
    } catch {
      gone = true;
      reader.cancel().catch(() => {});
      return false;
    }
    const ended = gone;
    gone = true;
    return !ended && chunked && !input.ended;
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // A read still pending (the stream was cancelled).
    }
  }
}

/**
 * Serve one connection until the client or the server ends it. `first` is what the gate
 * already read from it.
 *
 * @example
 * ```ts
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const hooks = { active() {}, head() {}, open: () => true, draining: () => false };
 * const handler = () => new Response("hi");
 * (async () => {
 *   for await (const conn of listener) {
 *     const progress = { inFlight: 0, inRequestBody: false };
 *     serveHttp1(conn, undefined, { handler, maxBodyBytes: 1024 }, hooks, progress);
 *   }
 * })();
 * ```
 */
export async function serveHttp1(
  conn: Deno.Conn,
  first: Uint8Array | undefined,
  options: Http1Options,
  hooks: Http1Hooks,
  progress: Http1Progress,
): Promise<void> {
  const input = new Input(conn, hooks, first);
  for (;;) {
    input.awaitingHead = true;
    input.noteHead();
    let end = input.headEnd();
    while (end < 0) {
      if (input.available > MAX_HEAD_BYTES) {
        await refuse(conn, hooks, new BadRequest(431, "the request head is too large"));
        return;
      }
      if (!(await input.fill())) return;
      end = input.headEnd();
    }
    input.awaitingHead = false;
    input.headArriving = false;
    hooks.head(false);
    progress.inFlight = 1;
    let head: Head;
    let url: string;
    try {
      head = parseHead(latin1.decode(input.bytes.subarray(input.start, end)));
      input.start = end;
      url = requestUrl(head, conn);
    } catch (err) {
      if (err instanceof BadRequest) await refuse(conn, hooks, err);
      return;
    }
    let keepAlive = head.keepAlive;
    let body: Uint8Array | ReadableStream<Uint8Array> | undefined;
    try {
      const oversized = head.contentLength !== undefined &&
        head.contentLength > options.maxBodyBytes;
      if (oversized) {
        // Present (its headers say so) but never read: the handler refuses it from its length.
        keepAlive = false;
        body = unreadBody();
      } else if (head.contentLength !== undefined || head.chunked) {
        progress.inRequestBody = true;
        if (head.expectContinue) await writeAll(conn, hooks, CONTINUE);
        if (head.chunked) {
          const read = await readChunked(input, options.maxBodyBytes);
          body = read.body;
          if (!read.whole) keepAlive = false;
        } else {
          const length = head.contentLength!;
          while (input.available < length) {
            if (!(await input.fill())) return;
          }
          body = input.take(length);
        }
        progress.inRequestBody = false;
      }
    } catch (err) {
      if (err instanceof BadRequest) await refuse(conn, hooks, err);
      return;
    }
    const bodyless = head.method === "GET" || head.method === "HEAD";
    let request: Request;
    try {
      request = new Request(url, {
        method: head.method,
        headers: head.headers,
        body: bodyless || body === undefined ? undefined : body as BodyInit,
      });
    } catch {
      await refuse(conn, hooks, new BadRequest(400, "malformed request"));
      return;
    }
    const completed = Promise.withResolvers<void>();
    let response: Response;
    try {
      response = await options.handler(request, {
        remoteAddr: conn.remoteAddr as Deno.NetAddr,
        completed: completed.promise,
      });
    } catch (err) {
      console.error(
        `error: ${head.method} ${head.target} failed: ${(err as Error)?.message ?? err}`,
      );
      response = Response.json({ message: "internal error", code: "internal" }, { status: 500 });
    }
    if (hooks.draining()) keepAlive = false;
    let written = false;
    try {
      written = await writeResponse(
        input,
        hooks,
        response,
        { head: head.method === "HEAD", minor: head.minor },
        keepAlive,
      );
    } catch {
      written = false;
    } finally {
      progress.inFlight = 0;
      completed.resolve();
    }
    if (!written || !keepAlive) return;
  }
}
