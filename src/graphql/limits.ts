/**
 * Limits that refuse abusive documents before anything runs: nesting depth, aliases and an
 * estimated cost, as validation rules. They run in a pass of their own before GraphQL's
 * standard rules (some of which take time that grows with the square of a selection), and
 * the parser's token limit bounds the document's size before that.
 *
 * The cost is an upper estimate of the fields the response can hold: every field costs 1,
 * and a list field multiplies the cost of what it selects by how long it can be — `take`
 * when written inline, the real count for introspection lists (known from the schema), a
 * fixed estimate otherwise (the API caps every page at `page_limit` anyway).
 */
import {
  type ASTVisitor,
  type FieldNode,
  type FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLError,
  type GraphQLField,
  GraphQLList,
  type GraphQLNamedType,
  GraphQLObjectType,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  SchemaMetaFieldDef,
  type SelectionSetNode,
  TypeMetaFieldDef,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import { VALIDATION_FAILED } from "./errors.ts";

/** The limits of one GraphQL surface. */
export interface GraphqlLimits {
  /** Deepest field nesting (the root fields are depth 1). */
  maxDepth: number;
  /** Most aliased fields in one document. */
  maxAliases: number;
  /**
   * Most fields one selection set lists. GraphQL's check that fields of one name can be
   * merged compares them in pairs: a thousand copies of one field would cost a million.
   */
  maxBreadth: number;
  /** Highest estimated cost (fields the response may hold). */
  maxComplexity: number;
  /** Most lexical tokens in one document (the parser stops there). */
  maxTokens: number;
}

/**
 * Defaults: GraphiQL's introspection query (depth 15, about 200 tokens, estimated cost
 * 57 000 for 1 800 fields returned) and real queries fit; a page of 1000 events with every
 * field costs about 16 000.
 */
export const DEFAULT_LIMITS: GraphqlLimits = {
  maxDepth: 15,
  maxAliases: 30,
  maxBreadth: 100,
  maxComplexity: 100_000,
  maxTokens: 5_000,
};

/** Length assumed for a list whose length the document does not say. */
export const LIST_ESTIMATE = 100;

function limitError(
  limit: "depth" | "aliases" | "breadth" | "complexity",
  message: string,
  max: number,
  found: number,
): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: VALIDATION_FAILED, limit, max, found },
  });
}

/** The fragments a selection set spreads, looked up in the document. */
type Fragments = (name: string) => FragmentDefinitionNode | undefined | null;

/**
 * The deepest field nesting of a selection set, fragments expanded (each fragment measured
 * once; a fragment cycle counts as nothing here, the standard rules report it).
 */
function depthOf(set: SelectionSetNode | undefined, fragments: Fragments): number {
  const memo = new Map<string, number>();
  const measure = (selections: SelectionSetNode | undefined): number => {
    let deepest = 0;
    for (const selection of selections?.selections ?? []) {
      let depth = 0;
      if (selection.kind === Kind.FIELD) {
        depth = selection.selectionSet ? 1 + measure(selection.selectionSet) : 1;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        depth = measure(selection.selectionSet);
      } else {
        const name = selection.name.value;
        if (!memo.has(name)) {
          memo.set(name, 0); // in progress: a cycle adds nothing
          memo.set(name, measure(fragments(name)?.selectionSet));
        }
        depth = memo.get(name)!;
      }
      if (depth > deepest) deepest = depth;
    }
    return deepest;
  };
  return measure(set);
}

/**
 * Refuses operations nested deeper than `max` fields.
 *
 * @example
 * ```ts
 * import { parse, validate } from "graphql";
 * import { createSchema } from "./schema.ts";
 * validate(createSchema(), parse("{ schemas { aggregate } }"), [depthLimit(1)]).length; // 1
 * ```
 */
export function depthLimit(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(node: OperationDefinitionNode) {
      const depth = depthOf(node.selectionSet, (name) => context.getFragment(name));
      if (depth > max) {
        context.reportError(
          limitError(
            "depth",
            `the query is nested ${depth} fields deep; at most ${max} are allowed`,
            max,
            depth,
          ),
        );
      }
    },
  });
}

/**
 * Refuses documents with more than `max` aliased fields.
 *
 * @example
 * ```ts
 * import { parse, validate } from "graphql";
 * import { createSchema } from "./schema.ts";
 * validate(createSchema(), parse("{ a: schemas { aggregate } b: schemas { aggregate } }"), [aliasLimit(1)]).length; // 1
 * ```
 */
export function aliasLimit(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    let aliases = 0;
    return {
      Field(node) {
        if (node.alias) aliases++;
      },
      Document: {
        leave() {
          if (aliases > max) {
            context.reportError(
              limitError(
                "aliases",
                `the query has ${aliases} aliases; at most ${max} are allowed`,
                max,
                aliases,
              ),
            );
          }
        },
      },
    };
  };
}

/**
 * Refuses documents with a selection set of more than `max` fields.
 *
 * @example
 * ```ts
 * import { parse, validate } from "graphql";
 * import { createSchema } from "./schema.ts";
 * validate(createSchema(), parse("{ __typename __typename }"), [breadthLimit(1)]).length; // 1
 * ```
 */
export function breadthLimit(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    let reported = false;
    return {
      SelectionSet(node) {
        if (reported) return;
        let fields = 0;
        for (const selection of node.selections) if (selection.kind === Kind.FIELD) fields++;
        if (fields > max) {
          reported = true;
          context.reportError(
            limitError(
              "breadth",
              `a selection set lists ${fields} fields; at most ${max} are allowed`,
              max,
              fields,
            ),
          );
        }
      },
    };
  };
}

