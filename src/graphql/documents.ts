/**
 * Documents ready to run: parsed (within the token limit), checked against the limits and
 * then GraphQL's standard rules, once per distinct query text (a bounded cache: clients
 * send the same few documents with different variables, and parsing and validating cost
 * more than running a small mutation).
 */
import {
  type DocumentNode,
  type GraphQLError,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  parse,
  type SelectionSetNode,
  specifiedRules,
  validate,
} from "graphql";
import { LruMap } from "../util/lru_map.ts";
import { type FormattedError, PARSE_FAILED, VALIDATION_FAILED } from "./errors.ts";
import { type GraphqlLimits, limitRules } from "./limits.ts";
import { type Plan, planOperation } from "./plan.ts";

/** One operation of a document, and what running it needs. */
export interface PreparedOperation {
  operation: OperationDefinitionNode;
  /**
   * True when some root field may run without calling the API (`__typename`,
   * introspection, a field with `@skip`/`@include`): the caller's token is then checked
   * before running, since no operation might check it.
   */
  needsCallerCheck: boolean;
  /** How to run it without graphql-js's `execute`, when it is plain enough (plan.ts). */
  plan?: Plan;
}

/** A document as far as it got: runnable, or refused with its errors. */
export type Prepared =
  | { ok: true; document: DocumentNode; operations: Map<string, PreparedOperation | string> }
  | { ok: false; stage: "parse" | "validation"; errors: FormattedError[] };

/** Query texts longer than this are prepared every time instead of being cached. */
const CACHEABLE_LENGTH = 64 << 10;
const CACHE_ENTRIES = 512;

function refused(errors: readonly GraphQLError[], code: string): FormattedError[] {
  return errors.map((err) => {
    const formatted = err.toJSON();
    return { ...formatted, extensions: { ...formatted.extensions, code } };
  });
}

/** Prepares documents against one schema, remembering the recent ones. */
export class DocumentCache {
  readonly #schema: GraphQLSchema;
  readonly #limits: GraphqlLimits;
  readonly #limitRules;
  readonly #apiFields: ReadonlySet<string>;
  readonly #cache = new LruMap<string, Prepared>(CACHE_ENTRIES);

  constructor(schema: GraphQLSchema, limits: GraphqlLimits, apiFields: ReadonlySet<string>) {
    this.#schema = schema;
    this.#limits = limits;
    this.#limitRules = limitRules(schema, limits);
    this.#apiFields = apiFields;
  }

  /** The prepared form of a query text. */
  prepare(query: string): Prepared {
    const cacheable = query.length <= CACHEABLE_LENGTH;
    if (cacheable) {
      const hit = this.#cache.get(query);
      if (hit) return hit;
    }
    const prepared = this.#prepare(query);
    if (cacheable) this.#cache.set(query, prepared);
    return prepared;
  }

  #prepare(query: string): Prepared {
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: this.#limits.maxTokens });
    } catch (err) {
      return { ok: false, stage: "parse", errors: refused([err as GraphQLError], PARSE_FAILED) };
    }
    // The limits first: some standard rules cost more than running what they refuse.
    let errors = validate(this.#schema, document, this.#limitRules);
    if (errors.length === 0) errors = validate(this.#schema, document, specifiedRules);
    if (errors.length > 0) {
      return { ok: false, stage: "validation", errors: refused(errors, VALIDATION_FAILED) };
    }
    return { ok: true, document, operations: new Map() };
  }

  /**
   * The operation a request names (or the only one), or why there is none.
   *
   * @example
   * ```ts
   * declare const cache: DocumentCache;
   * const prepared = cache.prepare("query A { schemas { aggregate } }");
   * if (prepared.ok) cache.operation(prepared, "A");
   * ```
   */
  operation(
    prepared: Extract<Prepared, { ok: true }>,
    name: string | undefined,
  ): PreparedOperation | string {
    const key = name ?? "";
    let found = prepared.operations.get(key);
    if (found === undefined) {
      found = this.#operation(prepared.document, name);
      prepared.operations.set(key, found);
    }
    return found;
  }

  #operation(document: DocumentNode, name: string | undefined): PreparedOperation | string {
    const operations = document.definitions.filter((d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION
    );
    let operation: OperationDefinitionNode | undefined;
    if (name === undefined) {
      if (operations.length !== 1) {
        return "the document has several operations: give operationName to choose one";
      }
      operation = operations[0];
    } else {
      operation = operations.find((o) => o.name?.value === name);
      if (!operation) return `the document has no operation named ${JSON.stringify(name)}`;
    }
    if (operation.operation === "subscription") {
      return "subscriptions are not served over HTTP: follow events with GET /v1/events/stream";
    }
    const fragments = new Map(
      document.definitions.flatMap((d) =>
        d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d.selectionSet] as const] : []
      ),
    );
    return {
      operation,
      needsCallerCheck: !this.#onlyApiFields(operation.selectionSet, fragments, new Set()),
      plan: planOperation(this.#schema, operation),
    };
  }

  /** True when every root field (fragments expanded) is one that calls the API. */
  #onlyApiFields(
    set: SelectionSetNode,
    fragments: Map<string, SelectionSetNode>,
    seen: Set<string>,
  ): boolean {
    return set.selections.every((selection) => {
      // A skipped field calls nothing: directives on root fields get the check too.
      if (selection.directives?.length) return false;
      if (selection.kind === Kind.FIELD) return this.#apiFields.has(selection.name.value);
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        return this.#onlyApiFields(selection.selectionSet, fragments, seen);
      }
      const name = selection.name.value;
      if (seen.has(name)) return true;
      seen.add(name);
      const fragment = fragments.get(name);
      return fragment !== undefined && this.#onlyApiFields(fragment, fragments, seen);
    });
  }
}
