/** The sink of each plugin kind that delivers in this version. */
import type { PluginSettings } from "../../plugin.ts";
import { columnTyping, type SchemaColumnTypes } from "./column_types.ts";
import { grpcSink } from "./grpc.ts";
import { httpSink } from "./http.ts";
import { jsonFileSink } from "./json_file.ts";
import { logSink } from "./log.ts";
import type { Sink } from "./sink.ts";
import { tcpSink } from "./tcp.ts";
import { csvSink } from "./csv.ts";
import { postgresSink } from "./postgres.ts";
import { processSink } from "./process.ts";
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
  /** The schema's column types of an aggregate type, the table kinds' default types. */
  schemaColumnTypes?: SchemaColumnTypes;
  /** The data directory, where process plugins are installed (required for them). */
  dataDir?: string;
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
  "grpc",
  "process",
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
    case "grpc":
      return grpcSink({
        name: plugin.name,
        endpoint: plugin.endpoint,
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
        {
          connection: plugin.connection,
          timeoutMs: options.timeoutMs,
          typing: columnTyping(plugin.column_types, options.schemaColumnTypes),
        },
        options.stateAt,
      );
    case "sqlite":
      return sqliteSink(
        {
          path: plugin.path,
          typing: columnTyping(plugin.column_types, options.schemaColumnTypes),
        },
        options.stateAt,
      );
    case "csv":
      return csvSink(
        {
          output_dir: plugin.output_dir,
          typing: columnTyping(plugin.column_types, options.schemaColumnTypes),
        },
        options.stateAt,
      );
    case "process":
      if (options.dataDir === undefined) return "process plugins need the data directory";
      return processSink(
        { ...plugin, dataDir: options.dataDir, timeoutMs: options.timeoutMs },
        options.stateAt,
        options.logLine,
      );
    default:
      // Every kind delivers now; this stays for a kind added to the model first.
      return `${
        (plugin as { kind: string }).kind
      } plugins do not deliver events in this version (delivering kinds: ${
        DELIVERING_KINDS.join(", ")
      })`;
  }
}
