/**
 * Every operation of the database, as plain data: its name, the input it takes and the
 * result it gives. Inputs and results are JSON-shaped (snake_case fields, as on REST), so
 * they cross a message port, an HTTP body or any later wire unchanged. The rules of each
 * operation (input checks, the scope it needs, what it does) live in `catalogue/`.
 */
import type { TokenInfo } from "../auth/authority.ts";
import type {
  AggregateRecord,
  AggregateSummary,
  AppendInput,
  EventRecord,
  VerifyResult,
} from "../engine/types.ts";
import type { PositionCheck } from "../engine/verify_index.ts";
import type { ConsistencyProofJson, InclusionProofJson } from "../integrity/proof.ts";
import type { AggregateSchema, SchemaAlteration } from "../schema/types.ts";
import type { StagedEvent } from "../staging/staged_events.ts";

export type {
  AggregateRecord,
  AggregateSummary,
  AppendInput,
  EventRecord,
  IssuedBy,
  JsonPatchOperation,
  VerifyResult,
} from "../engine/types.ts";
export type { PositionCheck, PositionProblem } from "../engine/verify_index.ts";
export type { TokenInfo } from "../auth/authority.ts";
// The vocabulary surfaces show in their help: token actions and the longest lifetime.
export { ACTIONS, MAX_EXPIRATION_SECONDS } from "../auth/authority.ts";
export type { AggregateSchema, SchemaAlteration } from "../schema/types.ts";
export type { StagedEvent } from "../staging/staged_events.ts";

/** Names one aggregate. */
export interface AggregateRef {
  aggregate_type: string;
  aggregate_id: string;
}

/** A page of a longer list: `next` is the `skip` of the following page when there is one. */
export interface Page<T> {
  items: T[];
  next?: number;
}

/** Paging input: `take` defaults per operation and is capped at `page_limit`. */
export interface PageInput {
  skip?: number;
  take?: number;
}

/** An aggregate as listed, with its state when `include_state` was asked for. */
export type ListedAggregate = AggregateSummary & { state?: Record<string, unknown> };

/** What an append committed. */
export interface AppendResult {
  event: EventRecord;
  /** False when the event id was committed before: `event` is the original record. */
  created: boolean;
}

/** What an atomic batch committed. */
export interface AppendBatchResult {
  events: EventRecord[];
  /** False when every event id was committed before (nothing new was written). */
  created: boolean;
}

/** The result of snapshot, archive and restore: the aggregate's version at that moment. */
export interface ControlResult extends AggregateRef {
  version: number;
}

/** An RFC 9162 inclusion proof of one event. */
export type InclusionProof =
  & AggregateRef
  & InclusionProofJson
  & { version: number; event_hash: string };

/** An RFC 9162 consistency proof between two versions. */
export type ConsistencyProof = AggregateRef & ConsistencyProofJson;

/** Who the caller is, as the API sees it. */
export interface CallerInfo {
  kind: "token" | "local" | "admin" | "peer";
  group?: string;
  user?: string;
  token_id?: string;
  actions: string[];
  resources: string[];
}

/** A token as issued (the string is shown once, here). */
export interface IssuedToken {
  token: string;
  info: TokenInfo;
}

/** The name of every operation, with its input and result. */
export interface Operations {
  describeCaller: { input: Record<string, never>; result: CallerInfo };

  appendEvent: { input: AppendInput; result: AppendResult };
  appendEvents: { input: { events: AppendInput[] }; result: AppendBatchResult };

  listAggregates: {
    input: PageInput & { aggregate_type?: string; include_state?: boolean };
    result: Page<ListedAggregate>;
  };
  getAggregate: { input: AggregateRef & { version?: number }; result: AggregateRecord };
  listEvents: { input: AggregateRef & PageInput; result: Page<EventRecord> };
  recentEvents: { input: AggregateRef & { take?: number }; result: EventRecord[] };
  verifyAggregate: { input: AggregateRef; result: VerifyResult };
  /** One page of the global position index check, from position `from` (default 1). */
  verifyPositions: { input: { from?: number; take?: number }; result: PositionCheck };
  inclusionProof: {
    input: AggregateRef & { version: number; tree_size?: number };
    result: InclusionProof;
  };
  consistencyProof: {
    input: AggregateRef & { from: number; to?: number };
    result: ConsistencyProof;
  };
  snapshotAggregate: { input: AggregateRef & { comment?: string }; result: ControlResult };
  archiveAggregate: { input: AggregateRef & { comment?: string }; result: ControlResult };
  restoreAggregate: { input: AggregateRef & { comment?: string }; result: ControlResult };
  removeAggregate: {
    input: AggregateRef;
    result: AggregateRef & { removed_staged: number };
  };

  stageEvent: { input: AppendInput; result: { staged: number; event: StagedEvent } };
  listStaged: { input: PageInput; result: Page<StagedEvent> };
  commitStaged: {
    input: Record<string, never>;
    result: { committed: number; events: EventRecord[] };
  };

  listSchemas: { input: Record<string, never>; result: AggregateSchema[] };
  getSchema: { input: { aggregate: string }; result: AggregateSchema };
  createSchema: {
    input: { aggregate: string; events: string[]; snapshot_threshold?: number };
    result: AggregateSchema;
  };
  putSchema: {
    input: { aggregate: string; schema: Record<string, unknown> };
    result: AggregateSchema;
  };
  alterSchema: { input: { aggregate: string; changes: SchemaAlteration }; result: AggregateSchema };
  deleteSchema: { input: { aggregate: string }; result: { aggregate: string; deleted: boolean } };
  addSchemaEvents: { input: { aggregate: string; events: string[] }; result: AggregateSchema };
  removeSchemaEvent: { input: { aggregate: string; event: string }; result: AggregateSchema };
  annotateSchemaEvent: {
    input: { aggregate: string; event: string; note: string | null };
    result: AggregateSchema;
  };
  importSchemas: { input: { schemas: unknown; replace?: boolean }; result: AggregateSchema[] };

  listTokens: { input: Record<string, never>; result: TokenInfo[] };
  generateToken: {
    input: {
      group: string;
      user: string;
      expiration?: number;
      limit?: number;
      keep_alive?: boolean;
      actions?: string[];
      resources?: string[];
    };
    result: IssuedToken;
  };
  revokeToken: { input: { token: string }; result: TokenInfo };
  refreshToken: {
    input: { token: string; expiration?: number; limit?: number };
    result: IssuedToken;
  };
}

/** The name of an operation. */
export type OperationName = keyof Operations;
/** The input an operation takes. */
export type OperationInput<N extends OperationName> = Operations[N]["input"];
/** The result an operation gives. */
export type OperationResult<N extends OperationName> = Operations[N]["result"];

/** Where a subscription to committed events starts. */
export interface SubscribeInput {
  /** Events with a position above this; absent: only events committed from now on. */
  after?: number;
}
