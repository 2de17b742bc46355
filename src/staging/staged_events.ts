/**
 * The staging queue: events prepared with `aggregate apply --stage` and written
 * later, all at once, by `aggregate commit`. It is a plain file beside the store
 * so that staging keeps working while a server holds the store's lock.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../config/mod.ts";
import { DbxError } from "../errors.ts";
import type { AppendInput } from "../engine/types.ts";

export const STAGED_FILE = "staged_events.json";

export interface StagedEvent extends AppendInput {
  staged_at: string;
}

export function stagedPath(dataDir: string): string {
  return join(dataDir, STAGED_FILE);
}

/** The staged events, oldest first; an absent file is an empty queue. */
export async function readStaged(dataDir: string): Promise<StagedEvent[]> {
  const path = stagedPath(dataDir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  try {
    const parsed = JSON.parse(text);
    if (!Array.isArray(parsed)) throw new Error("not a list");
    return parsed as StagedEvent[];
  } catch (err) {
    throw new DbxError(
      "corrupt",
      `staged events file ${path} is corrupt (${(err as Error).message}); fix or remove it`,
    );
  }
}

/** Replace the staged queue (atomically). */
export async function writeStaged(dataDir: string, events: StagedEvent[]): Promise<void> {
  if (events.length === 0) {
    await Deno.remove(stagedPath(dataDir)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    return;
  }
  const text = JSON.stringify(events, null, 2) + "\n";
  await writeFileAtomic(stagedPath(dataDir), new TextEncoder().encode(text), 0o600);
}

/**
 * The staging queue of one data directory, with changes made one at a time in this
 * process (a server answering several staging requests at once loses none of them).
 *
 * @example
 * ```ts
 * const staging = new StagingArea("/tmp/db");
 * const count = await staging.update(async (events) => {
 *   const next = [...events, {
 *     aggregate_type: "patient",
 *     aggregate_id: "p-001",
 *     event_type: "patient-added",
 *     payload: { name: "Jane" },
 *     staged_at: new Date().toISOString(),
 *   }];
 *   return [next, next.length];
 * }); // how many events are staged now
 * ```
 */
export class StagingArea {
  readonly dataDir: string;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.dataDir = dataDir;
  }

  /** The staged events, oldest first. */
  read(): Promise<StagedEvent[]> {
    return readStaged(this.dataDir);
  }

  /**
   * Replace the queue with what `change` makes of it; `change` may also return a result of
   * its own (`[events, result]`). Nothing is written when it throws.
   */
  update<T>(change: (events: StagedEvent[]) => Promise<[StagedEvent[], T]>): Promise<T> {
    const run = async () => {
      const [events, result] = await change(await readStaged(this.dataDir));
      await writeStaged(this.dataDir, events);
      return result;
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => {});
    return next;
  }
}