/** The longest list each introspection list field can return in this schema. */
function introspectionLengths(schema: GraphQLSchema): Map<string, number> {
  const types = Object.values(schema.getTypeMap());
  let fields = 0, inputFields = 0, interfaces = 0, enumValues = 0, args = 0, possible = 0;
  for (const type of types) {
    if (isObjectType(type) || isInterfaceType(type)) {
      const own = Object.values(type.getFields());
      fields = Math.max(fields, own.length);
      for (const field of own) args = Math.max(args, field.args.length);
      interfaces = Math.max(interfaces, type.getInterfaces().length);
    }
    if (isInterfaceType(type)) {
      possible = Math.max(possible, schema.getPossibleTypes(type).length);
    }
    if (isInputObjectType(type)) {
      inputFields = Math.max(inputFields, Object.keys(type.getFields()).length);
    }
    if (isEnumType(type)) enumValues = Math.max(enumValues, type.getValues().length);
  }
  const directives = schema.getDirectives();
  for (const directive of directives) args = Math.max(args, directive.args.length);
  return new Map([
    ["__Schema.types", types.length],
    ["__Schema.directives", directives.length],
    ["__Type.fields", fields],
    ["__Type.inputFields", inputFields],
    ["__Type.interfaces", interfaces],
    ["__Type.possibleTypes", possible],
    ["__Type.enumValues", enumValues],
    ["__Field.args", args],
    ["__Directive.args", args],
    ["__Directive.locations", 20],
  ]);
}

/**
 * Refuses operations whose estimated cost passes `max` (see the module comment).
 *
 * @example
 * ```ts
 * import { parse, validate } from "graphql";
 * import { createSchema } from "./schema.ts";
 * const schema = createSchema();
 * validate(schema, parse("{ aggregates(take: 500) { aggregateId version } }"), [complexityLimit(schema, 1000)]).length; // 1
 * ```
 */
export function complexityLimit(schema: GraphQLSchema, max: number): ValidationRule {
  const known = introspectionLengths(schema);
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(node: OperationDefinitionNode) {
      const root = node.operation === "mutation"
        ? schema.getMutationType()
        : node.operation === "subscription"
        ? schema.getSubscriptionType()
        : schema.getQueryType();
      if (!root) return; // the standard rules report it
      const cost = costOf(node.selectionSet, root, {
        fragments: (name) => context.getFragment(name),
        schema,
        known,
      });
      if (cost > max) {
        context.reportError(
          limitError(
            "complexity",
            `the query may return about ${Math.round(cost)} fields; at most ${max} are allowed ` +
              "(ask for fewer fields, smaller pages (take) or fewer aliases)",
            max,
            Math.round(cost),
          ),
        );
      }
    },
  });
}

interface CostScope {
  fragments: Fragments;
  schema: GraphQLSchema;
  known: Map<string, number>;
}

/** How long a list field's value can be, as far as the document tells. */
function listLength(
  parent: GraphQLNamedType,
  field: GraphQLField<unknown, unknown>,
  node: FieldNode,
  known: Map<string, number>,
): number {
  const introspected = known.get(`${parent.name}.${field.name}`);
  if (introspected !== undefined) return Math.max(1, introspected);
  for (const argument of node.arguments ?? []) {
    const value = argument.value;
    if (argument.name.value === "take" && value.kind === Kind.INT) {
      return Math.max(1, Number(value.value));
    }
    if (value.kind === Kind.LIST) return Math.max(1, value.values.length);
  }
  return LIST_ESTIMATE;
}

function costOf(
  set: SelectionSetNode | undefined,
  parent: GraphQLNamedType,
  scope: CostScope,
  memo = new Map<string, number>(),
): number {
  let cost = 0;
  for (const selection of set?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      cost += 1;
      if (!selection.selectionSet) continue;
      if (!(parent instanceof GraphQLObjectType) && !isInterfaceType(parent)) continue;
      const name = selection.name.value;
      const field = name === "__schema"
        ? SchemaMetaFieldDef
        : name === "__type"
        ? TypeMetaFieldDef
        : parent.getFields()[name];
      if (!field) continue; // the standard rules report it
      const type = getNamedType(field.type);
      const many = getNullableType(field.type) instanceof GraphQLList
        ? listLength(parent, field, selection, scope.known)
        : 1;
      cost += many * costOf(selection.selectionSet, type, scope, memo);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const type = selection.typeCondition
        ? scope.schema.getType(selection.typeCondition.name.value) ?? parent
        : parent;
      cost += costOf(selection.selectionSet, type, scope, memo);
    } else {
      const name = selection.name.value;
      if (!memo.has(name)) {
        memo.set(name, 0); // in progress: a cycle adds nothing (the standard rules report it)
        const fragment = scope.fragments(name);
        const type = fragment ? scope.schema.getType(fragment.typeCondition.name.value) : undefined;
        memo.set(name, fragment && type ? costOf(fragment.selectionSet, type, scope, memo) : 0);
      }
      cost += memo.get(name)!;
    }
  }
  return cost;
}

/**
 * Every limit rule, for the pass before the standard rules.
 *
 * @example
 * ```ts
 * import { parse, validate } from "graphql";
 * import { createSchema } from "./schema.ts";
 * const schema = createSchema();
 * validate(schema, parse("{ schemas { aggregate } }"), limitRules(schema, DEFAULT_LIMITS)); // []
 * ```
 */
export function limitRules(schema: GraphQLSchema, limits: GraphqlLimits): ValidationRule[] {
  return [
    depthLimit(limits.maxDepth),
    aliasLimit(limits.maxAliases),
    breadthLimit(limits.maxBreadth),
    complexityLimit(schema, limits.maxComplexity),
  ];
}
