/**
 * Listings with cursors, filters and sort orders, and field selection: what the official
 * client SDKs ask of the socket (and any surface may offer). Rules, for every surface:
 *
 * - `take` defaults to `list_page_size` (aggregates) or `page_limit` (events) and is capped
 *   at `page_limit`; a page with more behind it carries `next_cursor`, the cursor of its
 *   last item; `take: 0` gives an empty page.
 * - Aggregate listings leave archived aggregates out unless `include_archived`;
 *   `archived_only` lists only them. A caller sees only the aggregates its read scope names.
 * - Filters: see `src/query/filter.ts`; sort orders: `src/query/sort.ts`. The default order
 *   is the store's key order (type, then id); any other order reads every aggregate's
 *   summary to sort, and their state only when the filter reads the state.
 * - A selected field is a path into the state (`status`, `state.owner.group`); a missing
 *   one selects null.
 */
import { aggregateResource } from "../../auth/authority.ts";
import type { AggregateRecord, AggregateSummary, EventRecord } from "../../engine/types.ts";
import { DbxError } from "../../errors.ts";
import {
  aggregateCursor,
  eventCursor,
  readAggregateCursor,
  readEventCursor,
} from "../../query/cursor.ts";
import { type Filter, matchesFilter, parseFilter, readPath } from "../../query/filter.ts";
import {
  type AggregateView,
  readAggregateField,
  readEventField,
  readsState,
} from "../../query/records.ts";
import {
  compareSortValues,
  isKeyOrder,
  parseSort,
  type SortKey,
  sortText,
  sortValues,
} from "../../query/sort.ts";
import type { Principal } from "../access.ts";
import {
  checkObject,
  type JsonObject,
  optionalBoolean,
  optionalString,
  pageTake,
} from "../checks.ts";
import type { Node } from "../node.ts";
import type { AggregateQuery, EventQuery } from "../operations.ts";
import { aggregateInput, ofAggregate } from "./aggregates.ts";
import type { OperationContext, Operations } from "./spec.ts";

/** Aggregates (or events) read from the store per step while a page fills. */
const CHUNK = 256;
/** Most fields one selection may name, and the longest field path. */
const MAX_SELECT_FIELDS = 1024;
const MAX_FIELD_LENGTH = 1024;

/** A query's checked input, with its parsed filter and order (kept off the wire shape). */
type CheckedAggregateQuery = AggregateQuery & {
  parsedFilter?: Filter;
  keys: SortKey[];
  after?: (string | number | boolean)[];
};
type CheckedEventQuery = EventQuery & { parsedFilter?: Filter; afterVersion: number };

function filterOf(body: JsonObject): Filter | undefined {
  const text = optionalString(body, "filter");
  return text === undefined ? undefined : parseFilter(text);
}

function archivedMatch(input: AggregateQuery, archived: boolean): boolean {
  if (input.archived_only) return archived;
  return input.include_archived === true || !archived;
}

/** Whether the caller may read an aggregate (listings drop the others). */
function readable(ctx: OperationContext): ((type: string, id: string) => boolean) | undefined {
  const who: Principal = ctx.who;
  if (who.unrestricted || who.scope.resources.includes("*")) return undefined;
  return (t, i) => ctx.node.access.allows(who, "aggregate.read", aggregateResource(t, i));
}

/** The next page in key order: a scan that skips, by key only, what came before the cursor. */
async function keyOrderPage(
  ctx: OperationContext,
  input: CheckedAggregateQuery,
  take: number,
): Promise<AggregateRecord[]> {
  const engine = await ctx.engine();
  const allowed = readable(ctx);
  let after = input.after;
  const out: AggregateRecord[] = [];
  for (;;) {
    const from = after;
    const rows = await engine.listAggregates({
      take: CHUNK,
      withState: true,
      filter: (t, i) =>
        (from === undefined ||
          compareSortValues([], [t, i], from.slice(-2) as string[]) > 0) &&
        (allowed === undefined || allowed(t, i)),
    }) as AggregateRecord[];
    for (const row of rows) {
      after = [row.aggregate_type, row.aggregate_id];
      if (!archivedMatch(input, row.archived)) continue;
      if (
        input.parsedFilter && !matchesFilter(input.parsedFilter, (p) => readAggregateField(row, p))
      ) {
        continue;
      }
      out.push(row);
      if (out.length > take) return out;
    }
    if (rows.length < CHUNK) return out;
  }
}

/** The next page in another order: every summary read, sorted, the page's state fetched. */
async function sortedPage(
  ctx: OperationContext,
  input: CheckedAggregateQuery,
  take: number,
): Promise<AggregateRecord[]> {
  const engine = await ctx.engine();
  const allowed = readable(ctx);
  const filter = input.parsedFilter;
  const withState = filter !== undefined && filter.fields.some(readsState);
  const rows = await engine.listAggregates({
    take: Number.MAX_SAFE_INTEGER,
    withState,
    filter: allowed,
  }) as (AggregateSummary & { state?: Record<string, unknown> })[];
  const keys = input.keys;
  const matching = rows.filter((row) =>
    archivedMatch(input, row.archived) &&
    (!filter || matchesFilter(filter, (p) => readAggregateField(row as AggregateView, p)))
  ).map((row) => ({ row, values: sortValues(keys, row as AggregateView) }));
  matching.sort((a, b) => compareSortValues(keys, a.values, b.values));
  const after = input.after;
  const start = after === undefined
    ? 0
    : matching.findIndex((m) => compareSortValues(keys, m.values, after) > 0);
  if (start < 0) return [];
  const page = matching.slice(start, start + take + 1);
  const out: AggregateRecord[] = [];
  for (const { row } of page) {
    out.push(
      row.state !== undefined
        ? row as AggregateRecord
        : await engine.getAggregate(row.aggregate_type, row.aggregate_id),
    );
  }
  return out;
}

