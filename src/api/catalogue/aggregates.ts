/**
 * Reading aggregates and their events, verification, Merkle proofs, and the snapshot,
 * archive and restore controls.
 *
 * Paging rules (for every surface): `take` is capped at `page_limit`; aggregate listings
 * default to `list_page_size`, an aggregate's events to `page_limit` (the older seed lists
 * "every event"), recent events to 10.
 */
import { aggregateResource } from "../../auth/authority.ts";
import { checkAggregate } from "../../engine/input.ts";
import { validateName, validateNote } from "../../engine/names.ts";
import {
  checkObject,
  type JsonObject,
  optionalBoolean,
  optionalInteger,
  pageTake,
  requiredInteger,
} from "../checks.ts";
import type { AggregateRef, OperationName } from "../operations.ts";
import type { OperationContext, Operations, OperationSpec } from "./spec.ts";

/** Default `take` of recent events (older seed). */
const RECENT_DEFAULT = 10;

/** The `aggregate_type` / `aggregate_id` of an input, checked, with the other fields allowed. */
export function aggregateInput(
  raw: unknown,
  fields: readonly string[] = [],
): AggregateRef & { body: JsonObject } {
  const body = checkObject(raw, ["aggregate_type", "aggregate_id", ...fields], "the input");
  const { type, id } = checkAggregate(body.aggregate_type, body.aggregate_id);
  return { aggregate_type: type, aggregate_id: id, body };
}

/** The resource of the aggregate an input names. */
export function ofAggregate(input: AggregateRef): readonly string[] {
  return [aggregateResource(input.aggregate_type, input.aggregate_id)];
}

const read = { action: "aggregate.read", resources: ofAggregate } as const;

type AggregateOps =
  | "listAggregates"
  | "getAggregate"
  | "listEvents"
  | "recentEvents"
  | "verifyAggregate"
  | "inclusionProof"
  | "consistencyProof"
  | "snapshotAggregate"
  | "archiveAggregate"
  | "restoreAggregate";

type ControlOp = "snapshotAggregate" | "archiveAggregate" | "restoreAggregate";

function control<N extends ControlOp>(op: "snapshot" | "archive" | "restore"): OperationSpec<N> {
  return {
    scope: {
      action: op === "snapshot" ? "aggregate.append" : "aggregate.archive",
      resources: ofAggregate,
    },
    check(raw: unknown) {
      const { aggregate_type, aggregate_id, body } = aggregateInput(raw, ["comment"]);
      const comment = validateNote(body.comment, "comment");
      return comment === undefined
        ? { aggregate_type, aggregate_id }
        : { aggregate_type, aggregate_id, comment };
    },
    async run(ctx: OperationContext, input: AggregateRef & { comment?: string }) {
      const engine = await ctx.engine();
      const version = await engine[op](input.aggregate_type, input.aggregate_id, {
        comment: input.comment,
      });
      return { aggregate_type: input.aggregate_type, aggregate_id: input.aggregate_id, version };
    },
  };
}

