/**
 * Plugin configuration (`plugin.manage` on `plugin:NAME`): list, show, configure (add or
 * replace), remove (only once disabled), enable, disable. The checks of every kind's settings
 * run here, for every surface: `dbx plugin …` and `/admin/plugins` answer the same.
 */
import { aggregateResource, pluginResource } from "../../auth/scope.ts";
import { DbxError } from "../../errors.ts";
import { checkPlugin, queueReport, replayAggregate } from "../../plugins/delivery/manage.ts";
import { withDeliveryState } from "../../plugins/delivery/registry.ts";
import {
  checkColumnTypes,
  checkPluginDefinition,
  checkPluginName,
  checkPluginVersion,
  type Plugin,
  TABLE_KINDS,
} from "../../plugins/plugin.ts";
import { PluginStore } from "../../plugins/store.ts";
import {
  checkChecksum,
  checkSource,
  installBundle,
  readSource,
} from "../../plugins/process/install.ts";
import {
  checkName,
  checkObject,
  optionalBoolean,
  optionalInteger,
  optionalString,
  requiredString,
} from "../checks.ts";
import type { Node } from "../node.ts";
import type { Operations } from "./spec.ts";
import { checkLabel } from "../../util/label.ts";

const manage = {
  action: "plugin.manage",
  resources: (input: { name: string }) => [pluginResource(input.name)],
} as const;

const store = (node: Node) => new PluginStore(node.dataDir);

function named(raw: unknown): { name: string } {
  return { name: checkPluginName(checkObject(raw, ["name"], "the input").name) };
}

