/**
 * Plugin configuration (`plugin.manage` on `plugin:NAME`): list, show, configure (add or
 * replace), remove (only once disabled), enable, disable. The checks of every kind's settings
 * run here, for every surface: `dbx plugin …` and `/admin/plugins` answer the same.
 */
import { pluginResource } from "../../auth/scope.ts";
import { checkPluginDefinition, checkPluginName } from "../../plugins/plugin.ts";
import { PluginStore } from "../../plugins/store.ts";
import { checkObject } from "../checks.ts";
import type { Node } from "../node.ts";
import type { Operations } from "./spec.ts";

const manage = {
  action: "plugin.manage",
  resources: (input: { name: string }) => [pluginResource(input.name)],
} as const;

const store = (node: Node) => new PluginStore(node.dataDir);

function named(raw: unknown): { name: string } {
  return { name: checkPluginName(checkObject(raw, ["name"], "the input").name) };
}

/** The plugin operations. */
export const pluginOperations: Operations<
  | "listPlugins"
  | "getPlugin"
  | "upsertPlugin"
  | "removePlugin"
  | "enablePlugin"
  | "disablePlugin"
> = {
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
    run: ({ node }, input) => store(node).upsert({ ...input, enabled: input.enabled !== false }),
  },

  removePlugin: {
    scope: manage,
    check: named,
    async run({ node }, input) {
      await store(node).remove(input.name);
      return { name: input.name, removed: true };
    },
  },

  enablePlugin: {
    scope: manage,
    check: named,
    run: ({ node }, input) => store(node).setEnabled(input.name, true),
  },

  disablePlugin: {
    scope: manage,
    check: named,
    run: ({ node }, input) => store(node).setEnabled(input.name, false),
  },
};
