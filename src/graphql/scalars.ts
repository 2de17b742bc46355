/**
 * The schema's own scalars: `JSON` for payloads, state and patches (any JSON value, given
 * as a variable or written inline), and `Long` for versions and positions (GraphQL's `Int`
 * stops at 2^31 − 1; a global position may pass it).
 */
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from "graphql";

/**
 * An inline JSON literal as plain data. Object keys become own properties (a key named
 * `__proto__` stays data, as JSON.parse keeps it); variables inside are looked up.
 */
function literalValue(
  node: ValueNode,
  variables: Record<string, unknown> | null | undefined,
): unknown {
  switch (node.kind) {
    case Kind.NULL:
      return null;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.BOOLEAN:
      return node.value;
    case Kind.LIST:
      return node.values.map((value) => literalValue(value, variables));
    case Kind.OBJECT: {
      const out: Record<string, unknown> = {};
      for (const field of node.fields) {
        Object.defineProperty(out, field.name.value, {
          value: literalValue(field.value, variables),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    case Kind.VARIABLE:
      return variables?.[node.name.value];
  }
}

/** Any JSON value. */
export const JsonScalar: GraphQLScalarType = new GraphQLScalarType({
  name: "JSON",
  description: "Any JSON value: an object, a list, a string, a number, a boolean or null.",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (node, variables) => literalValue(node, variables),
});

function safeInteger(value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new GraphQLError(
      `Long must be a whole number between -(2^53 - 1) and 2^53 - 1, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** A whole number up to 2^53 − 1, as a JSON number. */
export const LongScalar: GraphQLScalarType = new GraphQLScalarType({
  name: "Long",
  description: "A whole number up to 2^53 - 1 (versions and global positions), as a JSON number.",
  serialize: safeInteger,
  parseValue: safeInteger,
  parseLiteral(node) {
    if (node.kind !== Kind.INT) {
      throw new GraphQLError(`Long must be a whole number, got ${node.kind}`);
    }
    return safeInteger(Number(node.value));
  },
});
