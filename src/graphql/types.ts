/**
 * The object types of the GraphQL schema: the API's records (snake_case, as every
 * operation returns them) shown with camelCase field names. Each field reads one property;
 * nothing is computed here.
 */
import {
  GraphQLBoolean,
  type GraphQLFieldConfigMap,
  GraphQLInputObjectType,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  type GraphQLOutputType,
  GraphQLString,
} from "graphql";
import { JsonScalar, LongScalar } from "./scalars.ts";

const nonNull = <T extends GraphQLOutputType>(type: T) => new GraphQLNonNull(type);
const listOf = <T extends GraphQLOutputType>(type: T) =>
  new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(type)));

type Fields = GraphQLFieldConfigMap<Record<string, unknown>, unknown>;

/** Fields that each read one property of the record: `[type, property, description]`. */
function fields(table: Record<string, [GraphQLOutputType, string, string]>): () => Fields {
  return () => {
    const out: Fields = {};
    for (const [name, [type, property, description]] of Object.entries(table)) {
      out[name] = { type, description, resolve: (source) => source[property] };
    }
    return out;
  };
}

/** Who wrote an event. */
export const IssuedByType: GraphQLObjectType = new GraphQLObjectType({
  name: "IssuedBy",
  description: "The group and user of the token that wrote an event.",
  fields: fields({
    group: [nonNull(GraphQLString), "group", "The token's group."],
    user: [nonNull(GraphQLString), "user", "The token's user."],
  }),
});

/** An event's metadata. */
export const EventMetadataType: GraphQLObjectType = new GraphQLObjectType({
  name: "EventMetadata",
  fields: fields({
    eventId: [nonNull(GraphQLString), "event_id", "The event's UUID (its idempotency key)."],
    createdAt: [nonNull(GraphQLString), "created_at", "When it was committed (RFC 3339, UTC)."],
    issuedBy: [IssuedByType, "issued_by", "Who wrote it; null when no token did."],
    note: [GraphQLString, "note", "The note given with the event (at most 128 characters)."],
  }),
});

/** A committed event. */
export const EventType: GraphQLObjectType = new GraphQLObjectType({
  name: "Event",
  description: "A committed event.",
  fields: fields({
    aggregateType: [nonNull(GraphQLString), "aggregate_type", "The aggregate's type."],
    aggregateId: [nonNull(GraphQLString), "aggregate_id", "The aggregate's id."],
    eventType: [nonNull(GraphQLString), "event_type", "The event's type."],
    payload: [nonNull(JsonScalar), "payload", "The event's payload (a JSON object)."],
    metadata: [nonNull(EventMetadataType), "metadata", "Id, time, writer and note."],
    version: [nonNull(LongScalar), "version", "1-based version within the aggregate."],
    hash: [nonNull(GraphQLString), "hash", "SHA-256 (hex) of the canonical record."],
    merkleRoot: [nonNull(GraphQLString), "merkle_root", "The aggregate's Merkle root after it."],
    position: [nonNull(LongScalar), "position", "Gap-free global sequence number."],
  }),
});

/** An aggregate's state. */
export const AggregateType: GraphQLObjectType = new GraphQLObjectType({
  name: "Aggregate",
  description: "An aggregate: its current (or historical) state and integrity root.",
  fields: fields({
    aggregateType: [nonNull(GraphQLString), "aggregate_type", "The aggregate's type."],
    aggregateId: [nonNull(GraphQLString), "aggregate_id", "The aggregate's id."],
    version: [nonNull(LongScalar), "version", "Its version (the number of events)."],
    state: [JsonScalar, "state", "The fold of every payload (a JSON object)."],
    merkleRoot: [nonNull(GraphQLString), "merkle_root", "Merkle root over its events."],
    archived: [nonNull(GraphQLBoolean), "archived", "Archived aggregates refuse appends."],
    createdAt: [nonNull(GraphQLString), "created_at", "First event's time (RFC 3339, UTC)."],
    updatedAt: [nonNull(GraphQLString), "updated_at", "Last event's time (RFC 3339, UTC)."],
  }),
});

