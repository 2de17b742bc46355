/**
 * Running a simple operation without re-reading its document every time: a plan made once
 * per cached operation, which walks the selections it fixed and calls the same resolvers
 * with the same arguments and `info` that graphql-js's `execute` would, with its rules for
 * errors (each located at its field and path) and nulls (a null where the schema promises
 * a value nulls the nearest nullable parent). Measured: a mutation selecting every field
 * of an event runs in about a fifth of the time.
 *
 * Only operations made of plain fields are planned: no fragments, no directives, no
 * introspection beyond `__typename`, no interfaces or unions, no response name twice in a
 * selection. Anything else runs through graphql-js's `execute`.
 */
import {
  defaultFieldResolver,
  type ExecutionResult,
  type FieldNode,
  getArgumentValues,
  getNamedType,
  getVariableValues,
  GraphQLError,
  type GraphQLField,
  type GraphQLLeafType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  locatedError,
  type OperationDefinitionNode,
  responsePathAsArray,
  type SelectionSetNode,
} from "graphql";

type Path = GraphQLResolveInfo["path"];

/** One field of a selection, fixed at planning time. */
interface FieldPlan {
  key: string;
  node: FieldNode;
  /** Undefined for `__typename`. */
  def?: GraphQLField<unknown, unknown>;
  /** The selections of an object-typed field. */
  children?: FieldPlan[];
}

/** A planned operation. */
export interface Plan {
  run(
    contextValue: unknown,
    variables: Record<string, unknown> | undefined,
  ): Promise<ExecutionResult>;
}

/** The plan of a selection set on `parent`, or undefined when it is not plain. */
function planSelections(
  set: SelectionSetNode,
  parent: GraphQLObjectType,
): FieldPlan[] | undefined {
  const plans: FieldPlan[] = [];
  const keys = new Set<string>();
  for (const selection of set.selections) {
    if (selection.kind !== Kind.FIELD || selection.directives?.length) return undefined;
    const key = selection.alias?.value ?? selection.name.value;
    if (keys.has(key)) return undefined;
    keys.add(key);
    const name = selection.name.value;
    if (name === "__typename") {
      if (selection.selectionSet) return undefined;
      plans.push({ key, node: selection });
      continue;
    }
    const def = parent.getFields()[name];
    if (!def) return undefined;
    const named = getNamedType(def.type);
    if (isLeafType(named)) {
      if (selection.selectionSet) return undefined;
      plans.push({ key, node: selection, def });
    } else if (isObjectType(named) && !named.isTypeOf && selection.selectionSet) {
      const children = planSelections(selection.selectionSet, named);
      if (!children) return undefined;
      plans.push({ key, node: selection, def, children });
    } else {
      return undefined;
    }
  }
  return plans;
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function isIterable(value: unknown): value is Iterable<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as Iterable<unknown>)[Symbol.iterator] === "function";
}

/**
 * The plan of an operation, or undefined when it must run through `execute`.
 *
 * @example
 * ```ts
 * import { parse, type OperationDefinitionNode } from "graphql";
 * import { createSchema } from "./schema.ts";
 * const schema = createSchema();
 * const document = parse("{ schemas { aggregate } }");
 * const plan = planOperation(schema, document.definitions[0] as OperationDefinitionNode);
 * ```
 */
