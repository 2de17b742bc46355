/**
 * Replication's write: `importEvents` (`aggregate.import` on the aggregate) takes a batch of
 * one aggregate's events as another node committed them and imports it fast-forward only,
 * all or nothing (`src/engine/import.ts` says what is recomputed and refused). Pinned peers
 * hold the action; tokens only when granted it (or `*`).
 */
import { aggregateResource } from "../../auth/scope.ts";
import { MAX_IMPORT_EVENTS } from "../../engine/import.ts";
import { checkAggregate } from "../../engine/input.ts";
import { DbxError } from "../../errors.ts";
import { checkObject } from "../checks.ts";
import type { Operations } from "./spec.ts";

/** The replication operations. */
export const replicationOperations: Operations<"importEvents"> = {
  importEvents: {
    scope: {
      action: "aggregate.import",
      resources: (input) => [aggregateResource(input.aggregate_type, input.aggregate_id)],
    },
    check(raw) {
      const body = checkObject(raw, ["aggregate_type", "aggregate_id", "events"], "the input");
      const { type, id } = checkAggregate(body.aggregate_type, body.aggregate_id);
      const events = body.events;
      if (!Array.isArray(events) || events.length === 0) {
        throw new DbxError("invalid_input", "events must be a non-empty list");
      }
      if (events.length > MAX_IMPORT_EVENTS) {
        throw new DbxError("too_large", `an import carries at most ${MAX_IMPORT_EVENTS} events`);
      }
      // Each event's shape is checked by the engine, which owns the import rules.
      return { aggregate_type: type, aggregate_id: id, events };
    },
    async run({ engine }, input) {
      const outcome = await (await engine()).importEvents(
        input.aggregate_type,
        input.aggregate_id,
        input.events,
      );
      const last = outcome.events[outcome.events.length - 1];
      return {
        aggregate_type: input.aggregate_type,
        aggregate_id: input.aggregate_id,
        imported: outcome.written,
        version: last.version,
        merkle_root: last.merkle_root,
      };
    },
  },
};
