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
import type { WriteStats } from "../engine/types.ts";
import type { ConsistencyProofJson, InclusionProofJson } from "../integrity/proof.ts";
import type { AggregateSchema, SchemaAlteration } from "../schema/types.ts";
import type { StagedEvent } from "../staging/staged_events.ts";
import type { Remote } from "../remotes/remote.ts";
import type { ImportedEvent } from "../engine/import.ts";
import type { Plugin, PluginSettings } from "../plugins/plugin.ts";
import type { PluginCheck, QueueReport } from "../plugins/delivery/manage.ts";
import type { InstalledPlugin } from "../plugins/process/install.ts";

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
export type { Remote } from "../remotes/remote.ts";
export type { ImportedEvent } from "../engine/import.ts";
export type { Plugin, PluginKind, PluginSettings } from "../plugins/plugin.ts";
export type { InstalledPlugin } from "../plugins/process/install.ts";
export type {
  PluginCheck,
  PluginQueueStatus,
  QueueEntryView,
  QueueReport,
} from "../plugins/delivery/manage.ts";
// The vocabulary of remotes and plugins, for surfaces' help texts.
export { DEFAULT_REMOTE_PORT } from "../remotes/remote.ts";
export { LOG_LEVELS, PLUGIN_KINDS } from "../plugins/plugin.ts";

/**
 * A remote to add or replace: its `endpoint` (`tcp://host:port`), or the `host` (IP or name)
 * and `port` (default 6363) that `dbx remote add` takes; and its Ed25519 public key.
 */
export interface RemoteInput {
  name: string;
  public_key: string;
  endpoint?: string;
  host?: string;
  port?: number;
}

/** One aggregate's events to import, as the node that committed them lists them. */
export interface ImportInput extends AggregateRef {
  events: ImportedEvent[];
}

/** What an import wrote: how many events, and the aggregate's head after it. */
export interface ImportResult extends AggregateRef {
  imported: number;
  version: number;
  merkle_root: string;
}

/** A plugin instance to configure: its kind's settings; `enabled` defaults to true. */
export type PluginInput = PluginSettings & { name: string; enabled?: boolean };

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

/** A page of a listing with cursors: `next_cursor` starts the following page, if any. */
export interface CursorPage<T> {
  items: T[];
  next_cursor?: string;
}

/** Aggregates with their state, in pages (see `catalogue/queries.ts` for the rules). */
export interface AggregateQuery {
  cursor?: string;
  take?: number;
  /** A filter expression (`src/query/filter.ts`). */
  filter?: string;
  /** A sort order: `field[:asc|desc][, field…]`. */
  sort?: string;
  include_archived?: boolean;
  archived_only?: boolean;
}

/** One aggregate's events, in pages. */
export interface EventQuery extends AggregateRef {
  cursor?: string;
  take?: number;
  filter?: string;
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
  /** The first event of an aggregate that must not exist yet (conflict if it does). */
  createAggregate: {
    input: Omit<AppendInput, "expected_version">;
    result: AppendResult & { aggregate: AggregateRecord };
  };
  /** An event for an aggregate that must exist (not_found if it does not). */
  appendExisting: { input: AppendInput; result: AppendResult };

  listAggregates: {
    input: PageInput & { aggregate_type?: string; include_state?: boolean };
    result: Page<ListedAggregate>;
  };
  getAggregate: { input: AggregateRef & { version?: number }; result: AggregateRecord };
  listEvents: { input: AggregateRef & PageInput; result: Page<EventRecord> };
  queryAggregates: { input: AggregateQuery; result: CursorPage<AggregateRecord> };
  queryEvents: { input: EventQuery; result: CursorPage<EventRecord> };
  /** Chosen state fields of one aggregate (a path each; missing ones are null). */
  selectAggregate: {
    input: AggregateRef & { fields: string[] };
    result: { selection: Record<string, unknown> };
  };
  recentEvents: { input: AggregateRef & { take?: number }; result: EventRecord[] };
  verifyAggregate: { input: AggregateRef; result: VerifyResult };
  /** One page of the global position index check, from position `from` (default 1). */
  verifyPositions: { input: { from?: number; take?: number }; result: PositionCheck };
  /** Counters of the store's synced writes since it opened (group-commit health). */
  writeStats: { input: Record<string, never>; result: WriteStats };
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

  listRemotes: { input: Record<string, never>; result: Remote[] };
  getRemote: { input: { name: string }; result: Remote };
  upsertRemote: { input: RemoteInput; result: { remote: Remote; created: boolean } };
  removeRemote: { input: { name: string }; result: { name: string; removed: boolean } };

  /** Replication: one aggregate's events as another node committed them (fast-forward). */
  importEvents: { input: ImportInput; result: ImportResult };

  listPlugins: { input: Record<string, never>; result: Plugin[] };
  getPlugin: { input: { name: string }; result: Plugin };
  upsertPlugin: { input: PluginInput; result: { plugin: Plugin; created: boolean } };
  /** Refused (conflict) while the plugin is enabled. */
  removePlugin: { input: { name: string }; result: { name: string; removed: boolean } };
  /** With `check`, refused (unavailable) when the plugin's target is not reachable. */
  enablePlugin: { input: { name: string; check?: boolean }; result: Plugin };
  disablePlugin: { input: { name: string }; result: Plugin };
  /** Delivery status per plugin and queue entries (pending and dead events). */
  pluginQueue: {
    input: { name?: string; status?: "pending" | "dead"; event_id?: string; take?: number };
    result: QueueReport;
  };
  /** Make queued events (dead ones too) due now with a fresh count of attempts. */
  retryPluginQueue: {
    input: { name?: string; event_id?: string };
    result: { retried: number };
  };
  /** Remove dead events from the queue. */
  clearPluginQueue: {
    input: { name?: string; event_id?: string };
    result: { cleared: number };
  };
  /** Queue the stored events of an aggregate (or of a type) for one plugin again. */
  replayPlugin: {
    input: { name: string; aggregate_type: string; aggregate_id?: string };
    result: { name: string; queued: number };
  };
  /** Check the targets of one plugin, or of every enabled plugin. */
  testPlugins: { input: { name?: string }; result: PluginCheck[] };
  /**
   * Install a process plugin's bundle (zip, tar or tar.gz at an absolute path or an http(s)
   * URL) under `plugins/<plugin>/<version>/<target>/`; refused when its sha256 is not
   * `checksum`, when it holds no build for this platform or an entry that would escape,
   * and (conflict) when that version is installed already, unless `force`.
   */
  installPlugin: {
    input: {
      plugin: string;
      version: string;
      source: string;
      bin?: string;
      checksum?: string;
      force?: boolean;
    };
    result: InstalledPlugin;
  };
  /**
   * Set the column type of an aggregate field for table plugins (postgres, sqlite, csv):
   * the plugin named `plugin`, else every plugin of that kind, else (no `plugin`) every
   * table plugin. Returns the plugins changed.
   */
  mapPluginField: {
    input: { aggregate_type: string; field: string; datatype: string; plugin?: string };
    result: { aggregate_type: string; field: string; datatype: string; plugins: Plugin[] };
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
