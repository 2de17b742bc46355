/**
 * The socket's TCP transport (node:net underneath): a close ends a connection even while a
 * write to a peer that does not read is stuck (what a Deno.TcpConn cannot do), a port in
 * use is reported as such, and a graceful close lets the peer read the last answer.
 */
import { listenTcp } from "../../src/socket/transport.ts";
import { assertEquals } from "../_helpers/assert.ts";
import { waitUntil } from "../_helpers/deadline.ts";

Deno.test("transport: close ends a connection whose write is stuck on a peer that does not read", async () => {
  const listener = await listenTcp("127.0.0.1", 0);
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const conn = await listener.accept();
  try {
    // Write until a write stays pending: the peer's buffers and ours are full.
    const chunk = new Uint8Array(256 << 10);
    let pending: Promise<number> | undefined;
    await waitUntil(30_000, "a write to block", async () => {
      const write = conn.write(chunk);
      const done = await Promise.race([write.then(() => true), delay(200).then(() => false)]);
      if (!done) pending = write;
      return !done;
    }, 0);
    conn.close();
    // The pending write settles (rejected), and the peer sees the connection end.
    const outcome = await pending!.then(() => "written", (err: Error) => err.name);
    assertEquals(outcome, "BadResource");
    await waitUntil(10_000, "the peer to see the end", async () => {
      try {
        await peer.write(new Uint8Array(1));
        return false;
      } catch {
        return true;
      }
    }, 50);
  } finally {
    peer.close();
    listener.close();
  }
});

Deno.test("transport: a port in use is refused as AddrInUse", async () => {
  const first = await listenTcp("127.0.0.1", 0);
  try {
    const second = await listenTcp("127.0.0.1", first.port).then(
      (l) => {
        l.close();
        return "listening";
      },
      (err: Error) => err instanceof Deno.errors.AddrInUse ? "in use" : err.message,
    );
    assertEquals(second, "in use");
  } finally {
    first.close();
  }
});

Deno.test("transport: a graceful close delivers the last answer though the peer's bytes are unread", async () => {
  const listener = await listenTcp("127.0.0.1", 0);
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  try {
    const conn = await listener.accept();
    // The peer sends first; the server never reads it, answers and hangs up.
    await peer.write(new Uint8Array(1024).fill(1));
    await conn.write(new TextEncoder().encode("refused"));
    const closing = conn.closeGracefully(5_000);
    const buffer = new Uint8Array(64);
    const n = await peer.read(buffer);
    assertEquals(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "refused");
    assertEquals(await peer.read(buffer), null);
    peer.close();
    await closing;
  } finally {
    try {
      peer.close();
    } catch { /* closed */ }
    listener.close();
  }
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