function selectionOf(state: Record<string, unknown>, fields: readonly string[]) {
  // fromEntries defines own properties: a field named "__proto__" stays data.
  return Object.fromEntries(fields.map((field) => {
    const path = field.split(".");
    const inState = path[0] === "state" && path.length > 1 ? path.slice(1) : path;
    const value = readPath(state, inState);
    return [field, value === undefined ? null : value];
  }));
}

/** The query operations. */
export const queryOperations: Operations<"queryAggregates" | "queryEvents" | "selectAggregate"> = {
  queryAggregates: {
    scope: { action: "aggregate.read", resources: "filtered" },
    check(raw, node: Node) {
      const body = checkObject(
        raw ?? {},
        ["cursor", "take", "filter", "sort", "include_archived", "archived_only"],
        "the input",
      );
      const sort = optionalString(body, "sort");
      const keys = sort === undefined ? [] : parseSort(sort);
      const canonical = isKeyOrder(keys) ? "" : sortText(keys);
      const cursor = optionalString(body, "cursor");
      const parsedFilter = filterOf(body);
      const out: CheckedAggregateQuery = {
        take: pageTake(body, node.config.list_page_size, node.config.page_limit),
        keys: canonical === "" ? [] : keys,
      };
      if (cursor !== undefined) {
        out.cursor = cursor;
        out.after = readAggregateCursor(cursor, canonical).after;
      }
      if (sort !== undefined) out.sort = sort;
      if (parsedFilter) {
        out.filter = parsedFilter.text;
        out.parsedFilter = parsedFilter;
      }
      if (optionalBoolean(body, "include_archived")) out.include_archived = true;
      if (optionalBoolean(body, "archived_only")) out.archived_only = true;
      return out;
    },
    async run(ctx, raw) {
      const input = raw as CheckedAggregateQuery;
      const take = input.take ?? ctx.node.config.list_page_size;
      if (take === 0) return { items: [] };
      const rows = input.keys.length === 0
        ? await keyOrderPage(ctx, input, take)
        : await sortedPage(ctx, input, take);
      if (rows.length <= take) return { items: rows };
      const items = rows.slice(0, take);
      const last = items[items.length - 1];
      return {
        items,
        next_cursor: aggregateCursor({
          sort: input.keys.length === 0 ? "" : sortText(input.keys),
          after: input.keys.length === 0
            ? [last.aggregate_type, last.aggregate_id]
            : sortValues(input.keys, last),
        }),
      };
    },
  },

  queryEvents: {
    scope: { action: "aggregate.read", resources: ofAggregate },
    check(raw, node) {
      const { aggregate_type, aggregate_id, body } = aggregateInput(raw, [
        "cursor",
        "take",
        "filter",
      ]);
      const cursor = optionalString(body, "cursor");
      const parsedFilter = filterOf(body);
      const out: CheckedEventQuery = {
        aggregate_type,
        aggregate_id,
        take: pageTake(body, node.config.page_limit, node.config.page_limit),
        afterVersion: cursor === undefined ? 0 : readEventCursor(cursor).version,
      };
      if (cursor !== undefined) out.cursor = cursor;
      if (parsedFilter) {
        out.filter = parsedFilter.text;
        out.parsedFilter = parsedFilter;
      }
      return out;
    },
    async run(ctx, raw) {
      const input = raw as CheckedEventQuery;
      const engine = await ctx.engine();
      const take = input.take ?? ctx.node.config.page_limit;
      // The aggregate must exist even for an empty page.
      if (!(await engine.exists(input.aggregate_type, input.aggregate_id))) {
        throw new DbxError(
          "not_found",
          `aggregate ${input.aggregate_type}/${input.aggregate_id} not found`,
        );
      }
      if (take === 0) return { items: [] };
      const out: EventRecord[] = [];
      let skip = input.afterVersion;
      for (;;) {
        const events = await engine.listEvents(input.aggregate_type, input.aggregate_id, {
          skip,
          take: CHUNK,
        });
        for (const event of events) {
          skip = event.version;
          const filter = input.parsedFilter;
          if (filter && !matchesFilter(filter, (p) => readEventField(event as never, p))) continue;
          out.push(event);
          if (out.length > take) {
            const items = out.slice(0, take);
            return {
              items,
              next_cursor: eventCursor({ version: items[items.length - 1].version }),
            };
          }
        }
        if (events.length < CHUNK) return { items: out };
      }
    },
  },

  selectAggregate: {
    scope: { action: "aggregate.read", resources: ofAggregate },
    check(raw) {
      const { aggregate_type, aggregate_id, body } = aggregateInput(raw, ["fields"]);
      const fields = body.fields;
      if (!Array.isArray(fields) || !fields.every((f) => typeof f === "string")) {
        throw new DbxError("invalid_input", "fields must be a list of field paths");
      }
      if (fields.length > MAX_SELECT_FIELDS) {
        throw new DbxError("invalid_input", `at most ${MAX_SELECT_FIELDS} fields may be selected`);
      }
      const trimmed = [...new Set(fields.map((f) => f.trim()).filter((f) => f !== ""))];
      if (trimmed.some((f) => f.length > MAX_FIELD_LENGTH)) {
        throw new DbxError(
          "invalid_input",
          `a field path is longer than ${MAX_FIELD_LENGTH} characters`,
        );
      }
      return { aggregate_type, aggregate_id, fields: trimmed };
    },
    async run(ctx, input) {
      const engine = await ctx.engine();
      const record = await engine.getAggregate(input.aggregate_type, input.aggregate_id);
      return { selection: selectionOf(record.state, input.fields) };
    },
  },
};
