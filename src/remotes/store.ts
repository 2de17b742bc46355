/**
 * The remotes of a node: `remotes.json` in the data directory (mode 0600, written
 * atomically), `{"version": 1, "remotes": [...]}` sorted by name. Every entry is checked
 * again when the file is read, so a hand-edited file cannot smuggle in what the API would
 * refuse. Changes in this process are serialized per file.
 */
import { join } from "node:path";
import { DbxError } from "../errors.ts";
import { isJsonObject as isObject, readJsonFile, writeJsonFile } from "../util/json_file.ts";
import { withKeyLock } from "../util/keyed_lock.ts";
import {
  checkEndpoint,
  checkPublicKey,
  checkRemoteName,
  type Remote,
  type RemoteDefinition,
} from "./remote.ts";

/** File name of the remotes in the data directory. */
export const REMOTES_FILE = "remotes.json";
/** Most remotes a node keeps. */
export const MAX_REMOTES = 1024;

const FILE_VERSION = 1;

/** Where a data directory keeps its remotes. */
export function remotesPath(dataDir: string): string {
  return join(dataDir, REMOTES_FILE);
}

function readEntry(path: string, raw: unknown, index: number): Remote {
  const where = `${path}: remote #${index + 1}`;
  try {
    if (!isObject(raw)) throw new DbxError("invalid_input", "is not an object");
    const times = [raw.created_at, raw.updated_at];
    if (!times.every((t) => typeof t === "string" && !Number.isNaN(Date.parse(t)))) {
      throw new DbxError("invalid_input", "created_at and updated_at must be timestamps");
    }
    return {
      name: checkRemoteName(raw.name),
      endpoint: checkEndpoint(raw.endpoint),
      public_key: checkPublicKey(raw.public_key),
      created_at: raw.created_at as string,
      updated_at: raw.updated_at as string,
    };
  } catch (err) {
    throw new DbxError("corrupt", `${where} is invalid: ${(err as Error).message}`);
  }
}

async function readAll(path: string): Promise<Remote[]> {
  const raw = await readJsonFile(path);
  if (raw === undefined) return [];
  if (!isObject(raw) || raw.version !== FILE_VERSION || !Array.isArray(raw.remotes)) {
    throw new DbxError("corrupt", `${path} is not a remotes file of version ${FILE_VERSION}`);
  }
  const remotes = raw.remotes.map((entry, i) => readEntry(path, entry, i));
  if (new Set(remotes.map((r) => r.name)).size !== remotes.length) {
    throw new DbxError("corrupt", `${path} names a remote twice`);
  }
  return remotes;
}

function writeAll(path: string, remotes: Remote[]): Promise<void> {
  remotes.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return writeJsonFile(path, { version: FILE_VERSION, remotes });
}

function notFound(name: string): DbxError {
  return new DbxError("not_found", `no remote named ${JSON.stringify(name)}`);
}

/**
 * The remotes of one data directory.
 *
 * @example
 * ```ts
 * const remotes = new RemoteStore("/tmp/db");
 * await remotes.upsert({
 *   name: "standby",
 *   endpoint: "tcp://10.0.0.2:6363",
 *   public_key: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
 * });
 * (await remotes.list()).map((r) => r.name); // ["standby"]
 * ```
 */
export class RemoteStore {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = remotesPath(dataDir);
  }

  /** Every remote, by name. */
  list(): Promise<Remote[]> {
    return readAll(this.path);
  }

  /** One remote; DbxError "not_found" when there is none of that name. */
  async get(name: string): Promise<Remote> {
    const found = (await readAll(this.path)).find((r) => r.name === name);
    if (!found) throw notFound(name);
    return found;
  }

  /** Add a remote or replace the endpoint and key of one; `created` says which. */
  upsert(definition: RemoteDefinition): Promise<{ remote: Remote; created: boolean }> {
    return withKeyLock(this.path, async () => {
      const remotes = await readAll(this.path);
      const now = new Date().toISOString();
      const at = remotes.findIndex((r) => r.name === definition.name);
      if (at < 0 && remotes.length >= MAX_REMOTES) {
        throw new DbxError("limit_reached", `a node keeps at most ${MAX_REMOTES} remotes`);
      }
      const remote: Remote = {
        name: definition.name,
        endpoint: definition.endpoint,
        public_key: definition.public_key,
        created_at: at < 0 ? now : remotes[at].created_at,
        updated_at: now,
      };
      if (at < 0) remotes.push(remote);
      else remotes[at] = remote;
      await writeAll(this.path, remotes);
      return { remote, created: at < 0 };
    });
  }

  /** Remove a remote; DbxError "not_found" when there is none of that name. */
  remove(name: string): Promise<Remote> {
    return withKeyLock(this.path, async () => {
      const remotes = await readAll(this.path);
      const at = remotes.findIndex((r) => r.name === name);
      if (at < 0) throw notFound(name);
      const [removed] = remotes.splice(at, 1);
      await writeAll(this.path, remotes);
      return removed;
    });
  }
}
