/**
 * Schema operations. Reads need `schema.read`, changes `schema.write`, on `schema:TYPE`; a
 * listing shows only the schemas the caller may read. Importing with `replace` drops every
 * schema the import lacks, so it needs write access to those too. Each change is one
 * SchemaStore call, which checks the schema itself.
 */
import { schemaResource } from "../../auth/authority.ts";
import { validateName } from "../../engine/names.ts";
import { DbxError } from "../../errors.ts";
import type { SchemaAlteration } from "../../schema/types.ts";
import {
  checkObject,
  isObject,
  optionalBoolean,
  optionalInteger,
  optionalString,
  requiredString,
} from "../checks.ts";
import type { Node } from "../node.ts";
import type { Operations } from "./spec.ts";

const ALTERATION_FIELDS = [
  "snapshot_threshold",
  "locked",
  "field_lock",
  "event_fields",
  "column",
] as const;

function aggregateName(raw: unknown, fields: readonly string[] = []) {
  const body = checkObject(raw, ["aggregate", ...fields], "the input");
  return { aggregate: validateName("aggregate type", requiredString(body, "aggregate")), body };
}

function eventList(value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw new DbxError("invalid_input", "events must be a list of event names");
  }
  return value;
}

const ofSchema = (input: { aggregate: string }) => [schemaResource(input.aggregate)];
const write = { action: "schema.write", resources: ofSchema } as const;

/**
 * The aggregate types an import names (one schema, a list, or an object keyed by type), for
 * the scope check; the store checks the schemas themselves.
 */
function importedTypes(raw: unknown): string[] {
  if (Array.isArray(raw)) {
    return raw.map((item) => (isObject(item) ? item.aggregate : undefined))
      .filter((a): a is string => typeof a === "string");
  }
  if (isObject(raw)) return typeof raw.aggregate === "string" ? [raw.aggregate] : Object.keys(raw);
  return [];
}

function importTargets(input: { schemas: unknown; replace?: boolean }, node: Node): string[] {
  const touched = new Set(importedTypes(input.schemas));
  if (input.replace) { for (const s of node.schemas.list()) touched.add(s.aggregate); }
  return [...touched].map(schemaResource);
}

/** The schema operations. */
export const schemaOperations: Operations<
  | "listSchemas"
  | "getSchema"
  | "createSchema"
  | "putSchema"
  | "alterSchema"
  | "deleteSchema"
  | "addSchemaEvents"
  | "removeSchemaEvent"
  | "annotateSchemaEvent"
  | "importSchemas"
> = {
  listSchemas: {
    scope: { action: "schema.read", resources: "filtered" },
    check: (raw) => checkObject(raw ?? {}, [], "the input") as Record<string, never>,
    run({ node, who }) {
      const all = node.schemas.list();
      return Promise.resolve(
        who.unrestricted || who.scope.resources.includes("*")
          ? all
          : all.filter((s) => node.access.allows(who, "schema.read", schemaResource(s.aggregate))),
      );
    },
  },

  getSchema: {
    scope: { action: "schema.read", resources: ofSchema },
    check: (raw) => ({ aggregate: aggregateName(raw).aggregate }),
    run: ({ node }, input) => Promise.resolve(node.schemas.require(input.aggregate)),
  },

  createSchema: {
    scope: write,
    check(raw) {
      const { aggregate, body } = aggregateName(raw, ["events", "snapshot_threshold"]);
      const threshold = optionalInteger(body, "snapshot_threshold", 0);
      return threshold === undefined
        ? { aggregate, events: eventList(body.events) }
        : { aggregate, events: eventList(body.events), snapshot_threshold: threshold };
    },
    run: ({ node }, input) =>
      node.schemas.create(input.aggregate, {
        events: input.events,
        snapshot_threshold: input.snapshot_threshold,
      }),
  },

  putSchema: {
    scope: write,
    check(raw) {
      const { aggregate, body } = aggregateName(raw, ["schema"]);
      if (!isObject(body.schema)) {
        throw new DbxError("invalid_input", "a schema must be a JSON object");
      }
      const named = body.schema.aggregate;
      if (named !== undefined && named !== aggregate) {
        throw new DbxError(
          "invalid_input",
          `the schema's aggregate ${JSON.stringify(named)} differs from ${
            JSON.stringify(aggregate)
          }`,
        );
      }
      return { aggregate, schema: body.schema };
    },
    run: ({ node }, input) => node.schemas.put({ ...input.schema, aggregate: input.aggregate }),
  },

  alterSchema: {
    scope: write,
    check(raw) {
      const { aggregate, body } = aggregateName(raw, ["changes"]);
      const changes = checkObject(body.changes ?? {}, ALTERATION_FIELDS, "the changes");
      return { aggregate, changes: changes as SchemaAlteration };
    },
    run: ({ node }, input) => node.schemas.alter(input.aggregate, input.changes),
  },

  deleteSchema: {
    scope: write,
    check: (raw) => ({ aggregate: aggregateName(raw).aggregate }),
    async run({ node }, input) {
      await node.schemas.delete(input.aggregate);
      return { aggregate: input.aggregate, deleted: true };
    },
  },

  addSchemaEvents: {
    scope: write,
    check(raw) {
      const { aggregate, body } = aggregateName(raw, ["events"]);
      return { aggregate, events: eventList(body.events) };
    },
    run: ({ node }, input) => node.schemas.addEvents(input.aggregate, input.events),
  },

  removeSchemaEvent: {
    scope: write,
    check(raw) {
      const { aggregate, body } = aggregateName(raw, ["event"]);
      return { aggregate, event: validateName("event type", body.event) };
    },
    run: ({ node }, input) => node.schemas.removeEvent(input.aggregate, input.event),
  },

  annotateSchemaEvent: {
    scope: write,
    check(raw) {
      const { aggregate, body } = aggregateName(raw, ["event", "note"]);
      const event = validateName("event type", body.event);
      const note = body.note === null ? null : optionalString(body, "note");
      if (note === undefined) {
        throw new DbxError("invalid_input", "note is required (null clears it)");
      }
      return { aggregate, event, note };
    },
    run: ({ node }, input) => node.schemas.annotate(input.aggregate, input.event, input.note),
  },

  importSchemas: {
    scope: { action: "schema.write", resources: importTargets },
    check(raw) {
      const body = checkObject(raw, ["schemas", "replace"], "the input");
      if (body.schemas === undefined) {
        throw new DbxError("invalid_input", "schemas is required");
      }
      return optionalBoolean(body, "replace")
        ? { schemas: body.schemas, replace: true }
        : { schemas: body.schemas };
    },
    run: ({ node }, input) => node.schemas.importValue(input.schemas, { replace: input.replace }),
  },
};
