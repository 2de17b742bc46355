/**
 * The aggregate's state at each event delivered, for the table kinds. Events of an
 * aggregate reach a plugin in version order, so the state after version N is the state
 * after N-1 with event N's payload folded in (the engine's own fold): a small cache of
 * recent states per aggregate makes that one step, where rebuilding from the store would
 * read every event since the last snapshot. Anything else (a replay, a gap after a dead
 * event) asks the engine.
 */
import type { Engine } from "../../engine/engine.ts";
import { foldPayload } from "../../engine/state.ts";
import type { EventRecord } from "../../engine/types.ts";
import type { StateAt } from "./sinks/rows.ts";

/** Aggregates whose latest delivered state is kept. */
const CACHED_AGGREGATES = 1000;

/**
 * A StateAt over `engine` with its own cache (one per plugin).
 *
 * @example
 * ```ts
 * import type { Engine } from "../../engine/engine.ts";
 * declare const engine: Engine;
 * const stateAt = cachedStateAt(engine);
 * ```
 */
export function cachedStateAt(engine: Engine, size = CACHED_AGGREGATES): StateAt {
  const cache = new Map<string, { version: number; state: Record<string, unknown> }>();
  return async (record: EventRecord) => {
    const key = `${record.aggregate_type}\u0000${record.aggregate_id}`;
    const before = cache.get(key);
    let state: Record<string, unknown>;
    if (record.version === 1) state = foldPayload({}, record.payload);
    else if (before && before.version === record.version - 1) {
      state = foldPayload(before.state, record.payload);
    } else {
      state = (await engine.getAggregate(record.aggregate_type, record.aggregate_id, {
        version: record.version,
      })).state;
    }
    cache.delete(key); // most recent last
    cache.set(key, { version: record.version, state });
    if (cache.size > size) cache.delete(cache.keys().next().value!);
    return state;
  };
}
