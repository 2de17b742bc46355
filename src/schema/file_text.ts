/**
 * The JSON text of schemas as `schemas.json` holds them (an object keyed by aggregate
 * type, sorted) or of one schema: what the store writes and `schema dump` prints; both
 * load back with `schema load`.
 */
import type { AggregateSchema } from "./types.ts";

/**
 * Schemas as the `schemas.json` text.
 *
 * @example
 * ```ts
 * schemasText([]); // "{}\n"
 * ```
 */
export function schemasText(schemas: Iterable<AggregateSchema>): string {
  const sorted = [...schemas].sort((a, b) => (a.aggregate < b.aggregate ? -1 : 1));
  return JSON.stringify(Object.fromEntries(sorted.map((s) => [s.aggregate, s])), null, 2) + "\n";
}

/**
 * One schema as JSON text.
 *
 * @example
 * ```ts
 * import type { AggregateSchema } from "./types.ts";
 * declare const schema: AggregateSchema;
 * schemaText(schema); // '{\n  "aggregate": ...'
 * ```
 */
export function schemaText(schema: AggregateSchema): string {
  return JSON.stringify(schema, null, 2) + "\n";
}