/** The aggregate operations. */
export const aggregateOperations: Operations<AggregateOps & OperationName> = {
  listAggregates: {
    scope: { action: "aggregate.read", resources: "filtered" },
    check(raw, node) {
      const body = checkObject(
        raw ?? {},
        ["skip", "take", "aggregate_type", "include_state"],
        "the input",
      );
      const out: {
        skip: number;
        take: number;
        aggregate_type?: string;
        include_state?: boolean;
      } = {
        skip: optionalInteger(body, "skip") ?? 0,
        take: pageTake(body, node.config.list_page_size, node.config.page_limit),
      };
      if (body.aggregate_type !== undefined && body.aggregate_type !== null) {
        out.aggregate_type = validateName("aggregate_type", body.aggregate_type);
      }
      if (optionalBoolean(body, "include_state")) out.include_state = true;
      return out;
    },
    async run(ctx, input) {
      const { who, node } = ctx;
      const engine = await ctx.engine();
      // A caller on every resource needs no per-aggregate check.
      const everything = who.unrestricted || who.scope.resources.includes("*");
      const skip = input.skip ?? 0;
      const take = input.take ?? node.config.list_page_size;
      const rows = await engine.listAggregates({
        skip,
        take: take + 1,
        aggregate_type: input.aggregate_type,
        filter: everything
          ? undefined
          : (t, i) => node.access.allows(who, "aggregate.read", aggregateResource(t, i)),
        withState: input.include_state,
      });
      return rows.length > take
        ? { items: rows.slice(0, take), next: skip + take }
        : { items: rows };
    },
  },

  getAggregate: {
    scope: read,
    check(raw) {
      const { aggregate_type, aggregate_id, body } = aggregateInput(raw, ["version"]);
      const version = optionalInteger(body, "version");
      return version === undefined
        ? { aggregate_type, aggregate_id }
        : { aggregate_type, aggregate_id, version };
    },
    async run(ctx, input) {
      const engine = await ctx.engine();
      return await engine.getAggregate(input.aggregate_type, input.aggregate_id, {
        version: input.version,
      });
    },
  },

  listEvents: {
    scope: read,
    check(raw, node) {
      const { aggregate_type, aggregate_id, body } = aggregateInput(raw, ["skip", "take"]);
      return {
        aggregate_type,
        aggregate_id,
        skip: optionalInteger(body, "skip") ?? 0,
        take: pageTake(body, node.config.page_limit, node.config.page_limit),
      };
    },
    async run(ctx, input) {
      const engine = await ctx.engine();
      const skip = input.skip ?? 0;
      const take = input.take ?? ctx.node.config.page_limit;
      const events = await engine.listEvents(input.aggregate_type, input.aggregate_id, {
        skip,
        take: take + 1,
      });
      return events.length > take
        ? { items: events.slice(0, take), next: skip + take }
        : { items: events };
    },
  },

  recentEvents: {
    scope: read,
    check(raw, node) {
      const { aggregate_type, aggregate_id, body } = aggregateInput(raw, ["take"]);
      const limit = node.config.page_limit;
      return {
        aggregate_type,
        aggregate_id,
        take: pageTake(body, Math.min(RECENT_DEFAULT, limit), limit),
      };
    },
    async run(ctx, input) {
      const engine = await ctx.engine();
      return await engine.recentEvents(input.aggregate_type, input.aggregate_id, input.take);
    },
  },

  verifyAggregate: {
    scope: read,
    check: (raw) => strip(aggregateInput(raw)),
    async run(ctx, input) {
      const engine = await ctx.engine();
      return await engine.verify(input.aggregate_type, input.aggregate_id);
    },
  },

  inclusionProof: {
    scope: read,
    check(raw) {
      const { aggregate_type, aggregate_id, body } = aggregateInput(raw, ["version", "tree_size"]);
      const version = requiredInteger(body, "version");
      const treeSize = optionalInteger(body, "tree_size");
      return treeSize === undefined
        ? { aggregate_type, aggregate_id, version }
        : { aggregate_type, aggregate_id, version, tree_size: treeSize };
    },
    async run(ctx, input) {
      const engine = await ctx.engine();
      const proof = await engine.inclusionProof(
        input.aggregate_type,
        input.aggregate_id,
        input.version,
        input.tree_size,
      );
      return { aggregate_type: input.aggregate_type, aggregate_id: input.aggregate_id, ...proof };
    },
  },

  consistencyProof: {
    scope: read,
    check(raw) {
      const { aggregate_type, aggregate_id, body } = aggregateInput(raw, ["from", "to"]);
      const from = requiredInteger(body, "from");
      const to = optionalInteger(body, "to");
      return to === undefined
        ? { aggregate_type, aggregate_id, from }
        : { aggregate_type, aggregate_id, from, to };
    },
    async run(ctx, input) {
      const engine = await ctx.engine();
      const proof = await engine.consistencyProof(
        input.aggregate_type,
        input.aggregate_id,
        input.from,
        input.to,
      );
      return { aggregate_type: input.aggregate_type, aggregate_id: input.aggregate_id, ...proof };
    },
  },

  snapshotAggregate: control("snapshot"),
  archiveAggregate: control("archive"),
  restoreAggregate: control("restore"),
};

/** The aggregate reference alone, without the checked body. */
export function strip(input: AggregateRef & { body?: unknown }): AggregateRef {
  return { aggregate_type: input.aggregate_type, aggregate_id: input.aggregate_id };
}