/** `plugin:NAME`, or `plugin:*` for an operation on every plugin. */
const manageNamed = {
  action: "plugin.manage",
  resources: (input: { name?: string }) => [pluginResource(input.name)],
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The optional plugin name and event id that pick queue entries. */
function queueSelection(raw: unknown, extra: string[] = []) {
  const body = checkObject(raw ?? {}, ["name", "event_id", ...extra], "the input");
  const name = body.name === undefined || body.name === null
    ? undefined
    : checkPluginName(body.name);
  const eventId = optionalString(body, "event_id");
  if (eventId !== undefined && !UUID.test(eventId)) {
    throw new DbxError("invalid_input", "event_id must be a UUID");
  }
  return { body, name, event_id: eventId };
}

/** The input of `queue retry` and `queue clear`: one plugin, one event, or all. */
function checkQueueSelection(raw: unknown): { name?: string; event_id?: string } {
  const { name, event_id } = queueSelection(raw);
  return { name, event_id };
}

const MAX_QUEUE_TAKE = 1000;

type TablePlugin = Extract<Plugin, { kind: (typeof TABLE_KINDS)[number] }>;
const isTable = <T extends { kind: string }>(p: T): p is T & Pick<TablePlugin, "column_types"> =>
  (TABLE_KINDS as readonly string[]).includes(p.kind);

/** The plugin operations. */
export const pluginOperations: Operations<
  | "listPlugins"
  | "getPlugin"
  | "upsertPlugin"
  | "removePlugin"
  | "enablePlugin"
  | "disablePlugin"
  | "pluginQueue"
  | "retryPluginQueue"
  | "clearPluginQueue"
  | "replayPlugin"
  | "installPlugin"
  | "testPlugins"
  | "mapPluginField"
> = {
  installPlugin: {
    // Installing a binary that process plugins then run is as much as managing them all.
    scope: { action: "plugin.manage", resources: () => [pluginResource()] },
    check(raw) {
      const body = checkObject(
        raw,
        ["plugin", "version", "source", "bin", "checksum", "force"],
        "the input",
      );
      const out: {
        plugin: string;
        version: string;
        source: string;
        bin?: string;
        checksum?: string;
        force?: boolean;
      } = {
        plugin: checkLabel("plugin", body.plugin),
        version: checkPluginVersion(body.version),
        source: checkSource(body.source),
      };
      const bin = optionalString(body, "bin");
      if (bin !== undefined) out.bin = bin;
      if (body.checksum !== undefined && body.checksum !== null) {
        out.checksum = checkChecksum(body.checksum);
      }
      const force = optionalBoolean(body, "force");
      if (force !== undefined) out.force = force;
      return out;
    },
    async run({ node }, input) {
      const bytes = await readSource(input.source);
      return await installBundle(node.dataDir, {
        plugin: input.plugin,
        version: input.version,
        bytes,
        bin: input.bin,
        checksum: input.checksum,
        force: input.force,
      });
    },
  },

  listPlugins: {
    scope: { action: "plugin.manage", resources: "filtered" },
    check: (raw) => checkObject(raw ?? {}, [], "the input") as Record<string, never>,
    async run({ node, who }) {
      const all = await store(node).list();
      return all.filter((p) => node.access.allows(who, "plugin.manage", pluginResource(p.name)));
    },
  },

  getPlugin: {
    scope: manage,
    check: named,
    run: ({ node }, input) => store(node).get(input.name),
  },

  upsertPlugin: {
    scope: manage,
    check: (raw) => checkPluginDefinition(raw),
    async run({ node, engine }, input) {
      const definition = { ...input, enabled: input.enabled !== false };
      // Configuring a table plugin again keeps the column types `plugin map` gave it.
      if (isTable(definition) && definition.column_types === undefined) {
        const before = (await store(node).list()).find((p) => p.name === input.name);
        if (before && isTable(before) && before.column_types) {
          definition.column_types = before.column_types;
        }
      }
      const result = await store(node).upsert(definition);
      if (result.created) {
        // Delivery starts after what is committed now, also when no server runs yet.
        const last = await (await engine()).lastPosition();
        await withDeliveryState(node.dataDir, (state) => state.initCursor(input.name, last));
      }
      return result;
    },
  },

  removePlugin: {
    scope: manage,
    check: named,
    async run({ node }, input) {
      await store(node).remove(input.name);
      // Its cursor and queue go with it: a new plugin of that name starts afresh.
      await withDeliveryState(node.dataDir, (state) => state.drop(input.name));
      return { name: input.name, removed: true };
    },
  },

  enablePlugin: {
    scope: manage,
    check: (raw) => {
      const body = checkObject(raw, ["name", "check"], "the input");
      const check = optionalBoolean(body, "check");
      return check === undefined
        ? { name: checkPluginName(body.name) }
        : { name: checkPluginName(body.name), check };
    },
    async run({ node }, input) {
      if (input.check) {
        // As the seed says: enabling checks connectivity first, and refuses when it fails.
        const result = await checkPlugin(
          await store(node).get(input.name),
          undefined,
          node.dataDir,
        );
        if (!result.ok) {
          throw new DbxError(
            "unavailable",
            `plugin ${JSON.stringify(input.name)} is not reachable: ${result.error}`,
          );
        }
      }
      return await store(node).setEnabled(input.name, true);
    },
  },

  disablePlugin: {
    scope: manage,
    check: named,
    run: ({ node }, input) => store(node).setEnabled(input.name, false),
  },

  pluginQueue: {
    scope: { action: "plugin.manage", resources: "filtered" },
    check(raw) {
      const { body, name, event_id } = queueSelection(raw, ["status", "take"]);
      const status = optionalString(body, "status");
      if (status !== undefined && status !== "pending" && status !== "dead") {
        throw new DbxError("invalid_input", "status must be pending or dead");
      }
      const take = Math.min(optionalInteger(body, "take", 0) ?? 100, MAX_QUEUE_TAKE);
      return { name, event_id, status: status as "pending" | "dead" | undefined, take };
    },
    async run({ node, who, engine }, input) {
      const all = await store(node).list();
      if (input.name !== undefined && !all.some((p) => p.name === input.name)) {
        throw new DbxError("not_found", `no plugin named ${JSON.stringify(input.name)}`);
      }
      const plugins = all.filter((p) =>
        (input.name === undefined || p.name === input.name) &&
        node.access.allows(who, "plugin.manage", pluginResource(p.name))
      );
      const last = await (await engine()).lastPosition();
      return await withDeliveryState(node.dataDir, (state) =>
        queueReport(state, plugins, last, {
          status: input.status,
          event_id: input.event_id,
        }, input.take ?? 100));
    },
  },

  retryPluginQueue: {
    scope: manageNamed,
    check: checkQueueSelection,
    async run({ node }, input) {
      if (input.name !== undefined) await store(node).get(input.name);
      const retried = await withDeliveryState(
        node.dataDir,
        (state) => state.retry({ plugin: input.name, event_id: input.event_id }),
      );
      return { retried };
    },
  },

  clearPluginQueue: {
    scope: manageNamed,
    check: checkQueueSelection,
    async run({ node }, input) {
      if (input.name !== undefined) await store(node).get(input.name);
      const cleared = await withDeliveryState(
        node.dataDir,
        (state) => state.clear({ plugin: input.name, event_id: input.event_id, status: "dead" }),
      );
      return { cleared };
    },
  },

  replayPlugin: {
    scope: manage,
    check(raw) {
      const body = checkObject(raw, ["name", "aggregate_type", "aggregate_id"], "the input");
      const type = checkName("aggregate type", requiredString(body, "aggregate_type"));
      const id = optionalString(body, "aggregate_id");
      const out = { name: checkPluginName(body.name), aggregate_type: type };
      return id === undefined ? out : { ...out, aggregate_id: checkName("aggregate id", id) };
    },
    async run({ node, engine, permit }, input) {
      await store(node).get(input.name);
      const db = await engine();
      const queued = await withDeliveryState(node.dataDir, (state) =>
        replayAggregate(
          state,
          db,
          input.name,
          input.aggregate_type,
          input.aggregate_id,
          (type, id) => permit("aggregate.read", aggregateResource(type, id)),
        ));
      return { name: input.name, queued };
    },
  },

  testPlugins: {
    scope: { action: "plugin.manage", resources: "filtered" },
    check: (raw) => {
      const body = checkObject(raw ?? {}, ["name"], "the input");
      return body.name === undefined || body.name === null
        ? {}
        : { name: checkPluginName(body.name) };
    },
    async run({ node, who }, input) {
      const all = await store(node).list();
      if (input.name !== undefined && !all.some((p) => p.name === input.name)) {
        throw new DbxError("not_found", `no plugin named ${JSON.stringify(input.name)}`);
      }
      // One plugin by name (enabled or not), else every enabled one.
      const chosen = all.filter((p) =>
        (input.name === undefined ? p.enabled : p.name === input.name) &&
        node.access.allows(who, "plugin.manage", pluginResource(p.name))
      );
      if (input.name !== undefined && chosen.length === 0) {
        throw new DbxError("forbidden", `the caller may not manage plugin ${input.name}`);
      }
      return await Promise.all(chosen.map((p) => checkPlugin(p, undefined, node.dataDir)));
    },
  },

  mapPluginField: {
    // plugin:NAME when one is named (or a kind), plugin:* for every table plugin; each
    // plugin changed is checked again while running.
    scope: {
      action: "plugin.manage",
      resources: (input) => [pluginResource(input.plugin)],
    },
    check(raw) {
      const body = checkObject(raw, ["aggregate_type", "field", "datatype", "plugin"], "the input");
      const aggregateType = requiredString(body, "aggregate_type");
      const field = requiredString(body, "field");
      const datatype = requiredString(body, "datatype");
      // The same checks as a stored mapping, and the type in its canonical form.
      const types = checkColumnTypes({ [aggregateType]: { [field]: datatype } })!;
      const out = { aggregate_type: aggregateType, field, datatype: types[aggregateType][field] };
      return body.plugin === undefined || body.plugin === null
        ? out
        : { ...out, plugin: checkPluginName(body.plugin) };
    },
    async run({ node, permit }, input) {
      const kinds = TABLE_KINDS.join(", ");
      const plugins = await store(node).updateMany(
        (all) => {
          let chosen: Plugin[];
          if (input.plugin === undefined) {
            chosen = all.filter(isTable);
            if (chosen.length === 0) {
              throw new DbxError("not_found", `no ${kinds} plugin is configured`);
            }
          } else {
            const named = all.find((p) => p.name === input.plugin);
            // The older seed named plugins by kind: `--plugin postgres` is every postgres one.
            chosen = named ? [named] : all.filter((p) => p.kind === input.plugin && isTable(p));
            if (chosen.length === 0) {
              throw new DbxError("not_found", `no plugin named ${JSON.stringify(input.plugin)}`);
            }
            if (named && !isTable(named)) {
              throw new DbxError(
                "invalid_input",
                `plugin ${named.name} is a ${named.kind} plugin; column types apply to ${kinds}`,
              );
            }
          }
          for (const p of chosen) permit("plugin.manage", pluginResource(p.name));
          return chosen;
        },
        (p) => {
          const types = { ...(isTable(p) ? p.column_types : undefined) };
          types[input.aggregate_type] = {
            ...types[input.aggregate_type],
            [input.field]: input.datatype,
          };
          return { ...p, column_types: types };
        },
      );
      return { ...input, plugins };
    },
  },
};
