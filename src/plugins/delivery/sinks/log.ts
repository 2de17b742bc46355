/**
 * The log kind: one formatted line per event on the server's log (stderr), at the
 * configured level. The template's `{aggregate}`, `{event}` and `{id}` take the event's
 * aggregate type, event type and aggregate id.
 */
import type { EventRecord } from "../../../engine/types.ts";
import type { LogLevel } from "../../plugin.ts";
import type { Sink } from "./sink.ts";

/** The line without a template, as the seed gives it. */
export const DEFAULT_LOG_TEMPLATE = "aggregate={aggregate} id={id} event={event}";

/**
 * The log line of one event.
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../../../engine/types.ts";
 * declare const record: EventRecord;
 * renderLogLine(undefined, record); // "aggregate=patient id=p-1 event=patient-added"
 * ```
 */
export function renderLogLine(template: string | undefined, record: EventRecord): string {
  const values: Record<string, string> = {
    aggregate: record.aggregate_type,
    event: record.event_type,
    id: record.aggregate_id,
  };
  return (template ?? DEFAULT_LOG_TEMPLATE).replace(
    /\{(aggregate|event|id)\}/g,
    (_, name: string) => values[name],
  );
}

/**
 * A log sink writing through `write` (the server's stderr by default).
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const sink = logSink({ name: "audit", level: "info" }, (line) => lines.push(line));
 * await sink.close();
 * ```
 */
export function logSink(
  settings: { name: string; level: LogLevel; template?: string },
  write: (line: string) => void = (line) => console.error(line),
): Sink {
  const prefix = `${settings.level.toUpperCase()} plugin ${settings.name}: `;
  return {
    maxBatch: 100,
    deliver(records) {
      for (const record of records) write(prefix + renderLogLine(settings.template, record));
      return Promise.resolve();
    },
    check: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
