/**
 * Delivery for a whole node, started with the server: one worker per enabled plugin that
 * can deliver, following `plugins.json` (looked at every second, and at once when an API
 * operation changed a queue). A plugin whose configuration changed restarts from its
 * cursor; a disabled one stops and keeps its cursor, so it resumes where it stopped.
 */
import type { Engine } from "../../engine/engine.ts";
import { errorText } from "./sinks/sink.ts";
import type { Plugin } from "../plugin.ts";
import { PluginStore } from "../store.ts";
import { type BackoffPolicy, type Clock, DEFAULT_BACKOFF, systemClock } from "./backoff.ts";
import { acquireDeliveryState, releaseDeliveryState } from "./registry.ts";
import type { SchemaColumnTypes } from "./sinks/column_types.ts";
import { openSink } from "./sinks/mod.ts";
import { cachedStateAt } from "./state_at.ts";
import { PluginWorker } from "./worker.ts";

/** Default time one attempt may take. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;

export interface DeliveryOptions {
  dataDir: string;
  engine: Engine;
  /** `plugin_max_attempts`, read at every failure. */
  maxAttempts: () => number;
  clock?: Clock;
  backoff?: BackoffPolicy;
  /** How often `plugins.json` is read (default 1000 ms). */
  pollMs?: number;
  /** Longest time one attempt may take (default 10 s). */
  attemptTimeoutMs?: number;
  /** Worker tuning, for tests. */
  idleMs?: number;
  pauseAt?: number;
  random?: () => number;
  /** Where log plugins write and problems are reported (stderr by default). */
  log?: (line: string) => void;
  /** The schema's column types of an aggregate type (the table kinds' default types). */
  schemaColumnTypes?: SchemaColumnTypes;
}

interface Running {
  config: string;
  worker?: PluginWorker;
  /** Why it does not run, once reported. */
  problem?: string;
}

/** A running delivery. */
export interface PluginDelivery {
  /** The cursor of each running plugin. */
  cursors(): Map<string, number>;
  /** Stop every worker and close the delivery store. */
  shutdown(): Promise<void>;
}

/**
 * Start delivering to the node's plugins.
 *
 * @example
 * ```ts
 * import type { Engine } from "../../engine/engine.ts";
 * declare const engine: Engine;
 * const delivery = await startDelivery({ dataDir: "/tmp/db", engine, maxAttempts: () => 10 });
 * await delivery.shutdown();
 * ```
 */
export async function startDelivery(options: DeliveryOptions): Promise<PluginDelivery> {
  const log = options.log ?? ((line: string) => console.error(line));
  const state = await acquireDeliveryState(options.dataDir);
  const store = new PluginStore(options.dataDir);
  const running = new Map<string, Running>();
  let stopped = false;
  let syncing: Promise<void> = Promise.resolve();

  const stopWorker = async (name: string) => {
    const r = running.get(name);
    running.delete(name);
    await r?.worker?.stop();
  };

  const startWorker = async (plugin: Plugin, config: string) => {
    const sink = openSink(plugin, {
      timeoutMs: options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS,
      logLine: log,
      stateAt: cachedStateAt(options.engine),
      dataDir: options.dataDir,
      schemaColumnTypes: options.schemaColumnTypes,
    });
    if (typeof sink === "string") {
      log(`warning: plugin ${plugin.name}: ${sink}; its events wait until it can deliver`);
      running.set(plugin.name, { config, problem: sink });
      return;
    }
    const worker = await PluginWorker.start({
      name: plugin.name,
      engine: options.engine,
      state,
      sink,
      clock: options.clock ?? systemClock,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      maxAttempts: options.maxAttempts,
      idleMs: options.idleMs,
      pauseAt: options.pauseAt,
      random: options.random,
      warn: (message) => log(`warning: ${message}`),
    });
    running.set(plugin.name, { config, worker });
  };

  const sync = async () => {
    let plugins: Plugin[];
    try {
      plugins = await store.list();
    } catch (err) {
      log(`warning: plugin delivery cannot read the plugins: ${errorText(err)}`);
      return;
    }
    const wanted = new Map(
      plugins.filter((p) => p.enabled).map((p) => {
        const { created_at: _c, updated_at: _u, ...definition } = p;
        return [p.name, { plugin: p, config: JSON.stringify(definition) }];
      }),
    );
    for (const [name, r] of [...running]) {
      if (wanted.get(name)?.config !== r.config) await stopWorker(name);
    }
    for (const [name, { plugin, config }] of wanted) {
      if (stopped) return;
      if (running.has(name)) continue;
      try {
        await startWorker(plugin, config);
      } catch (err) {
        log(`warning: plugin ${name} cannot start: ${errorText(err)}`);
      }
    }
  };
  const resync = () => {
    syncing = syncing.then(() => stopped ? undefined : sync());
    return syncing;
  };

  try {
    await resync();
  } catch (err) {
    await releaseDeliveryState(options.dataDir);
    throw err;
  }
  const timer = setInterval(() => void resync(), options.pollMs ?? 1000);
  const unsubscribe = state.onChange(() => void resync());

  return {
    cursors() {
      const out = new Map<string, number>();
      for (const [name, r] of running) if (r.worker) out.set(name, r.worker.cursor);
      return out;
    },
    async shutdown() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      unsubscribe();
      await syncing.catch(() => {});
      await Promise.all([...running.keys()].map(stopWorker));
      await releaseDeliveryState(options.dataDir);
    },
  };
}
