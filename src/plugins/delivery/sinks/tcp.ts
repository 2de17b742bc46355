/**
 * The tcp kind: one JSON EventRecord per line on a connection kept open (and opened again
 * after an error). A line counts as acknowledged once the socket took all of it.
 */
import type { EventRecord } from "../../../engine/types.ts";
import { DeliveryError, errorText, type Sink, withTimeout } from "./sink.ts";

export interface TcpSinkSettings {
  host: string;
  port: number;
  timeoutMs: number;
}

const enc = new TextEncoder();

/**
 * Check that `host:port` accepts a TCP connection within `timeoutMs`.
 *
 * @example
 * ```ts
 * await checkReachable("127.0.0.1", 7070, 2000, new AbortController().signal).catch(() => {});
 * ```
 */
export async function checkReachable(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const conn = await withTimeout(
    timeoutMs,
    signal,
    `connecting to ${host}:${port}`,
    async () => {
      try {
        return await Deno.connect({ hostname: host, port });
      } catch (err) {
        throw new Error(`cannot connect to ${host}:${port}: ${errorText(err)}`);
      }
    },
  );
  conn.close();
}

/** Write all of `bytes`. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/**
 * A tcp sink.
 *
 * @example
 * ```ts
 * const sink = tcpSink({ host: "127.0.0.1", port: 9000, timeoutMs: 5000 });
 * await sink.close();
 * ```
 */
export function tcpSink(settings: TcpSinkSettings): Sink {
  let conn: Deno.Conn | undefined;
  const drop = () => {
    try {
      conn?.close();
    } catch { /* closed already */ }
    conn = undefined;
  };
  const where = `${settings.host}:${settings.port}`;
  return {
    maxBatch: 100,
    async deliver(records, signal) {
      const bytes = enc.encode(records.map((r: EventRecord) => JSON.stringify(r) + "\n").join(""));
      try {
        await withTimeout(settings.timeoutMs, signal, `writing to ${where}`, async () => {
          conn ??= await Deno.connect({ hostname: settings.host, port: settings.port });
          await writeAll(conn, bytes);
        });
      } catch (err) {
        // A cut connection may have taken part of the lines: none counts as acknowledged.
        drop();
        throw new DeliveryError(`tcp ${where}: ${errorText(err)}`, 0);
      }
    },
    check: (signal) => checkReachable(settings.host, settings.port, settings.timeoutMs, signal),
    close() {
      drop();
      return Promise.resolve();
    },
  };
}
