/** Shared helpers for the engine suites: a real Engine on a temp dir, input builders, folds. */
import { fileURLToPath } from "node:url";
import { Engine, type EngineOptions, storePath } from "../../src/engine/engine.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import type { Storage } from "../../src/store/storage.ts";
import { foldPayload } from "../../src/engine/state.ts";
import type { AppendInput, EventRecord } from "../../src/engine/types.ts";
import { randomDek, withTempDir } from "../_helpers/temp.ts";

export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
export { randomDek, withTempDir };

export interface EngineContext {
  dir: string;
  dek: Uint8Array;
  /** The storage the current engine runs on, for tests that read or alter stored bytes. */
  readonly storage: Storage;
  /** Close the current engine and open a new one on the same dir and DEK. */
  reopen(options?: Partial<EngineOptions>): Promise<Engine>;
}

/**
 * Open an Engine on a fresh temp dir with a random DEK; close it and remove the dir afterwards.
 *
 * @example
 * ```ts
 * await withEngine(async (engine) => { await engine.append(event("t", "1")); });
 * ```
 */
export function withEngine<T>(
  fn: (engine: Engine, ctx: EngineContext) => Promise<T>,
  options: Partial<EngineOptions> = {},
): Promise<T> {
  return withTempDir(async (dir) => {
    const dek = randomDek();
    let storage: Storage;
    const open = async (more: Partial<EngineOptions>) => {
      storage = await openRocksStorage(storePath(dir), { readOnly: more.readOnly });
      return await Engine.open({ dataDir: dir, dek, storage, ...more });
    };
    let engine = await open(options);
    const ctx: EngineContext = {
      dir,
      dek,
      get storage() {
        return storage;
      },
      async reopen(more = {}) {
        await engine.close();
        engine = await open({ ...options, ...more });
        return engine;
      },
    };
    try {
      return await fn(engine, ctx);
    } finally {
      await engine.close();
    }
  }, "dbx-engine-test-");
}

/**
 * An append input with a payload.
 *
 * @example
 * ```ts
 * await engine.append(event("patient", "p-1", { name: "Jane" }));
 * ```
 */
export function event(
  type: string,
  id: string,
  payload: Record<string, unknown> = { n: 1 },
  more: Partial<AppendInput> = {},
): AppendInput {
  return { aggregate_type: type, aggregate_id: id, event_type: "changed", payload, ...more };
}

/** The state a list of events folds to, computed independently of the engine's reads. */
export function foldEvents(events: EventRecord[]): Record<string, unknown> {
  return events.reduce((state, e) => foldPayload(state, e.payload), {} as Record<string, unknown>);
}

/** [1, 2, …, n]. */
export function range1(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Split settled results into values and DbxError codes. */
export function settle<T>(results: PromiseSettledResult<T>[]): { ok: T[]; codes: string[] } {
  const ok: T[] = [];
  const codes: string[] = [];
  for (const r of results) {
    if (r.status === "fulfilled") ok.push(r.value);
    else codes.push((r.reason as { code?: string }).code ?? String(r.reason));
  }
  return { ok, codes };
}
