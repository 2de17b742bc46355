/**
 * The accept loop every listener of ours runs (the gate in front of the public port, the
 * control socket). A failed accept is usually the process being out of descriptors
 * (EMFILE/ENFILE) or a passing fault; the listener must outlive it, so it waits (10 ms,
 * doubling up to 1 s) and accepts again instead of ending.
 */

/** What the loop needs of a listener. */
export interface Acceptor<C> {
  accept(): Promise<C>;
}

/** What the loop is told to do. */
export interface AcceptLoopOptions<C> {
  /** False once the listener is being closed: the loop ends at its next turn. */
  accepting(): boolean;
  /** A failed accept that is being retried (the message says so). */
  warn(message: string): void;
  /** Take the accepted connection (admit it, or refuse it when over a limit). */
  take(conn: C): void;
}

/**
 * Accept connections until the listener closes or `accepting()` turns false.
 *
 * @example
 * ```ts
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * let accepting = true;
 * const loop = acceptLoop(listener, {
 *   accepting: () => accepting,
 *   warn: (message) => console.error(message),
 *   take: (conn) => conn.close(),
 * });
 * accepting = false;
 * listener.close();
 * await loop;
 * ```
 */
export async function acceptLoop<C>(
  listener: Acceptor<C>,
  options: AcceptLoopOptions<C>,
): Promise<void> {
  let backoff = 0;
  while (options.accepting()) {
    let conn: C;
    try {
      conn = await listener.accept();
      backoff = 0;
    } catch (err) {
      if (!options.accepting() || err instanceof Deno.errors.BadResource) break;
      backoff = Math.min(1000, Math.max(10, backoff * 2));
      options.warn(`cannot accept connections: ${(err as Error).message}; retrying`);
      await new Promise((resolve) => setTimeout(resolve, backoff));
      continue;
    }
    options.take(conn);
  }
}
