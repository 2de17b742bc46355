/**
 * The process kind: an installed plugin binary run as a supervised subprocess
 * (`../../process/supervisor.ts`), fed each event as a Cap'n Proto message with the
 * aggregate's state after it and its type's schema (`proto/plugin.capnp`). One event per
 * call: the cursor moves after every acknowledgement, so a crash repeats none that was
 * acknowledged.
 */
import { isAbsolute, join } from "node:path";
import type { EventRecord } from "../../../engine/types.ts";
import { SchemaStore } from "../../../schema/store.ts";
import { installedBinary } from "../../process/install.ts";
import { encodeEvent } from "../../process/messages.ts";
import { PluginProcess } from "../../process/supervisor.ts";
import type { StateAt } from "./rows.ts";
import { DeliveryError, errorText, type Sink, withTimeout } from "./sink.ts";

/** What a process sink runs. */
export interface ProcessSinkSettings {
  name: string;
  plugin: string;
  version: string;
  args: string[];
  env: Record<string, string>;
  working_dir?: string;
  dataDir: string;
  timeoutMs: number;
}

/** The schemas of a data directory, read again when `schemas.json` changed. */
function schemaLookup(dataDir: string): (aggregateType: string) => Promise<unknown> {
  let store: SchemaStore | undefined;
  let seen: number | undefined;
  let lookedAt = 0;
  return async (aggregateType) => {
    const now = Date.now();
    if (!store || now - lookedAt > 1000) {
      lookedAt = now;
      let mtime: number | undefined;
      try {
        mtime = (await Deno.stat(join(dataDir, "schemas.json"))).mtime?.getTime() ?? 0;
      } catch {
        mtime = undefined;
      }
      if (!store || mtime !== seen) {
        store = await SchemaStore.open(dataDir);
        seen = mtime;
      }
    }
    return store.get(aggregateType);
  };
}

/**
 * A process sink.
 *
 * @example
 * ```ts
 * const sink = processSink({
 *   name: "audit", plugin: "example", version: "1.0.0", args: [], env: {},
 *   dataDir: "/tmp/db", timeoutMs: 5000,
 * });
 * await sink.close();
 * ```
 */
export function processSink(
  settings: ProcessSinkSettings,
  stateAt?: StateAt,
  logLine?: (line: string) => void,
): Sink {
  const locate = async () => {
    const binary = await installedBinary(settings.dataDir, settings.plugin, settings.version);
    return binary;
  };
  const cwd = (dir: string) =>
    settings.working_dir === undefined
      ? undefined
      : isAbsolute(settings.working_dir)
      ? settings.working_dir
      : join(dir, settings.working_dir);
  const make = (restart: boolean) =>
    new PluginProcess({
      instance: settings.name,
      plugin: settings.plugin,
      version: settings.version,
      locate: async () => {
        const found = await locate();
        return { path: found.path, dir: cwd(found.dir) ?? found.dir };
      },
      args: settings.args,
      env: settings.env,
      timeoutMs: settings.timeoutMs,
      restart,
      log: logLine,
    });
  let proc: PluginProcess | undefined;
  const schemaOf = schemaLookup(settings.dataDir);
  return {
    maxBatch: 1,
    async deliver(records: readonly EventRecord[], signal) {
      proc ??= make(true);
      const running = proc;
      let delivered = 0;
      for (const record of records) {
        try {
          const state = stateAt ? await stateAt(record) : {};
          const schema = await schemaOf(record.aggregate_type);
          // The process times out the hello and each acknowledgement itself (and kills a
          // plugin that does not answer); this bound covers a start and a message.
          await withTimeout(
            2 * settings.timeoutMs + 1000,
            signal,
            `delivering to plugin ${settings.name}`,
            () => running.deliver((sequence) => encodeEvent(sequence, { record, state, schema })),
          );
          delivered++;
        } catch (err) {
          throw new DeliveryError(`process ${settings.name}: ${errorText(err)}`, delivered);
        }
      }
    },
    async check(signal) {
      // The binary is installed and starts: it answers its hello. A one-off process, so
      // that a check never disturbs a running delivery.
      const once = make(false);
      try {
        await withTimeout(
          settings.timeoutMs,
          signal,
          `starting plugin ${settings.name}`,
          () => once.ready(),
        );
      } finally {
        await once.close();
      }
    },
    async close() {
      await proc?.close();
      proc = undefined;
    },
  };
}