export function planOperation(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
): Plan | undefined {
  if (operation.directives?.length) return undefined;
  const root = operation.operation === "mutation"
    ? schema.getMutationType()
    : operation.operation === "query"
    ? schema.getQueryType()
    : undefined;
  if (!root) return undefined;
  const fields = planSelections(operation.selectionSet, root);
  if (!fields) return undefined;
  const serial = operation.operation === "mutation";
  const variableDefinitions = operation.variableDefinitions ?? [];
  const fragments = {};

  return {
    async run(contextValue, inputs) {
      const coerced = getVariableValues(schema, variableDefinitions, inputs ?? {}, {
        maxErrors: 50,
      });
      if (coerced.errors) return { errors: coerced.errors };
      const variableValues = coerced.coerced;
      const errors: GraphQLError[] = [];

      /** A field error: recorded (null) where the type allows it, else passed up. */
      const fieldError = (raw: unknown, type: GraphQLOutputType, node: FieldNode, path: Path) => {
        const error = locatedError(raw, [node], responsePathAsArray(path));
        if (isNonNullType(type)) throw error;
        errors.push(error);
        return null;
      };

      const complete = (
        type: GraphQLOutputType,
        plan: FieldPlan,
        info: GraphQLResolveInfo,
        path: Path,
        value: unknown,
      ): unknown => {
        if (value instanceof Error) throw value;
        if (isNonNullType(type)) {
          const completed = complete(type.ofType, plan, info, path, value);
          if (completed === null) {
            throw new Error(
              `Cannot return null for non-nullable field ${info.parentType.name}.${info.fieldName}.`,
            );
          }
          return completed;
        }
        if (value === null || value === undefined) return null;
        if (isListType(type)) {
          if (!isIterable(value)) {
            throw new GraphQLError(
              `Expected Iterable, but did not find one for field "${info.parentType.name}.${info.fieldName}".`,
            );
          }
          const itemType = type.ofType as GraphQLOutputType;
          let pending = false;
          const items = Array.from(value, (item, index) => {
            const itemPath: Path = { prev: path, key: index, typename: undefined };
            try {
              const completed = isPromise(item)
                ? item.then((resolved) => complete(itemType, plan, info, itemPath, resolved))
                : complete(itemType, plan, info, itemPath, item);
              if (isPromise(completed)) {
                pending = true;
                return completed.then(
                  undefined,
                  (raw) => fieldError(raw, itemType, plan.node, itemPath),
                );
              }
              return completed;
            } catch (raw) {
              return fieldError(raw, itemType, plan.node, itemPath);
            }
          });
          return pending ? Promise.all(items) : items;
        }
        if (isLeafType(type)) {
          const serialized = (type as GraphQLLeafType).serialize(value);
          if (serialized === null || serialized === undefined) {
            throw new Error(
              `Expected \`${type.name}.serialize\` to return non-nullable value, returned: ${serialized}`,
            );
          }
          return serialized;
        }
        return executeFields(type as GraphQLObjectType, plan.children!, value, path, false);
      };

      const executeField = (
        parent: GraphQLObjectType,
        plan: FieldPlan,
        source: unknown,
        parentPath: Path | undefined,
      ): unknown => {
        const path: Path = { prev: parentPath, key: plan.key, typename: parent.name };
        const def = plan.def;
        if (!def) return parent.name; // __typename
        const info: GraphQLResolveInfo = {
          fieldName: def.name,
          fieldNodes: [plan.node],
          returnType: def.type,
          parentType: parent,
          path,
          schema,
          fragments,
          rootValue: undefined,
          operation,
          variableValues,
        };
        try {
          const args = def.args.length > 0 ? getArgumentValues(def, plan.node, variableValues) : {};
          const resolve = def.resolve ?? defaultFieldResolver;
          const result = resolve(source, args, contextValue, info);
          const completed = isPromise(result)
            ? result.then((resolved) => complete(def.type, plan, info, path, resolved))
            : complete(def.type, plan, info, path, result);
          if (isPromise(completed)) {
            return completed.then(undefined, (raw) => fieldError(raw, def.type, plan.node, path));
          }
          return completed;
        } catch (raw) {
          return fieldError(raw, def.type, plan.node, path);
        }
      };

      const executeFields = (
        parent: GraphQLObjectType,
        plans: FieldPlan[],
        source: unknown,
        path: Path | undefined,
        oneByOne: boolean,
      ): unknown => {
        const results: Record<string, unknown> = Object.create(null);
        if (oneByOne) {
          return (async () => {
            for (const plan of plans) {
              results[plan.key] = await executeField(parent, plan, source, path);
            }
            return results;
          })();
        }
        let pending: Promise<void>[] | undefined;
        try {
          for (const plan of plans) {
            const value = executeField(parent, plan, source, path);
            if (isPromise(value)) {
              (pending ??= []).push(value.then((resolved) => {
                results[plan.key] = resolved;
              }));
              results[plan.key] = undefined; // keeps the selection's order
            } else {
              results[plan.key] = value;
            }
          }
        } catch (err) {
          if (!pending) throw err;
          // Fields already running may fail too: let them settle, then pass this one up.
          return Promise.allSettled(pending).then(() => {
            throw err;
          });
        }
        if (!pending) return results;
        return Promise.all(pending).then(() => results, (err) =>
          // The others may still fail too: wait for them, then pass the first failure up.
          Promise.allSettled(pending!).then(() => {
            throw err;
          }));
      };

      let data: Record<string, unknown> | null;
      try {
        data = await executeFields(root, fields, undefined, undefined, serial) as Record<
          string,
          unknown
        >;
      } catch (err) {
        // A non-null root field failed: the whole data is null (its error was recorded).
        errors.push(err as GraphQLError);
        data = null;
      }
      return errors.length > 0 ? { errors, data } : { data };
    },
  };
}
