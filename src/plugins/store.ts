/**
 * The plugin instances of a node: `plugins.json` in the data directory (mode 0600, written
 * atomically), `{"version": 1, "plugins": [...]}` sorted by name. Every entry is checked
 * again when the file is read, so a hand-edited file cannot hold what the API would refuse.
 * Changes in this process are serialized per file. This is configuration only: delivery
 * reads it and keeps its own state (cursors, retry queue) elsewhere.
 */
import { join } from "node:path";
import { DbxError } from "../errors.ts";
import { isJsonObject, readJsonFile, writeJsonFile } from "../util/json_file.ts";
import { withKeyLock } from "../util/keyed_lock.ts";
import { checkPluginDefinition, type Plugin, type PluginDefinition } from "./plugin.ts";

/** File name of the plugin configuration in the data directory (as the seed names it). */
export const PLUGINS_FILE = "plugins.json";
/** Most plugin instances a node keeps. */
export const MAX_PLUGINS = 256;

const FILE_VERSION = 1;

/** Where a data directory keeps its plugin configuration. */
export function pluginsPath(dataDir: string): string {
  return join(dataDir, PLUGINS_FILE);
}

function readEntry(path: string, raw: unknown, index: number): Plugin {
  try {
    if (!isJsonObject(raw)) throw new DbxError("invalid_input", "is not an object");
    const { created_at, updated_at, ...definition } = raw;
    for (const t of [created_at, updated_at]) {
      if (typeof t !== "string" || Number.isNaN(Date.parse(t))) {
        throw new DbxError("invalid_input", "created_at and updated_at must be timestamps");
      }
    }
    return {
      ...checkPluginDefinition(definition),
      created_at: created_at as string,
      updated_at: updated_at as string,
    };
  } catch (err) {
    throw new DbxError(
      "corrupt",
      `${path}: plugin #${index + 1} is invalid: ${(err as Error).message}`,
    );
  }
}

async function readAll(path: string): Promise<Plugin[]> {
  const raw = await readJsonFile(path);
  if (raw === undefined) return [];
  if (!isJsonObject(raw) || raw.version !== FILE_VERSION || !Array.isArray(raw.plugins)) {
    throw new DbxError("corrupt", `${path} is not a plugins file of version ${FILE_VERSION}`);
  }
  const plugins = raw.plugins.map((entry, i) => readEntry(path, entry, i));
  if (new Set(plugins.map((p) => p.name)).size !== plugins.length) {
    throw new DbxError("corrupt", `${path} names a plugin twice`);
  }
  return plugins;
}

function writeAll(path: string, plugins: Plugin[]): Promise<void> {
  plugins.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return writeJsonFile(path, { version: FILE_VERSION, plugins });
}

function notFound(name: string): DbxError {
  return new DbxError("not_found", `no plugin named ${JSON.stringify(name)}`);
}

/**
 * The plugin configuration of one data directory.
 *
 * @example
 * ```ts
 * const plugins = new PluginStore("/tmp/db");
 * await plugins.upsert({ name: "audit", kind: "log", level: "info", enabled: false });
 * await plugins.setEnabled("audit", true);
 * ```
 */
export class PluginStore {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = pluginsPath(dataDir);
  }

  /** Every plugin instance, by name. */
  list(): Promise<Plugin[]> {
    return readAll(this.path);
  }

  /** One plugin instance; DbxError "not_found" when there is none of that name. */
  async get(name: string): Promise<Plugin> {
    const found = (await readAll(this.path)).find((p) => p.name === name);
    if (!found) throw notFound(name);
    return found;
  }

  /** Add a plugin instance or replace its configuration; `created` says which. */
  upsert(definition: PluginDefinition): Promise<{ plugin: Plugin; created: boolean }> {
    return withKeyLock(this.path, async () => {
      const plugins = await readAll(this.path);
      const now = new Date().toISOString();
      const at = plugins.findIndex((p) => p.name === definition.name);
      if (at < 0 && plugins.length >= MAX_PLUGINS) {
        throw new DbxError("limit_reached", `a node keeps at most ${MAX_PLUGINS} plugins`);
      }
      const plugin: Plugin = {
        ...definition,
        created_at: at < 0 ? now : plugins[at].created_at,
        updated_at: now,
      };
      if (at < 0) plugins.push(plugin);
      else plugins[at] = plugin;
      await writeAll(this.path, plugins);
      return { plugin, created: at < 0 };
    });
  }

  /**
   * Change the plugins `pick` chooses, all at once: `change` gets each chosen definition and
   * returns its new one (checked again). Nothing is written when `pick` chooses none or
   * a check fails. Returns the changed plugins.
   */
  updateMany(
    pick: (plugins: readonly Plugin[]) => Plugin[],
    change: (plugin: PluginDefinition) => unknown,
  ): Promise<Plugin[]> {
    return withKeyLock(this.path, async () => {
      const plugins = await readAll(this.path);
      const chosen = new Set(pick(plugins).map((p) => p.name));
      const now = new Date().toISOString();
      const changed: Plugin[] = [];
      for (let i = 0; i < plugins.length; i++) {
        if (!chosen.has(plugins[i].name)) continue;
        const { created_at, updated_at: _u, ...definition } = plugins[i];
        const next = checkPluginDefinition(change(definition));
        if (next.name !== definition.name) throw new DbxError("invalid_input", "a name is fixed");
        plugins[i] = { ...next, created_at, updated_at: now };
        changed.push(plugins[i]);
      }
      if (changed.length > 0) await writeAll(this.path, plugins);
      return changed;
    });
  }

  /** Enable or disable a plugin instance (unchanged when it already is). */
  setEnabled(name: string, enabled: boolean): Promise<Plugin> {
    return withKeyLock(this.path, async () => {
      const plugins = await readAll(this.path);
      const at = plugins.findIndex((p) => p.name === name);
      if (at < 0) throw notFound(name);
      if (plugins[at].enabled === enabled) return plugins[at];
      plugins[at] = { ...plugins[at], enabled, updated_at: new Date().toISOString() };
      await writeAll(this.path, plugins);
      return plugins[at];
    });
  }

  /**
   * Remove a plugin instance. An enabled one is refused (DbxError "conflict"): as the seed
   * says, disable it first.
   */
  remove(name: string): Promise<Plugin> {
    return withKeyLock(this.path, async () => {
      const plugins = await readAll(this.path);
      const at = plugins.findIndex((p) => p.name === name);
      if (at < 0) throw notFound(name);
      if (plugins[at].enabled) {
        throw new DbxError(
          "conflict",
          `plugin ${JSON.stringify(name)} is enabled; disable it before removing it`,
        );
      }
      const [removed] = plugins.splice(at, 1);
      await writeAll(this.path, plugins);
      return removed;
    });
  }
}