/** What verification found. */
export const VerifyResultType: GraphQLObjectType = new GraphQLObjectType({
  name: "VerifyResult",
  description: "Every event re-read, every hash and the Merkle root recomputed.",
  fields: fields({
    aggregateType: [nonNull(GraphQLString), "aggregate_type", "The aggregate's type."],
    aggregateId: [nonNull(GraphQLString), "aggregate_id", "The aggregate's id."],
    version: [nonNull(LongScalar), "version", "The version verified."],
    merkleRoot: [nonNull(GraphQLString), "merkle_root", "The stored Merkle root."],
    verified: [nonNull(GraphQLBoolean), "verified", "True when everything matched."],
    firstBadVersion: [LongScalar, "first_bad_version", "First version that did not match."],
    reason: [GraphQLString, "reason", "What did not match."],
  }),
});

/** One declared event type of a schema. */
export const SchemaEventType: GraphQLObjectType = new GraphQLObjectType({
  name: "SchemaEvent",
  fields: fields({
    name: [nonNull(GraphQLString), "name", "The event type."],
    fields: [listOf(GraphQLString), "fields", "Permitted payload fields (empty: any)."],
    notes: [GraphQLString, "notes", "Free-text annotation."],
  }),
});

/** One column of a schema. */
export const SchemaColumnType: GraphQLObjectType = new GraphQLObjectType({
  name: "SchemaColumn",
  fields: fields({
    field: [nonNull(GraphQLString), "field", "The payload field."],
    type: [nonNull(GraphQLString), "type", "integer, float, decimal(p,s), boolean, text …"],
    rules: [JsonScalar, "rules", "The column's rules (required, length, range, regex …)."],
    properties: [JsonScalar, "properties", "Nested fields of an object column."],
  }),
});

/** An aggregate type's schema, with its maps as lists. */
export const AggregateSchemaType: GraphQLObjectType = new GraphQLObjectType({
  name: "AggregateSchema",
  description: "The schema of one aggregate type.",
  fields: () => ({
    aggregate: {
      type: nonNull(GraphQLString),
      description: "The aggregate type it governs.",
      resolve: (s) => s.aggregate,
    },
    events: {
      type: listOf(SchemaEventType),
      description: "Declared event types, by name.",
      resolve: (s) =>
        Object.entries(s.events as Record<string, Record<string, unknown>>).map((
          [name, definition],
        ) => ({ name, ...definition })),
    },
    snapshotThreshold: {
      type: GraphQLInt,
      description: "Automatic snapshot every this many versions.",
      resolve: (s) => s.snapshot_threshold,
    },
    locked: {
      type: nonNull(GraphQLBoolean),
      description: "Refuses every event when true.",
      resolve: (s) => s.locked,
    },
    fieldLocks: {
      type: listOf(GraphQLString),
      description: "Fields no event may carry.",
      resolve: (s) => s.field_locks,
    },
    columns: {
      type: listOf(SchemaColumnType),
      description: "Column types and rules, by field.",
      resolve: (s) =>
        Object.entries(s.columns as Record<string, Record<string, unknown>>).map((
          [field, column],
        ) => ({ field, ...column })),
    },
    createdAt: {
      type: nonNull(GraphQLString),
      description: "RFC 3339, UTC.",
      resolve: (s) => s.created_at,
    },
    updatedAt: {
      type: nonNull(GraphQLString),
      description: "RFC 3339, UTC.",
      resolve: (s) => s.updated_at,
    },
  }),
});

/** One event to append. */
export const AppendEventInputType: GraphQLInputObjectType = new GraphQLInputObjectType({
  name: "AppendEventInput",
  description: "One event to append: give payload or patch (exactly one).",
  fields: {
    aggregateType: { type: new GraphQLNonNull(GraphQLString) },
    aggregateId: { type: new GraphQLNonNull(GraphQLString) },
    eventType: { type: new GraphQLNonNull(GraphQLString) },
    payload: { type: JsonScalar, description: "The payload (a JSON object)." },
    patch: { type: JsonScalar, description: "An RFC 6902 JSON Patch over the current state." },
    note: { type: GraphQLString, description: "A note (at most 128 characters)." },
    expectedVersion: {
      type: LongScalar,
      description: "Refuse (CONFLICT) unless the aggregate is at this version.",
    },
    eventId: {
      type: GraphQLString,
      description: "Idempotency key (UUID): a retry returns the original event.",
    },
  },
});
