/**
 * Where `dbx schema` changes go: the local schema file, or, while a server runs on the
 * data directory, the server's REST API (so the server validates with the new schema at
 * once). Both sides offer the same methods, so a handler only picks one.
 */
import type { CommonOptions } from "../cli/common.ts";
import type { ImportOptions, SchemaStore } from "../schema/store.ts";
import type { AggregateSchema, SchemaAlteration } from "../schema/types.ts";
import type { DbxHttpClient } from "./http_client.ts";
import { serverClient } from "./proxy.ts";

/** The schema changes the CLI makes (a subset of SchemaStore). */
export interface SchemaWriter {
  create(
    aggregate: string,
    options: { events: string[]; snapshot_threshold?: number },
  ): Promise<AggregateSchema>;
  addEvents(aggregate: string, events: string[]): Promise<AggregateSchema>;
  removeEvent(aggregate: string, event: string): Promise<AggregateSchema>;
  annotate(aggregate: string, event: string, note: string | null): Promise<AggregateSchema>;
  alter(aggregate: string, changes: SchemaAlteration): Promise<AggregateSchema>;
  delete(aggregate: string): Promise<void>;
  importJson(text: string, options?: ImportOptions): Promise<AggregateSchema[]>;
}

/**
 * Schema changes through a running server's REST API.
 *
 * @example
 * ```ts
 * await remoteSchemaWriter(client).create("patient", { events: ["patient-added"] });
 * ```
 */
export function remoteSchemaWriter(client: DbxHttpClient): SchemaWriter {
  return {
    create: (aggregate, options) =>
      client.createSchema(aggregate, options.events, options.snapshot_threshold),
    addEvents: (aggregate, events) => client.addSchemaEvents(aggregate, events),
    removeEvent: (aggregate, event) => client.removeSchemaEvent(aggregate, event),
    annotate: (aggregate, event, note) => client.annotateSchemaEvent(aggregate, event, note),
    alter: (aggregate, changes) => client.alterSchema(aggregate, changes),
    delete: async (aggregate) => void await client.deleteSchema(aggregate),
    importJson: (text, options) => client.importSchemas(text, options?.replace ?? false),
  };
}

/**
 * The running server's API when one serves the data directory, else the local store
 * that `openLocal` opens. The token comes from `EVENTDBX_TOKEN` or is minted locally.
 *
 * @example
 * ```ts
 * const store = await schemaWriter(options, () => SchemaStore.open(dataDir));
 * await store.addEvents("patient", ["patient-moved"]);
 * ```
 */
export async function schemaWriter(
  options: CommonOptions,
  openLocal: () => Promise<SchemaStore>,
): Promise<SchemaWriter> {
  const server = await serverClient(options);
  return server ? remoteSchemaWriter(server) : await openLocal();
}
