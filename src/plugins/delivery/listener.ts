/**
 * Delivery as one of the things a server starts and stops with itself (the server's
 * `OwnListener` shape): it serves no port, it starts with the node's engine and stops
 * before the store closes.
 */
import type { Node } from "../../api/node.ts";
import { type DeliveryOptions, startDelivery } from "./service.ts";

/** A started delivery, as the server keeps it. */
export interface DeliveryListener {
  served: { surface: string; url: string }[];
  /** The plugins being delivered to now, with their cursors. */
  cursors(): Map<string, number>;
  shutdown(gracePeriodMs: number): Promise<boolean>;
  readonly finished: Promise<string | undefined>;
}

/**
 * Start delivering a node's committed events to its plugins.
 *
 * @example
 * ```ts
 * import type { Node } from "../../api/node.ts";
 * declare const node: Node;
 * const delivery = await startPluginDelivery(node);
 * await delivery.shutdown(1000);
 * ```
 */
export async function startPluginDelivery(
  node: Node,
  options: Partial<Omit<DeliveryOptions, "dataDir" | "engine">> = {},
): Promise<DeliveryListener> {
  const delivery = await startDelivery({
    dataDir: node.dataDir,
    engine: await node.engine(),
    maxAttempts: () => node.config.plugin_max_attempts,
    schemaColumnTypes: (type) => {
      const schema = node.schemas.get(type);
      return schema &&
        Object.fromEntries(Object.entries(schema.columns).map(([field, c]) => [field, c.type]));
    },
    ...options,
  });
  const finished = Promise.withResolvers<string | undefined>();
  return {
    served: [],
    cursors: () => delivery.cursors(),
    async shutdown() {
      await delivery.shutdown();
      finished.resolve(undefined);
      return true;
    },
    finished: finished.promise,
  };
}
