/**
 * What the API does with delivery (`dbx queue`, `queue retry|clear`, `plugin replay`,
 * `plugin test`, the connectivity check of `plugin enable`): plain functions over the
 * delivery state, the plugin configuration and the engine. They change only the state;
 * a running delivery in the same process sees the change at once.
 */
import type { Engine } from "../../engine/engine.ts";
import type { EventRecord } from "../../engine/types.ts";
import { DbxError } from "../../errors.ts";
import type { Plugin } from "../plugin.ts";
import { DEFAULT_ATTEMPT_TIMEOUT_MS } from "./service.ts";
import { openSink } from "./sinks/mod.ts";
import { errorText, withTimeout } from "./sinks/sink.ts";
import { type DeliveryState, type EntryFilter, type QueueEntry, queueEntry } from "./state.ts";

/** Most events one replay queues. */
export const MAX_REPLAY_EVENTS = 10_000;

/** A plugin's delivery as `dbx queue` shows it. */
export interface PluginQueueStatus {
  name: string;
  kind: string;
  enabled: boolean;
  /** Last global position handed over (acknowledged or queued); null before the first. */
  cursor: number | null;
  /** Committed events after the cursor. */
  lag: number;
  pending: number;
  dead: number;
}

/** A queue entry as the API shows it (times in RFC 3339). */
export type QueueEntryView = Omit<QueueEntry, "next_attempt_at"> & {
  next_attempt_at: string | null;
};

/** The queue of every plugin given: status per plugin, and entries (at most `take`). */
export interface QueueReport {
  plugins: PluginQueueStatus[];
  entries: QueueEntryView[];
  /** True when more entries matched than `take`. */
  truncated: boolean;
}

function view(entry: QueueEntry): QueueEntryView {
  return {
    ...entry,
    next_attempt_at: entry.next_attempt_at === null
      ? null
      : new Date(entry.next_attempt_at).toISOString(),
  };
}

/**
 * The queue report of `plugins`.
 *
 * @example
 * ```ts
 * import type { DeliveryState } from "./state.ts";
 * declare const state: DeliveryState;
 * const report = await queueReport(state, [], 10, {}, 100);
 * report.plugins.length; // 0
 * ```
 */
export async function queueReport(
  state: DeliveryState,
  plugins: readonly Plugin[],
  lastPosition: number,
  filter: Omit<EntryFilter, "plugin">,
  take: number,
): Promise<QueueReport> {
  const counts = await state.counts();
  const names = new Set(plugins.map((p) => p.name));
  const status: PluginQueueStatus[] = [];
  for (const plugin of plugins) {
    const cursor = await state.cursor(plugin.name);
    const count = counts.get(plugin.name) ?? { pending: 0, dead: 0 };
    status.push({
      name: plugin.name,
      kind: plugin.kind,
      enabled: plugin.enabled,
      cursor: cursor ?? null,
      lag: cursor === undefined ? 0 : Math.max(0, lastPosition - cursor),
      ...count,
    });
  }
  const entries: QueueEntry[] = [];
  let truncated = false;
  for (const plugin of plugins) {
    const left = take + 1 - entries.length;
    if (left <= 0) break;
    entries.push(...await state.entries({ ...filter, plugin: plugin.name }, left));
  }
  if (entries.length > take) {
    truncated = true;
    entries.length = take;
  }
  return {
    plugins: status,
    entries: entries.filter((e) => names.has(e.plugin)).map(view),
    truncated,
  };
}

/**
 * Queue every event of an aggregate (or of every aggregate of a type) for a plugin again,
 * due now, in order. `permit` is asked for each aggregate first.
 *
 * @example
 * ```ts
 * import type { Engine } from "../../engine/engine.ts";
 * import type { DeliveryState } from "./state.ts";
 * declare const state: DeliveryState;
 * declare const engine: Engine;
 * await replayAggregate(state, engine, "audit", "patient", "p-1", () => {});
 * ```
 */
export async function replayAggregate(
  state: DeliveryState,
  engine: Engine,
  plugin: string,
  aggregateType: string,
  aggregateId: string | undefined,
  permit: (aggregateType: string, aggregateId: string) => void,
): Promise<number> {
  const ids: string[] = [];
  if (aggregateId !== undefined) {
    if (!(await engine.exists(aggregateType, aggregateId))) {
      throw new DbxError("not_found", `aggregate ${aggregateType}/${aggregateId} not found`);
    }
    ids.push(aggregateId);
  } else {
    for await (const aggregate of engine.allAggregates(aggregateType)) {
      ids.push(aggregate.aggregate_id);
    }
    if (ids.length === 0) {
      throw new DbxError("not_found", `no aggregates of type ${aggregateType}`);
    }
  }
  const events: EventRecord[] = [];
  for (const id of ids) {
    permit(aggregateType, id);
    for (let skip = 0;; skip += 1000) {
      const page = await engine.listEvents(aggregateType, id, { skip, take: 1000 });
      events.push(...page);
      if (events.length > MAX_REPLAY_EVENTS) {
        throw new DbxError(
          "limit_reached",
          `a replay queues at most ${MAX_REPLAY_EVENTS} events; replay fewer aggregates at a time`,
        );
      }
      if (page.length < 1000) break;
    }
  }
  // Events after the cursor are on their way anyway: only those handed over go again.
  const cursor = await state.cursor(plugin);
  const again = cursor === undefined ? events : events.filter((e) => e.position <= cursor);
  const now = new Date().toISOString();
  await state.enqueue(
    plugin,
    again.map((record) => queueEntry(plugin, record, now)),
  );
  return again.length;
}

/** The outcome of a connectivity check. */
export interface PluginCheck {
  name: string;
  kind: string;
  ok: boolean;
  error?: string;
}

/**
 * Check that a plugin's target is reachable (and that its kind delivers); a process
 * plugin's binary is looked for under `dataDir`.
 *
 * @example
 * ```ts
 * const result = await checkPlugin({
 *   name: "audit", kind: "log", level: "info", enabled: true,
 *   created_at: "2024-01-01T00:00:00Z", updated_at: "2024-01-01T00:00:00Z",
 * });
 * result.ok; // true
 * ```
 */
export async function checkPlugin(
  plugin: Plugin,
  timeoutMs = DEFAULT_ATTEMPT_TIMEOUT_MS,
  dataDir?: string,
): Promise<PluginCheck> {
  const base = { name: plugin.name, kind: plugin.kind };
  const sink = openSink(plugin, { timeoutMs, logLine: () => {}, dataDir });
  if (typeof sink === "string") return { ...base, ok: false, error: sink };
  try {
    await withTimeout(
      timeoutMs,
      new AbortController().signal,
      `checking ${plugin.name}`,
      (signal) => sink.check(signal),
    );
    return { ...base, ok: true };
  } catch (err) {
    return { ...base, ok: false, error: errorText(err) };
  } finally {
    await sink.close().catch(() => {});
  }
}
