/**
 * TCP for the control socket, over `node:net` rather than `Deno.listen`: a Deno.TcpConn
 * with a write in progress cannot be closed (`close()` cancels reads only; the socket stays
 * open until the write completes), so a client that stops reading would hold its
 * connection, its slot under the cap and its buffers for as long as it likes. A node socket
 * is destroyed at once, pending write or not. This module gives the rest of the socket the
 * small interface it needs: pull-style reads with back-pressure, writes that settle when
 * the bytes are handed to the kernel (or the socket ends), and a close that always closes.
 */
import net from "node:net";

/** One accepted connection. */
export interface TransportConn {
  /** Read into `buffer`; the byte count, or null at the end of the stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Write all of `bytes`; settles once they are handed to the kernel (rejects if it ends). */
  write(bytes: Uint8Array): Promise<number>;
  /**
   * Send the end of the stream and discard what the peer still sends, until it closes or
   * `graceMs` passed; then close. Closing with unread bytes would reset the connection,
   * and a reset may destroy the last answer before the peer reads it.
   */
  closeGracefully(graceMs: number): Promise<void>;
  /** Close now, whatever is in progress. */
  close(): void;
}

/** A listening socket. */
export interface TransportListener {
  readonly hostname: string;
  readonly port: number;
  /** The next connection; rejects with Deno.errors.BadResource once closed. */
  accept(): Promise<TransportConn>;
  close(): void;
}

/** Buffered unread bytes beyond which the socket stops reading from the kernel. */
const READ_HIGH_WATER = 256 << 10;

/** A node error as the Deno error class the socket's callers know. */
function denoError(err: unknown): Error {
  const code = (err as { code?: string })?.code;
  const message = (err as Error)?.message ?? String(err);
  if (code === "ECONNRESET") return new Deno.errors.ConnectionReset(message);
  if (code === "EPIPE") return new Deno.errors.BrokenPipe(message);
  if (code === "EADDRINUSE") return new Deno.errors.AddrInUse(message);
  if (code === "EACCES" || code === "EPERM") return new Deno.errors.PermissionDenied(message);
  if (code === "ERR_STREAM_DESTROYED" || code === "ERR_STREAM_WRITE_AFTER_END") {
    return new Deno.errors.BadResource(message);
  }
  return err instanceof Error ? err : new Error(message);
}

class NodeConn implements TransportConn {
  readonly #socket: net.Socket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered > READ_HIGH_WATER) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (err) => {
      this.#failure ??= denoError(err);
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#chunks.length > 0) {
        let n = 0;
        while (n < buffer.length && this.#chunks.length > 0) {
          const chunk = this.#chunks[0];
          const take = Math.min(chunk.length, buffer.length - n);
          buffer.set(chunk.subarray(0, take), n);
          n += take;
          if (take === chunk.length) this.#chunks.shift();
          else this.#chunks[0] = chunk.subarray(take);
        }
        this.#buffered -= n;
        if (this.#buffered <= READ_HIGH_WATER / 2 && !this.#closed) this.#socket.resume();
        return n;
      }
      if (this.#closed) throw new Deno.errors.BadResource("the connection is closed");
      if (this.#failure) throw this.#failure;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed || this.#socket.destroyed) {
      return Promise.reject(new Deno.errors.BadResource("the connection is closed"));
    }
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const onClose = () => finish(new Deno.errors.BadResource("the connection is closed"));
      const finish = (err?: Error | null) => {
        if (settled) return;
        settled = true;
        this.#socket.off("close", onClose);
        if (err) {
          reject(
            this.#closed ? new Deno.errors.BadResource("the connection is closed") : denoError(err),
          );
        } else resolve(bytes.length);
      };
      // A destroyed socket may never call back: its close settles the write.
      this.#socket.once("close", onClose);
      this.#socket.write(bytes, (err) => finish(err));
    });
  }

  async closeGracefully(graceMs: number): Promise<void> {
    if (this.#closed) return;
    this.#socket.end();
    const scratch = new Uint8Array(4096);
    const deadline = setTimeout(() => this.close(), graceMs);
    try {
      while ((await this.read(scratch)) !== null) { /* discarded */ }
    } catch { /* reset or closed */ }
    clearTimeout(deadline);
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#notify();
  }
}

/**
 * Listen on `hostname:port` (0: any free port). Rejects with Deno.errors.AddrInUse or
 * PermissionDenied when the address cannot be bound; later errors go to `onError`.
 *
 * @example
 * ```ts
 * const listener = await listenTcp("127.0.0.1", 0);
 * console.log(listener.port);
 * listener.close();
 * ```
 */
export async function listenTcp(
  hostname: string,
  port: number,
  onError: (err: Error) => void = () => {},
): Promise<TransportListener> {
  const waiting: net.Socket[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    waiting.push(socket);
    const w = wake;
    wake = undefined;
    w?.();
  });
  // A failed accept (out of descriptors …) does not end the listener; the caller logs it.
  let listening = false;
  server.on("error", (err) => {
    if (listening) onError(denoError(err));
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => reject(denoError(err));
    server.once("error", fail);
    server.listen({ host: hostname, port, exclusive: true }, () => {
      server.off("error", fail);
      listening = true;
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  return {
    hostname: address.address,
    port: address.port,
    async accept() {
      for (;;) {
        const socket = waiting.shift();
        if (socket) return new NodeConn(socket);
        if (closed) throw new Deno.errors.BadResource("the listener is closed");
        await new Promise<void>((resolve) => wake = resolve);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      server.close();
      for (const socket of waiting.splice(0)) socket.destroy();
      const w = wake;
      wake = undefined;
      w?.();
    },
  };
}
