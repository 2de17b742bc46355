/** The sink of each plugin kind that delivers in this version. */
import type { PluginSettings } from "../../plugin.ts";
import { httpSink } from "./http.ts";
import { jsonFileSink } from "./json_file.ts";
import { logSink } from "./log.ts";
import type { Sink } from "./sink.ts";
import { tcpSink } from "./tcp.ts";
import { csvSink } from "./csv.ts";
import { postgresSink } from "./postgres.ts";
import type { StateAt } from "./rows.ts";
import { sqliteSink } from "./sqlite.ts";

export type { Sink } from "./sink.ts";
export { DeliveryError } from "./sink.ts";

/** How sinks are made: the attempt timeout, and where log lines go. */
export interface SinkOptions {
  timeoutMs: number;
  logLine?: (line: string) => void;
  /** The aggregate's state at an event, for the table kinds (postgres, sqlite, csv). */
  stateAt?: StateAt;
}

/** Kinds that deliver events in this version. */
export const DELIVERING_KINDS = [
  "http",
  "tcp",
  "log",
  "json",
  "postgres",
  "sqlite",
  "csv",
] as const;

/**
 * The sink of a plugin, or a message saying why its kind cannot deliver yet.
 *
 * @example
 * ```ts
 * const sink = openSink({ name: "audit", kind: "log", level: "info" }, { timeoutMs: 5000 });
 * if (typeof sink !== "string") await sink.close();
 * ```
 */
export function openSink(
  plugin: PluginSettings & { name: string },
  options: SinkOptions,
): Sink | string {
  switch (plugin.kind) {
    case "http":
      return httpSink({
        endpoint: plugin.endpoint,
        headers: plugin.headers,
        timeoutMs: options.timeoutMs,
      });
    case "tcp":
      return tcpSink({ host: plugin.host, port: plugin.port, timeoutMs: options.timeoutMs });
    case "log":
      return logSink(
        { name: plugin.name, level: plugin.level, template: plugin.template },
        options.logLine,
      );
    case "json":
      return jsonFileSink({ path: plugin.path, pretty: plugin.pretty });
    case "postgres":
      return postgresSink(
        { connection: plugin.connection, timeoutMs: options.timeoutMs },
        options.stateAt,
      );
    case "sqlite":
      return sqliteSink({ path: plugin.path }, options.stateAt);
    case "csv":
      return csvSink({ output_dir: plugin.output_dir }, options.stateAt);
    default:
      return `${plugin.kind} plugins do not deliver events in this version (delivering kinds: ${
        DELIVERING_KINDS.join(", ")
      })`;
  }
}
