/**
 * The staging queue: events prepared with `aggregate apply --stage` and written later, all at
 * once, by `aggregate commit`. It is a file beside the store (`staged_events.json`), sealed
 * with the DEK like stored payloads (AES-256-GCM, the file name as associated data), written
 * atomically with mode 0600. A plaintext file left by an older version is still read, and
 * sealed on the next change.
 */
import { join } from "node:path";
import { open, seal } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import type { AppendInput } from "../engine/types.ts";
import { writeFileAtomic } from "../util/atomic_file.ts";

export const STAGED_FILE = "staged_events.json";
const AAD = new TextEncoder().encode(STAGED_FILE);

export interface StagedEvent extends AppendInput {
  staged_at: string;
}

/**
 * Path of the staging file of a data directory.
 *
 * @example
 * ```ts
 * stagedPath("/tmp/db"); // "/tmp/db/staged_events.json"
 * ```
 */
export function stagedPath(dataDir: string): string {
  return join(dataDir, STAGED_FILE);
}

function corrupt(path: string, why: string): DbxError {
  return new DbxError(
    "corrupt",
    `staged events file ${path} is corrupt (${why}); fix or remove it`,
  );
}

/**
 * The staged events, oldest first; an absent file is an empty queue.
 *
 * @example
 * ```ts
 * const dek = crypto.getRandomValues(new Uint8Array(32));
 * const staged = await readStaged("/tmp/db", dek); // StagedEvent[]
 * ```
 */
export async function readStaged(dataDir: string, dek: Uint8Array): Promise<StagedEvent[]> {
  const path = stagedPath(dataDir);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  let plain = bytes;
  // An older version wrote the list in plaintext: it starts with "[".
  if (bytes[0] !== 0x5b) {
    try {
      plain = open(dek, bytes, AAD);
    } catch (err) {
      if (err instanceof DbxError && err.code === "wrong_key") {
        throw new DbxError(
          "wrong_key",
          `cannot decrypt ${path}: the data encryption key (DEK) is wrong or the file was altered`,
        );
      }
      throw corrupt(path, "it cannot be opened");
    }
  }
  try {
    const parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
    if (!Array.isArray(parsed)) throw new Error("not a list");
    return parsed as StagedEvent[];
  } catch (err) {
    throw corrupt(path, (err as Error).message);
  }
}

/**
 * Replace the staged queue (atomically, sealed, mode 0600); an empty queue removes the file.
 *
 * @example
 * ```ts
 * const dek = crypto.getRandomValues(new Uint8Array(32));
 * await writeStaged("/tmp/db", [], dek);
 * ```
 */
export async function writeStaged(
  dataDir: string,
  events: StagedEvent[],
  dek: Uint8Array,
): Promise<void> {
  if (events.length === 0) {
    await Deno.remove(stagedPath(dataDir)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    return;
  }
  const plain = new TextEncoder().encode(JSON.stringify(events));
  await writeFileAtomic(stagedPath(dataDir), seal(dek, plain, AAD), 0o600);
}

/**
 * The staging queue of one data directory, with changes made one at a time in this
 * process (a server answering several staging requests at once loses none of them).
 *
 * @example
 * ```ts
 * const dek = crypto.getRandomValues(new Uint8Array(32));
 * const staging = new StagingArea("/tmp/db", () => dek);
 * await staging.update((events) => Promise.resolve([events, events.length]));
 * ```
 */
export class StagingArea {
  readonly dataDir: string;
  readonly #dek: () => Uint8Array;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string, dek: () => Uint8Array) {
    this.dataDir = dataDir;
    this.#dek = dek;
  }

  /** The staged events, oldest first. */
  read(): Promise<StagedEvent[]> {
    return readStaged(this.dataDir, this.#dek());
  }

  /**
   * Replace the queue with what `change` makes of it; `change` also returns a result of its
   * own (`[events, result]`). Nothing is written when it throws.
   */
  update<T>(change: (events: StagedEvent[]) => Promise<[StagedEvent[], T]>): Promise<T> {
    const run = async () => {
      const dek = this.#dek();
      const [events, result] = await change(await readStaged(this.dataDir, dek));
      await writeStaged(this.dataDir, events, dek);
      return result;
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => {});
    return next;
  }
}
