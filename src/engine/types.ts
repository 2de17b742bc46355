/** Who wrote an event: the group and user of the token used, or null. */
export interface IssuedBy {
  group: string;
  user: string;
}

export interface EventMetadata {
  event_id: string;
  /** RFC 3339, UTC, millisecond precision. */
  created_at: string;
  issued_by: IssuedBy | null;
  note?: string;
}

/** A committed event as every surface shows it (snake_case). */
export interface EventRecord {
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload: Record<string, unknown>;
  metadata: EventMetadata;
  version: number;
  hash: string;
  merkle_root: string;
  position: number;
}

/** The current (or historical) state of one aggregate. */
export interface AggregateRecord {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  state: Record<string, unknown>;
  merkle_root: string;
  archived: boolean;
  created_at: string;
  updated_at: string;
}

/** An aggregate as listed: everything but the state. */
export type AggregateSummary = Omit<AggregateRecord, "state">;

/** One RFC 6902 operation. */
export interface JsonPatchOperation {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

/** What a caller asks to append. Exactly one of payload and patch. */
export interface AppendInput {
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload?: Record<string, unknown>;
  patch?: JsonPatchOperation[];
  note?: string;
  /** Idempotency key: a retry with the same id returns the original record. */
  event_id?: string;
  /** Optimistic concurrency: the aggregate's version before this event. */
  expected_version?: number;
}

/**
 * A write allowance charged atomically with the append: the writer refuses the
 * append once `used + events > limit`, and stores the new count in the same
 * synced batch, so limits are exact under concurrency and across restarts.
 */
export interface WriteCharge {
  /** Stable counter name, e.g. the token id. */
  key: string;
  limit: number;
}

export interface AppendOptions {
  issued_by?: IssuedBy | null;
  charge?: WriteCharge;
}

/** What a validator sees for each event, after any patch was applied. */
export interface ValidationContext {
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload: Record<string, unknown>;
  /** Version before this event; 0 for a new aggregate. */
  current_version: number;
  /** State before this event. */
  state: Record<string, unknown>;
}

/**
 * Called by the writer for each event before it is committed; throws a
 * DbxError("schema_violation" | ...) to refuse it. Must be synchronous and fast.
 */
export type EventValidator = (ctx: ValidationContext) => void;

export interface VerifyResult {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  merkle_root: string;
  verified: boolean;
  /** First version whose hash, root or position in the chain does not match. */
  first_bad_version?: number;
  reason?: string;
}

export interface Page {
  skip?: number;
  take?: number;
}

/**
 * Counters of the writer's synced writes since the store opened: how well group commit
 * fills each write, and how long each takes from issue to its completion being handled.
 */
export interface WriteStats {
  /** Synced writes completed. */
  writes: number;
  /**
   * Rounds of requests they committed: a write carries every round prepared while the write
   * before it was in flight, so rounds above writes mean the pipeline overlapped.
   */
  rounds: number;
  /** Events they committed. */
  events: number;
  /** Bytes of their write batches: what RocksDB appends to its write-ahead log. */
  wal_bytes: number;
  /** Sum over the writes of the time from issue to completion, in milliseconds. */
  write_ms: number;
}
