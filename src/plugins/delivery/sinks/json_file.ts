/**
 * The json kind: each EventRecord appended to a file, one line each (or indented, with
 * `pretty`, each record followed by a newline). The file is created 0600 with its
 * directory; an event counts as acknowledged once its bytes reached the disk.
 */
import { dirname } from "node:path";
import type { EventRecord } from "../../../engine/types.ts";
import { DeliveryError, errorText, type Sink } from "./sink.ts";

const enc = new TextEncoder();

/**
 * Open (creating) a file for appending, 0600, with its directory (0700).
 *
 * @example
 * ```ts
 * const file = await openAppend("/tmp/dbx-out/events.jsonl");
 * file.close();
 * ```
 */
export async function openAppend(path: string): Promise<Deno.FsFile> {
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return await Deno.open(path, { append: true, create: true, mode: 0o600 });
}

/**
 * A json sink.
 *
 * @example
 * ```ts
 * const sink = jsonFileSink({ path: "/tmp/dbx-out/events.jsonl", pretty: false });
 * await sink.close();
 * ```
 */
export function jsonFileSink(settings: { path: string; pretty: boolean }): Sink {
  let file: Deno.FsFile | undefined;
  const drop = () => {
    try {
      file?.close();
    } catch { /* closed already */ }
    file = undefined;
  };
  return {
    maxBatch: 100,
    async deliver(records: readonly EventRecord[]) {
      const text = records
        .map((r) => (settings.pretty ? JSON.stringify(r, null, 2) : JSON.stringify(r)) + "\n")
        .join("");
      try {
        file ??= await openAppend(settings.path);
        const bytes = enc.encode(text);
        let at = 0;
        while (at < bytes.length) at += await file.write(bytes.subarray(at));
        await file.syncData();
      } catch (err) {
        drop();
        throw new DeliveryError(`${settings.path}: ${errorText(err)}`, 0);
      }
    },
    async check() {
      try {
        (await openAppend(settings.path)).close();
      } catch (err) {
        throw new Error(`cannot open ${settings.path} for appending: ${errorText(err)}`);
      }
    },
    close() {
      drop();
      return Promise.resolve();
    },
  };
}
