/**
 * The GraphQL schema: each root field is one API operation, called for the request's caller
 * with the field's arguments as the operation's input (snake_case). The API checks the
 * input, the scope and every limit, exactly as for REST; nothing is decided here.
 */
import {
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLFieldConfig,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  type GraphQLResolveInfo,
  GraphQLSchema,
  GraphQLString,
  Kind,
  type SelectionSetNode,
} from "graphql";
import type { Api } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import type { OperationInput, OperationName, OperationResult } from "../api/operations.ts";
import { LongScalar } from "./scalars.ts";
import {
  AggregateSchemaType,
  AggregateType,
  AppendEventInputType,
  EventType,
  VerifyResultType,
} from "./types.ts";

/** What every resolver runs with: the API and who is calling. */
export interface GraphqlContext {
  api: Api;
  caller: Caller;
}

type Args = Record<string, unknown>;
type RootField = GraphQLFieldConfig<unknown, GraphqlContext, Args>;

/** One API call with input built for it (the API may keep it: nothing else holds it). */
function call<N extends OperationName>(
  ctx: GraphqlContext,
  name: N,
  input: Args,
): Promise<OperationResult<N>> {
  return ctx.api.call(ctx.caller, name, input as OperationInput<N>, { owned: true });
}

/** API input from arguments: camelCase names to snake_case, null or absent left out. */
function input(args: Args, names: Record<string, string>): Args {
  const out: Args = {};
  for (const name in names) {
    const value = args[name];
    if (value !== undefined && value !== null) out[names[name]] = value;
  }
  return out;
}

const AGGREGATE_ARGS = { aggregateType: "aggregate_type", aggregateId: "aggregate_id" };
const APPEND_FIELDS = {
  aggregateType: "aggregate_type",
  aggregateId: "aggregate_id",
  eventType: "event_type",
  payload: "payload",
  patch: "patch",
  note: "note",
  expectedVersion: "expected_version",
  eventId: "event_id",
};

/** True when the field's selection asks for `name` (directly or through fragments). */
function selects(info: GraphQLResolveInfo, name: string): boolean {
  const seen = new Set<string>();
  const within = (set: SelectionSetNode | undefined): boolean =>
    set?.selections.some((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value === name;
      if (selection.kind === Kind.INLINE_FRAGMENT) return within(selection.selectionSet);
      const fragmentName = selection.name.value;
      if (seen.has(fragmentName)) return false;
      seen.add(fragmentName);
      const fragment: FragmentDefinitionNode | undefined = info.fragments[fragmentName];
      return within(fragment?.selectionSet);
    }) ?? false;
  return info.fieldNodes.some((node: FieldNode) => within(node.selectionSet));
}

const nonNullString = new GraphQLNonNull(GraphQLString);
const listOf = (type: GraphQLObjectType) =>
  new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(type)));

/** The root fields of `Query`. */
const queryFields: Record<string, RootField> = {
  aggregates: {
    type: listOf(AggregateType),
    description: "Aggregates in key order (take is capped at page_limit).",
    args: {
      skip: { type: GraphQLInt, description: "Aggregates to skip (default 0)." },
      take: { type: GraphQLInt, description: "Aggregates to return (default list_page_size)." },
      aggregateType: { type: GraphQLString, description: "Only aggregates of this type." },
    },
    async resolve(_root, args, ctx, info) {
      const request = input(args, { skip: "skip", take: "take", aggregateType: "aggregate_type" });
      // The state is read only when the query asks for it.
      if (selects(info, "state")) request.include_state = true;
      return (await call(ctx, "listAggregates", request)).items;
    },
  },
  aggregate: {
    type: AggregateType,
    description: "One aggregate, at its latest version or at `version`.",
    args: {
      aggregateType: { type: nonNullString },
      aggregateId: { type: nonNullString },
      version: { type: LongScalar, description: "Rebuild the state as of this version." },
    },
    resolve: (_root, args, ctx) =>
      call(ctx, "getAggregate", input(args, { ...AGGREGATE_ARGS, version: "version" })),
  },
  aggregateEvents: {
    type: listOf(EventType),
    description: "An aggregate's events in version order (take is capped at page_limit).",
    args: {
      aggregateType: { type: nonNullString },
      aggregateId: { type: nonNullString },
      skip: { type: GraphQLInt, description: "Events to skip (default 0)." },
      take: { type: GraphQLInt, description: "Events to return (default page_limit)." },
    },
    async resolve(_root, args, ctx) {
      const request = input(args, { ...AGGREGATE_ARGS, skip: "skip", take: "take" });
      return (await call(ctx, "listEvents", request)).items;
    },
  },
  verifyAggregate: {
    type: new GraphQLNonNull(VerifyResultType),
    description: "Re-read every event of an aggregate and check its hashes and Merkle root.",
    args: { aggregateType: { type: nonNullString }, aggregateId: { type: nonNullString } },
    resolve: (_root, args, ctx) => call(ctx, "verifyAggregate", input(args, AGGREGATE_ARGS)),
  },
  schemas: {
    type: listOf(AggregateSchemaType),
    description: "Every aggregate type's schema.",
    resolve: (_root, _args, ctx) => call(ctx, "listSchemas", {}),
  },
  schema: {
    type: AggregateSchemaType,
    description: "One aggregate type's schema.",
    args: { aggregate: { type: nonNullString, description: "The aggregate type." } },
    resolve: (_root, args, ctx) => call(ctx, "getSchema", input(args, { aggregate: "aggregate" })),
  },
};

/** The root fields of `Mutation`. */
const mutationFields: Record<string, RootField> = {
  appendEvent: {
    type: new GraphQLNonNull(EventType),
    description: "Append one event (same validation, limits and notifications as REST).",
    args: { input: { type: new GraphQLNonNull(AppendEventInputType) } },
    async resolve(_root, args, ctx) {
      const event = input(args.input as Args, APPEND_FIELDS);
      return (await call(ctx, "appendEvent", event)).event;
    },
  },
  appendEvents: {
    type: listOf(EventType),
    description: "Append a batch of events (any aggregates) atomically: all or nothing.",
    args: {
      events: {
        type: new GraphQLNonNull(
          new GraphQLList(new GraphQLNonNull(AppendEventInputType)),
        ),
      },
    },
    async resolve(_root, args, ctx) {
      const events = (args.events as Args[]).map((event) => input(event, APPEND_FIELDS));
      return (await call(ctx, "appendEvents", { events })).events;
    },
  },
};

/** Root fields that call the API (the others, `__typename` and introspection, do not). */
export const API_FIELDS: ReadonlySet<string> = new Set([
  ...Object.keys(queryFields),
  ...Object.keys(mutationFields),
]);

/**
 * The schema (built once per surface instance).
 *
 * @example
 * ```ts
 * import { printSchema } from "graphql";
 * console.log(printSchema(createSchema()));
 * ```
 */
export function createSchema(): GraphQLSchema {
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: "Query", fields: queryFields }),
    mutation: new GraphQLObjectType({ name: "Mutation", fields: mutationFields }),
  });
}
