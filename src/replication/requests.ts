/**
 * What one side of a transfer offers: its aggregates' heads, their events and an import.
 * The local node offers it through its API (in this process, or through the server that
 * holds the store); a peer offers the same over the replication session, where each
 * request runs through the peer's API as the `peer` caller (`REQUESTS`).
 */
import type { Api, BoundApi } from "../api/api.ts";
import { bindCaller } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import type {
  AggregateRef,
  AggregateSchema,
  EventRecord,
  ImportInput,
  ImportResult,
} from "../api/operations.ts";
import { DbxError, isDbxError } from "../errors.ts";

/** Most aggregates one `heads` request names. */
export const MAX_HEADS_PER_REQUEST = 1000;

/** An aggregate's version and Merkle root (version 0 and no root: absent on that side). */
export interface AggregateHead extends AggregateRef {
  version: number;
  merkle_root: string | null;
}

/** A page of heads; `next` is the `skip` of the following page. */
export interface HeadPage {
  items: AggregateHead[];
  next?: number;
}

/** A page of one aggregate's events. */
export interface EventsInput extends AggregateRef {
  skip: number;
  take: number;
}

/** One side of a transfer. */
export interface ReplicationSide {
  listHeads(input: { aggregate_type?: string; skip?: number; take?: number }): Promise<HeadPage>;
  heads(refs: AggregateRef[]): Promise<AggregateHead[]>;
  events(input: EventsInput): Promise<EventRecord[]>;
  importEvents(input: ImportInput): Promise<ImportResult>;
  /** Every schema the caller may read. */
  schemas(): Promise<AggregateSchema[]>;
  /** Add or replace these schemas (as another node lists them); returns how many. */
  importSchemas(schemas: AggregateSchema[]): Promise<number>;
}

/** A request of the replication session, as sent. */
export interface PeerRequest {
  id: number;
  op: keyof typeof REQUESTS;
  input: unknown;
}

/**
 * A side served by an API bound to its caller.
 *
 * @example
 * ```ts
 * import type { BoundApi } from "../api/api.ts";
 * declare const db: BoundApi;
 * const side = apiSide(db);
 * const [head] = await side.heads([{ aggregate_type: "patient", aggregate_id: "p-1" }]);
 * ```
 */
export function apiSide(db: Pick<BoundApi, "call">): ReplicationSide {
  return {
    async listHeads(input) {
      const page = await db.call("listAggregates", {
        aggregate_type: input.aggregate_type,
        skip: input.skip,
        take: input.take,
      });
      const items = page.items.map((a) => ({
        aggregate_type: a.aggregate_type,
        aggregate_id: a.aggregate_id,
        version: a.version,
        merkle_root: a.merkle_root,
      }));
      return page.next === undefined ? { items } : { items, next: page.next };
    },
    async heads(refs) {
      if (!Array.isArray(refs) || refs.length > MAX_HEADS_PER_REQUEST) {
        throw new DbxError(
          "invalid_input",
          `heads takes a list of at most ${MAX_HEADS_PER_REQUEST} aggregates`,
        );
      }
      const out: AggregateHead[] = [];
      for (const ref of refs) {
        const named = {
          aggregate_type: (ref as AggregateRef)?.aggregate_type,
          aggregate_id: (ref as AggregateRef)?.aggregate_id,
        };
        try {
          const a = await db.call("getAggregate", named);
          out.push({ ...named, version: a.version, merkle_root: a.merkle_root });
        } catch (err) {
          if (!isDbxError(err, "not_found")) throw err;
          out.push({ ...named, version: 0, merkle_root: null });
        }
      }
      return out;
    },
    async events(input) {
      const page = await db.call("listEvents", {
        aggregate_type: input?.aggregate_type,
        aggregate_id: input?.aggregate_id,
        skip: input?.skip,
        take: input?.take,
      });
      return page.items;
    },
    // The batch was made for this call alone (parsed from a frame or read for it).
    importEvents: (input) => db.call("importEvents", input, { owned: true }),
    schemas: () => db.call("listSchemas", {}),
    async importSchemas(schemas) {
      return (await db.call("importSchemas", { schemas })).length;
    },
  };
}

/** The requests a peer may send, each run through the API as that peer. */
export const REQUESTS = {
  list: (api: Api, caller: Caller, input: unknown) =>
    apiSide(bindCaller(api, caller)).listHeads(objectInput(input)),
  heads: (api: Api, caller: Caller, input: unknown) =>
    apiSide(bindCaller(api, caller)).heads(objectInput(input).aggregates as AggregateRef[]),
  events: (api: Api, caller: Caller, input: unknown) =>
    apiSide(bindCaller(api, caller)).events(objectInput(input) as unknown as EventsInput),
  import: (api: Api, caller: Caller, input: unknown) =>
    apiSide(bindCaller(api, caller)).importEvents(objectInput(input) as unknown as ImportInput),
  schemas: (api: Api, caller: Caller) => apiSide(bindCaller(api, caller)).schemas(),
  import_schemas: (api: Api, caller: Caller, input: unknown) =>
    apiSide(bindCaller(api, caller)).importSchemas(
      objectInput(input).schemas as AggregateSchema[],
    ),
} as const;

function objectInput(input: unknown): Record<string, unknown> & { aggregate_type?: string } {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new DbxError("invalid_input", "a replication request's input must be an object");
  }
  return input as Record<string, unknown>;
}
