/**
 * The OpenAPI 3.1 document of the REST surface, served at `GET /openapi.json`.
 * A test checks that its (method, path) pairs equal the app's routes.
 */

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json): Json => ({ "application/json": { schema } });
const arrayOf = (schema: Json): Json => ({ type: "array", items: schema });
const str = (description?: string): Json => ({ type: "string", description });
const int = (description?: string, minimum = 0): Json => ({
  type: "integer",
  minimum,
  description,
});

const pathParam = (name: string, description: string): Json => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string", minLength: 1, maxLength: 128 },
});
const queryInt = (name: string, description: string, required = false): Json => ({
  name,
  in: "query",
  required,
  description,
  schema: { type: "integer", minimum: 0 },
});
const AGGREGATE = [
  pathParam("aggregate_type", "aggregate type"),
  pathParam("aggregate_id", "aggregate id"),
];
const SCHEMA_NAME = pathParam("aggregate", "aggregate type the schema governs");
const EVENT_NAME = pathParam("event", "event type");

const errorRefs = (...codes: number[]): Json =>
  Object.fromEntries(
    codes.map((code) => [String(code), { $ref: `#/components/responses/E${code}` }]),
  );

interface Operation {
  summary: string;
  tag: string;
  /** The token scope needed, e.g. "aggregate.read on aggregate:TYPE:ID". */
  scope?: string;
  params?: Json[];
  body?: Json;
  /** The body may be left out (an empty body counts as `{}`). */
  bodyOptional?: boolean;
  ok: Json;
  status?: number;
  okDescription?: string;
  errors?: number[];
  description?: string;
}

function operation(o: Operation): Json {
  const description = [o.description, o.scope && `Requires ${o.scope}.`].filter(Boolean).join(
    "\n\n",
  );
  const responses: Json = {
    [String(o.status ?? 200)]: { description: o.okDescription ?? "OK", content: json(o.ok) },
    ...errorRefs(...(o.scope ? [401, 403] : []), ...(o.errors ?? [])),
    "500": { $ref: "#/components/responses/E500" },
  };
  return {
    summary: o.summary,
    tags: [o.tag],
    ...(description ? { description } : {}),
    ...(o.params?.length ? { parameters: o.params } : {}),
    ...(o.body
      ? { requestBody: { required: o.bodyOptional !== true, content: json(o.body) } }
      : {}),
    ...(o.scope ? {} : { security: [] }),
    responses,
  };
}

const EVENT_FIELDS: Json = {
  event_type: str("event type (declared in the schema when one exists)"),
  payload: { type: "object", description: "the event's fields; exclusive with patch" },
  patch: arrayOf({
    type: "object",
    description: "RFC 6902 operation",
    properties: { op: str(), path: str(), value: {}, from: str() },
    required: ["op", "path"],
  }),
  note: { type: "string", maxLength: 128 },
  metadata: {
    type: "object",
    properties: { note: { type: "string", maxLength: 128 } },
    additionalProperties: false,
    description: "older spelling of note",
  },
  event_id: { type: "string", format: "uuid", description: "idempotency key" },
  expected_version: int("optimistic concurrency: the version before this event (409 otherwise)"),
};

const SCHEMAS: Json = {
  Error: {
    type: "object",
    properties: { message: str(), code: str("machine-readable error code") },
    required: ["message", "code"],
  },
  IssuedBy: {
    type: ["object", "null"],
    properties: { group: str(), user: str() },
    required: ["group", "user"],
  },
  EventRecord: {
    type: "object",
    properties: {
      aggregate_type: str(),
      aggregate_id: str(),
      event_type: str(),
      payload: { type: "object" },
      metadata: {
        type: "object",
        properties: {
          event_id: { type: "string", format: "uuid" },
          created_at: { type: "string", format: "date-time" },
          issued_by: ref("IssuedBy"),
          note: str(),
        },
        required: ["event_id", "created_at", "issued_by"],
      },
      version: int(undefined, 1),
      hash: str("SHA-256 hex of the canonical record"),
      merkle_root: str("root of the aggregate's Merkle tree after this event"),
      position: int("global commit position", 1),
    },
    required: [
      "aggregate_type",
      "aggregate_id",
      "event_type",
      "payload",
      "metadata",
      "version",
      "hash",
      "merkle_root",
      "position",
    ],
  },
  AggregateSummary: {
    type: "object",
    properties: {
      aggregate_type: str(),
      aggregate_id: str(),
      version: int(),
      merkle_root: str(),
      archived: { type: "boolean" },
      created_at: { type: "string", format: "date-time" },
      updated_at: { type: "string", format: "date-time" },
    },
  },
  AggregateRecord: {
    allOf: [ref("AggregateSummary"), {
      type: "object",
      properties: { state: { type: "object" } },
    }],
  },
  AggregatePage: {
    type: "object",
    properties: { items: arrayOf(ref("AggregateRecord")), next_cursor: str() },
    required: ["items"],
  },
  EventPage: {
    type: "object",
    properties: { items: arrayOf(ref("EventRecord")), next_cursor: str() },
    required: ["items"],
  },
  AppendEvent: {
    type: "object",
    properties: { ...EVENT_FIELDS },
    required: ["event_type"],
    additionalProperties: false,
  },
  AppendEventGlobal: {
    type: "object",
    properties: { aggregate_type: str(), aggregate_id: str(), ...EVENT_FIELDS },
    required: ["aggregate_type", "aggregate_id", "event_type"],
    additionalProperties: false,
  },
  Batch: {
    oneOf: [
      {
        type: "object",
        properties: { events: arrayOf(ref("AppendEventGlobal")) },
        required: ["events"],
      },
      arrayOf(ref("AppendEventGlobal")),
    ],
  },
  VerifyResult: {
    type: "object",
    properties: {
      aggregate_type: str(),
      aggregate_id: str(),
      version: int(),
      merkle_root: str(),
      verified: { type: "boolean" },
      first_bad_version: int(undefined, 1),
      reason: str(),
    },
    required: ["aggregate_type", "aggregate_id", "version", "merkle_root", "verified"],
  },
  PositionCheck: {
    type: "object",
    description: "one page of the global position index check",
    properties: {
      from: int("first position checked", 1),
      to: int("last position checked"),
      next: int("where the next page starts (absent on the last page)", 1),
      runs: int("index records read"),
      entries: int("index entries (positions) checked"),
      last_position: int("the store's recorded last position"),
      events: int("events stored in the whole store (last page only)"),
      aggregates: int("aggregate heads stored (last page only)"),
      snapshots: int("snapshots stored (last page only)"),
      verified: { type: "boolean" },
      problems: arrayOf({
        type: "object",
        properties: {
          position: int(),
          aggregate_type: str(),
          aggregate_id: str(),
          version: int(undefined, 1),
          reason: str(),
        },
        required: ["position", "reason"],
      }),
      more_problems: int("problems found beyond those listed"),
    },
    required: ["from", "to", "runs", "entries", "last_position", "verified", "problems"],
  },
  WriteStats: {
    type: "object",
    description: "counters of the store's synced writes since it opened",
    properties: {
      writes: int("synced writes completed"),
      rounds: int("rounds of requests they carried (above writes: the pipeline overlapped)"),
      events: int("events they committed (events per write = events / writes)"),
      wal_bytes: int("bytes of their write batches, as the write-ahead log stores them"),
      write_ms: { type: "number", minimum: 0, description: "summed issue-to-completion time" },
    },
    required: ["writes", "rounds", "events", "wal_bytes", "write_ms"],
  },
  InclusionProof: {
    type: "object",
    description: "RFC 9162 inclusion proof of event `version` (leaf `version - 1`)",
    properties: {
      aggregate_type: str(),
      aggregate_id: str(),
      version: int(undefined, 1),
      event_hash: str(),
      leaf_index: int(),
      tree_size: int(undefined, 1),
      leaf_hash: str(),
      audit_path: arrayOf(str()),
      root: str(),
    },
  },
  ConsistencyProof: {
    type: "object",
    description: "RFC 9162 consistency proof between tree sizes old_size and new_size",
    properties: {
      aggregate_type: str(),
      aggregate_id: str(),
      old_size: int(undefined, 1),
      new_size: int(undefined, 1),
      old_root: str(),
      new_root: str(),
      consistency_path: arrayOf(str()),
    },
  },
  ControlResult: {
    type: "object",
    properties: { aggregate_type: str(), aggregate_id: str(), version: int() },
  },
  Comment: {
    type: "object",
    properties: { comment: { type: "string", maxLength: 128 } },
    additionalProperties: false,
  },
  Schema: {
    type: "object",
    description: "an aggregate type's schema (see `dbx schema show --json`)",
    properties: {
      aggregate: str(),
      events: { type: "object", additionalProperties: { type: "object" } },
      snapshot_threshold: int(undefined, 1),
      locked: { type: "boolean" },
      field_locks: arrayOf(str()),
      columns: { type: "object", additionalProperties: { type: "object" } },
      created_at: { type: "string", format: "date-time" },
      updated_at: { type: "string", format: "date-time" },
    },
  },
  TokenInfo: {
    type: "object",
    properties: {
      id: str(),
      group: str(),
      user: str(),
      status: { enum: ["active", "expired", "revoked", "exhausted"] },
      issued_at: { type: "string", format: "date-time" },
      expires_at: { type: ["string", "null"], format: "date-time" },
      expiration: { type: ["integer", "null"] },
      keep_alive: { type: "boolean" },
      limit: { type: ["integer", "null"] },
      used_writes: { type: ["integer", "null"] },
      remaining_writes: { type: ["integer", "null"] },
      actions: arrayOf(str()),
      resources: arrayOf(str()),
    },
  },
  IssuedToken: {
    type: "object",
    properties: { token: str("the token; shown only here"), info: ref("TokenInfo") },
  },
  Remote: {
    type: "object",
    properties: {
      name: str(),
      endpoint: str("tcp://HOST:PORT of the remote's control socket"),
      public_key: str("the pinned Ed25519 public key, base64"),
      created_at: { type: "string", format: "date-time" },
      updated_at: { type: "string", format: "date-time" },
    },
  },
  RemoteInput: {
    type: "object",
    description: "endpoint, or host with an optional port (default 6363)",
    properties: {
      endpoint: str("tcp://HOST:PORT"),
      host: str("IP address or host name"),
      port: { type: "integer", minimum: 1, maximum: 65535 },
      public_key: str("Ed25519 public key, 32 bytes as base64"),
    },
    required: ["public_key"],
    additionalProperties: false,
  },
  Plugin: {
    type: "object",
    description: "name, kind, enabled and the kind's settings",
    properties: {
      name: str(),
      kind: {
        enum: ["tcp", "http", "grpc", "log", "process", "postgres", "sqlite", "csv", "json"],
      },
      enabled: { type: "boolean" },
      created_at: { type: "string", format: "date-time" },
      updated_at: { type: "string", format: "date-time" },
    },
    additionalProperties: true,
  },
  PluginInput: {
    type: "object",
    description: "tcp: host, port; http: endpoint, https, headers; grpc: endpoint; log: " +
      "level, template; process: plugin, version, args, env, working_dir; postgres: " +
      "connection; sqlite: path; csv: output_dir; json: path, pretty; postgres, sqlite " +
      "and csv also column_types ({aggregate: {field: type}})",
    properties: {
      kind: {
        enum: ["tcp", "http", "grpc", "log", "process", "postgres", "sqlite", "csv", "json"],
      },
      enabled: { type: "boolean", description: "default true" },
    },
    required: ["kind"],
    additionalProperties: true,
  },
};

const ERROR_RESPONSES: Record<number, string> = {
  400: "Bad input or schema violation",
  401: "Missing, invalid, expired or revoked token",
  403: "Not permitted, write limit reached, or aggregate archived",
  404: "Not found",
  409: "Conflict (e.g. version conflict)",
  413: "Request body too large",
  500: "Internal error",
  503: "Store closed, or the write queue is full (with Retry-After)",
};

const READ = "aggregate.read on aggregate:TYPE:ID";
const APPEND = "aggregate.append on aggregate:TYPE:ID";
const SCHEMA_READ = "schema.read on schema:TYPE";
const SCHEMA_WRITE = "schema.write on schema:TYPE";
const TOKENS = "token.manage on token:*";
const REMOTES = "remote.manage on remote:NAME";
const PLUGINS = "plugin.manage on plugin:NAME";
const REMOTE_NAME = pathParam("name", "remote name");
const PLUGIN_NAME = pathParam("name", "plugin name");
const REMOVED = {
  type: "object",
  properties: { name: str(), removed: { const: true } },
};

/** What `queue retry` and `queue clear` act on: one plugin, one event, or all. */
const QUEUE_SELECTION: Json = {
  type: "object",
  properties: { name: str(), event_id: { type: "string", format: "uuid" } },
  additionalProperties: false,
};
const QUEUE_SCOPE = "plugin.manage on plugin:NAME (plugin:* without a name)";

const PATHS: Record<string, Record<string, Json>> = {
  "/health": {
    get: operation({
      summary: "Liveness probe (no token needed)",
      tag: "server",
      ok: { type: "object", properties: { status: { const: "ok" } } },
    }),
  },
  "/openapi.json": {
    get: operation({
      summary: "This document",
      tag: "server",
      scope: "any valid token",
      ok: { type: "object" },
    }),
  },
  "/v1/aggregates": {
    get: operation({
      summary: "List aggregates the token may read",
      tag: "aggregates",
      scope: "aggregate.read (the list holds only permitted aggregates)",
      params: [
        queryInt("skip", "skip this many permitted aggregates (default 0)"),
        queryInt("take", "at most this many (default list_page_size, capped at page_limit)"),
        { name: "aggregate_type", in: "query", schema: { type: "string" } },
        {
          name: "include_state",
          in: "query",
          description: "also return each aggregate's state (true or false)",
          schema: { type: "boolean" },
        },
      ],
      description: 'A `Link: <…>; rel="next"` header names the next page when there is one.',
      ok: arrayOf(ref("AggregateSummary")),
      errors: [400],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}": {
    get: operation({
      summary: "An aggregate's current state (or its state at a version)",
      tag: "aggregates",
      scope: READ,
      params: [...AGGREGATE, queryInt("version", "state as of this version")],
      ok: ref("AggregateRecord"),
      errors: [400, 404],
    }),
    delete: operation({
      summary: "Remove an aggregate that has only staged events (drops them)",
      tag: "aggregates",
      scope: APPEND,
      description: "Committed events are never deleted: an aggregate with any is 409.",
      params: AGGREGATE,
      ok: {
        type: "object",
        properties: { aggregate_type: str(), aggregate_id: str(), removed_staged: int() },
      },
      errors: [400, 404, 409],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}/events": {
    get: operation({
      summary: "An aggregate's events, oldest first",
      tag: "events",
      scope: READ,
      params: [
        ...AGGREGATE,
        queryInt("skip", "skip this many events (default 0)"),
        queryInt("take", "at most this many (default and cap: page_limit)"),
      ],
      ok: arrayOf(ref("EventRecord")),
      errors: [400, 404],
    }),
    post: operation({
      summary: "Append an event to this aggregate",
      tag: "events",
      scope: APPEND,
      description: "An idempotent retry (same event_id) answers 200 with the original record.",
      params: AGGREGATE,
      body: ref("AppendEvent"),
      ok: ref("EventRecord"),
      status: 201,
      okDescription: "Created",
      errors: [400, 409, 413],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}/events/recent": {
    get: operation({
      summary: "The most recent events, oldest first",
      tag: "events",
      scope: READ,
      params: [...AGGREGATE, queryInt("take", "how many (default 10, capped at page_limit)")],
      ok: arrayOf(ref("EventRecord")),
      errors: [400, 404],
    }),
  },
  "/v1/query/aggregates": {
    get: operation({
      summary: "Aggregates with their state, by cursor, filter and sort order",
      tag: "aggregates",
      scope: "aggregate.read (the list holds only permitted aggregates)",
      description: "Archived aggregates are left out unless include_archived (or " +
        "archived_only). The answer's next_cursor, when present, starts the next page.",
      params: [
        { name: "cursor", in: "query", schema: { type: "string" } },
        queryInt("take", "at most this many (default list_page_size, capped at page_limit)"),
        {
          name: "filter",
          in: "query",
          description: 'e.g. status = "active" AND score > 40',
          schema: { type: "string" },
        },
        {
          name: "sort",
          in: "query",
          description: "field[:asc|desc][, field…] over aggregate_type, aggregate_id, version, " +
            "merkle_root, archived, created_at, updated_at",
          schema: { type: "string" },
        },
        { name: "include_archived", in: "query", schema: { type: "boolean" } },
        { name: "archived_only", in: "query", schema: { type: "boolean" } },
      ],
      ok: ref("AggregatePage"),
      errors: [400],
    }),
  },
  "/v1/query/aggregates/{aggregate_type}/{aggregate_id}/events": {
    get: operation({
      summary: "An aggregate's events by cursor and filter",
      tag: "events",
      scope: READ,
      params: [
        ...AGGREGATE,
        { name: "cursor", in: "query", schema: { type: "string" } },
        queryInt("take", "at most this many (default and cap: page_limit)"),
        {
          name: "filter",
          in: "query",
          description: 'e.g. payload.status = "open" AND metadata.note LIKE "retry%"',
          schema: { type: "string" },
        },
      ],
      ok: ref("EventPage"),
      errors: [400, 404],
    }),
  },
  "/v1/query/aggregates/{aggregate_type}/{aggregate_id}/select": {
    get: operation({
      summary: "Chosen fields of an aggregate's state",
      tag: "aggregates",
      scope: READ,
      params: [
        ...AGGREGATE,
        {
          name: "fields",
          in: "query",
          required: true,
          description: 'state paths as a JSON list (["status","owner.group"]) or a,b',
          schema: { type: "string" },
        },
      ],
      ok: {
        type: "object",
        properties: { selection: { type: "object", description: "path: value (null if missing)" } },
      },
      errors: [400, 404],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}/create": {
    post: operation({
      summary: "Create an aggregate with its first event",
      tag: "events",
      scope: APPEND,
      description: "409 when the aggregate exists; an idempotent retry (same event_id) " +
        "answers 200 with the original event.",
      params: AGGREGATE,
      body: ref("AppendEvent"),
      ok: {
        type: "object",
        properties: { event: ref("EventRecord"), aggregate: ref("AggregateRecord") },
      },
      status: 201,
      okDescription: "Created",
      errors: [400, 409, 413],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}/apply": {
    post: operation({
      summary: "Append an event to an aggregate that exists",
      tag: "events",
      scope: APPEND,
      description: "404 when the aggregate does not exist (POST …/events would create it).",
      params: AGGREGATE,
      body: ref("AppendEvent"),
      ok: ref("EventRecord"),
      status: 201,
      okDescription: "Created",
      errors: [400, 404, 409, 413],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}/verify": {
    get: operation({
      summary: "Recompute every hash and the Merkle root",
      tag: "integrity",
      scope: READ,
      params: AGGREGATE,
      ok: ref("VerifyResult"),
      errors: [400, 404],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}/import": {
    post: operation({
      summary: "Import replicated events (fast-forward only)",
      tag: "events",
      scope: "aggregate.import on the aggregate",
      description: "The events as the node that committed them lists them, the next versions " +
        "of this aggregate. Every version, hash and Merkle root is recomputed here; one that " +
        "differs refuses the whole batch (409 diverged, 400 tampered) and writes nothing.",
      params: AGGREGATE,
      body: {
        type: "object",
        required: ["events"],
        properties: { events: arrayOf(ref("EventRecord")) },
      },
      ok: {
        type: "object",
        properties: {
          aggregate_type: str(),
          aggregate_id: str(),
          imported: int("events written"),
          version: int("the aggregate's version after the import"),
          merkle_root: str(),
        },
      },
      errors: [400, 409, 413],
    }),
  },
  "/v1/verify/positions": {
    get: operation({
      summary: "Check one page of the global position index",
      tag: "integrity",
      scope: "aggregate.read on every aggregate (aggregate:*:*)",
      description: "No gap or overlap; every entry names an event that exists, is stored at " +
        "that position and is within its aggregate's head. The last page (no `next`) also " +
        "checks that the index ends at the store's last position and names every event.",
      params: [
        queryInt("from", "first position to check (default 1)"),
        queryInt("take", "about how many entries (default 50000, at most 500000)"),
      ],
      ok: ref("PositionCheck"),
      errors: [400],
    }),
  },
  "/v1/stats/writes": {
    get: operation({
      summary: "Counters of the store's synced writes",
      tag: "integrity",
      scope: "aggregate.read on every aggregate (aggregate:*:*)",
      description: "How well group commit fills each synced write: writes, events, " +
        "write-ahead-log bytes and time since the store opened. Sample twice and subtract.",
      params: [],
      ok: ref("WriteStats"),
      errors: [],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}/proof/inclusion": {
    get: operation({
      summary: "Inclusion proof of one event",
      tag: "integrity",
      scope: READ,
      params: [
        ...AGGREGATE,
        queryInt("version", "the event's version", true),
        queryInt("tree_size", "size of the tree (default: the current version)"),
      ],
      ok: ref("InclusionProof"),
      errors: [400, 404],
    }),
  },
  "/v1/aggregates/{aggregate_type}/{aggregate_id}/proof/consistency": {
    get: operation({
      summary: "Consistency proof between two versions",
      tag: "integrity",
      scope: READ,
      params: [
        ...AGGREGATE,
        queryInt("from", "the older tree size", true),
        queryInt("to", "the newer tree size (default: the current version)"),
      ],
      ok: ref("ConsistencyProof"),
      errors: [400, 404],
    }),
  },
  ...Object.fromEntries(
    (["snapshot", "archive", "restore"] as const).map((op) => [
      `/v1/aggregates/{aggregate_type}/{aggregate_id}/${op}`,
      {
        post: operation({
          summary: op === "snapshot"
            ? "Take a snapshot of the current state"
            : op === "archive"
            ? "Archive the aggregate (it refuses appends until restored)"
            : "Restore an archived aggregate",
          tag: "aggregates",
          scope: op === "snapshot" ? APPEND : "aggregate.archive on aggregate:TYPE:ID",
          params: AGGREGATE,
          body: ref("Comment"),
          bodyOptional: true,
          ok: ref("ControlResult"),
          errors: [400, 404, 409, 413],
        }),
      },
    ]),
  ),
  "/v1/events": {
    post: operation({
      summary: "Append an event; the body names the aggregate",
      tag: "events",
      scope: APPEND,
      description: "An idempotent retry (same event_id) answers 200 with the original record.",
      body: ref("AppendEventGlobal"),
      ok: ref("EventRecord"),
      status: 201,
      okDescription: "Created",
      errors: [400, 409, 413],
    }),
  },
  "/v1/events/batch": {
    post: operation({
      summary: "Append events to any aggregates, all or nothing",
      tag: "events",
      scope: `${APPEND} for every event`,
      body: ref("Batch"),
      ok: { type: "object", properties: { events: arrayOf(ref("EventRecord")) } },
      status: 201,
      okDescription: "Created (200 when every event was an idempotent retry)",
      errors: [400, 409, 413],
    }),
  },
  "/v1/events/stream": {
    get: {
      ...operation({
        summary: "Live stream of committed events (Server-Sent Events)",
        tag: "events",
        scope: "aggregate.read; each event is sent only if the token may read its aggregate",
        description:
          "Messages: `id: <position>`, `event: event`, `data: <EventRecord JSON>`; a comment " +
          "every 15 s when idle; `event: error` before the server ends the stream (e.g. the " +
          "token expired). Resume with the Last-Event-ID header (wins) or `from`: the last " +
          "position seen. Without either, only events committed after connecting are sent.",
        params: [
          queryInt("from", "last position already seen (0 = from the beginning)"),
          {
            name: "Last-Event-ID",
            in: "header",
            required: false,
            schema: { type: "string", pattern: "^[0-9]+$" },
          },
        ],
        ok: {},
        errors: [400],
      }),
      responses: {
        "200": {
          description: "An endless text/event-stream",
          content: { "text/event-stream": { schema: { type: "string" } } },
        },
        ...errorRefs(400, 401, 403, 500),
      },
    },
  },
  "/v1/schemas": {
    get: operation({
      summary: "List the schemas the token may read",
      tag: "schemas",
      scope: "schema.read (the list holds only permitted schemas)",
      ok: arrayOf(ref("Schema")),
    }),
    post: operation({
      summary: "Create a schema",
      tag: "schemas",
      scope: SCHEMA_WRITE,
      body: {
        type: "object",
        properties: {
          aggregate: str(),
          events: arrayOf(str()),
          snapshot_threshold: int(undefined, 1),
        },
        required: ["aggregate", "events"],
        additionalProperties: false,
      },
      ok: ref("Schema"),
      status: 201,
      okDescription: "Created",
      errors: [400, 409, 413],
    }),
  },
  "/v1/schemas/import": {
    post: operation({
      summary: "Import schemas: one schema, a list, or an object keyed by aggregate type",
      tag: "schemas",
      scope: `${SCHEMA_WRITE} for every imported (and, with replace, every existing) schema`,
      params: [{
        name: "replace",
        in: "query",
        description: "also delete every schema the body does not contain",
        schema: { type: "boolean" },
      }],
      body: {},
      ok: arrayOf(ref("Schema")),
      errors: [400, 413],
    }),
  },
  "/v1/schemas/{aggregate}": {
    get: operation({
      summary: "One schema",
      tag: "schemas",
      scope: SCHEMA_READ,
      params: [SCHEMA_NAME],
      ok: ref("Schema"),
      errors: [400, 404],
    }),
    put: operation({
      summary: "Create or replace a whole schema",
      tag: "schemas",
      scope: SCHEMA_WRITE,
      params: [SCHEMA_NAME],
      body: ref("Schema"),
      ok: ref("Schema"),
      errors: [400, 413],
    }),
    patch: operation({
      summary: "Alter a schema (several changes, all or none)",
      tag: "schemas",
      scope: SCHEMA_WRITE,
      params: [SCHEMA_NAME],
      body: {
        type: "object",
        additionalProperties: false,
        properties: {
          snapshot_threshold: { type: ["integer", "null"], minimum: 0 },
          locked: { type: "boolean" },
          field_lock: {
            type: "object",
            properties: { field: str(), locked: { type: "boolean" } },
          },
          event_fields: {
            type: "object",
            properties: { event: str(), add: arrayOf(str()), remove: arrayOf(str()) },
          },
          column: {
            type: "object",
            properties: {
              field: str(),
              type: str(),
              rules: { type: ["object", "null"] },
              remove: { type: "boolean" },
            },
          },
        },
      },
      ok: ref("Schema"),
      errors: [400, 404, 413],
    }),
    delete: operation({
      summary: "Delete a schema (its events stay)",
      tag: "schemas",
      scope: SCHEMA_WRITE,
      params: [SCHEMA_NAME],
      ok: {
        type: "object",
        properties: { aggregate: str(), deleted: { const: true } },
      },
      errors: [400, 404],
    }),
  },
  "/v1/schemas/{aggregate}/events": {
    post: operation({
      summary: "Declare more events",
      tag: "schemas",
      scope: SCHEMA_WRITE,
      params: [SCHEMA_NAME],
      body: {
        type: "object",
        properties: { events: arrayOf(str()) },
        required: ["events"],
        additionalProperties: false,
      },
      ok: ref("Schema"),
      errors: [400, 404, 409, 413],
    }),
  },
  "/v1/schemas/{aggregate}/events/{event}": {
    delete: operation({
      summary: "Remove a declared event",
      tag: "schemas",
      scope: SCHEMA_WRITE,
      params: [SCHEMA_NAME, EVENT_NAME],
      ok: ref("Schema"),
      errors: [400, 404],
    }),
  },
  "/v1/schemas/{aggregate}/events/{event}/note": {
    post: operation({
      summary: "Set or clear an event's note",
      tag: "schemas",
      scope: SCHEMA_WRITE,
      params: [SCHEMA_NAME, EVENT_NAME],
      body: {
        oneOf: [
          {
            type: "object",
            properties: { note: { type: "string", maxLength: 128 } },
            required: ["note"],
          },
          { type: "object", properties: { clear: { const: true } }, required: ["clear"] },
        ],
      },
      ok: ref("Schema"),
      errors: [400, 404, 413],
    }),
  },
  "/v1/tokens": {
    get: operation({
      summary: "List tokens (never the token strings)",
      tag: "tokens",
      scope: TOKENS,
      ok: arrayOf(ref("TokenInfo")),
    }),
    post: operation({
      summary: "Issue a token",
      tag: "tokens",
      scope: TOKENS,
      body: {
        type: "object",
        properties: {
          group: str(),
          user: str(),
          expiration: int("lifetime in seconds", 1),
          limit: int("total writes allowed"),
          keep_alive: { type: "boolean" },
          actions: arrayOf(str()),
          resources: arrayOf(str()),
        },
        required: ["group", "user"],
        additionalProperties: false,
      },
      ok: ref("IssuedToken"),
      status: 201,
      okDescription: "Created",
      errors: [400, 413],
    }),
  },
  "/v1/tokens/revoke": {
    post: operation({
      summary: "Revoke a token (by token string or id)",
      tag: "tokens",
      scope: TOKENS,
      body: {
        type: "object",
        properties: { token: str() },
        required: ["token"],
        additionalProperties: false,
      },
      ok: ref("TokenInfo"),
      errors: [400, 404, 413],
    }),
  },
  "/v1/staged": {
    get: operation({
      summary: "List staged events (written later, all at once, by commit)",
      tag: "staging",
      scope: "aggregate.read (the list holds only permitted aggregates)",
      params: [queryInt("skip", "skip this many"), queryInt("take", "at most this many")],
      ok: arrayOf({
        allOf: [ref("AppendEventGlobal"), {
          type: "object",
          properties: { staged_at: { type: "string", format: "date-time" } },
        }],
      }),
      errors: [400],
    }),
    post: operation({
      summary: "Stage an event: checked now as an append would be, written by commit",
      tag: "staging",
      scope: APPEND,
      body: ref("AppendEventGlobal"),
      ok: { type: "object", properties: { staged: int(), event: ref("AppendEventGlobal") } },
      status: 201,
      okDescription: "Staged",
      errors: [400, 409, 413],
    }),
  },
  "/v1/staged/commit": {
    post: operation({
      summary: "Write every staged event in one atomic batch (a refused batch stays staged)",
      tag: "staging",
      scope: `${APPEND} for every staged event`,
      body: { type: "object", additionalProperties: false },
      bodyOptional: true,
      ok: {
        type: "object",
        properties: { committed: int(), events: arrayOf(ref("EventRecord")) },
      },
      errors: [400, 409, 413],
    }),
  },
  "/v1/whoami": {
    get: operation({
      summary: "Who the token is and what it may do",
      tag: "server",
      scope: "any valid token",
      ok: {
        type: "object",
        properties: {
          kind: str(),
          group: str(),
          user: str(),
          token_id: str(),
          actions: arrayOf(str()),
          resources: arrayOf(str()),
        },
      },
    }),
  },
  "/v1/tokens/refresh": {
    post: operation({
      summary: "Extend a token's lifetime and/or write allowance",
      tag: "tokens",
      scope: TOKENS,
      body: {
        type: "object",
        properties: {
          token: str(),
          expiration: int("new lifetime in seconds from now", 1),
          limit: int("this many more writes"),
        },
        required: ["token"],
        additionalProperties: false,
      },
      ok: ref("IssuedToken"),
      errors: [400, 404, 409, 413],
    }),
  },
  "/v1/remotes": {
    get: operation({
      summary: "List replication remotes",
      tag: "remotes",
      scope: "remote.manage (the list holds only permitted remotes)",
      ok: arrayOf(ref("Remote")),
    }),
  },
  "/v1/remotes/{name}": {
    get: operation({
      summary: "Show one remote",
      tag: "remotes",
      scope: REMOTES,
      params: [REMOTE_NAME],
      ok: ref("Remote"),
      errors: [400, 404],
    }),
    put: operation({
      summary: "Add a remote or replace its endpoint and pinned key",
      tag: "remotes",
      scope: REMOTES,
      params: [REMOTE_NAME],
      body: ref("RemoteInput"),
      ok: { type: "object", properties: { remote: ref("Remote"), created: { type: "boolean" } } },
      okDescription: "Replaced (201 when added)",
      errors: [400, 413],
    }),
    delete: operation({
      summary: "Remove a remote",
      tag: "remotes",
      scope: REMOTES,
      params: [REMOTE_NAME],
      ok: REMOVED,
      errors: [400, 404],
    }),
  },
  "/v1/plugins": {
    get: operation({
      summary: "List plugin instances",
      tag: "plugins",
      scope: "plugin.manage (the list holds only permitted plugins)",
      ok: arrayOf(ref("Plugin")),
    }),
  },
  "/v1/plugins/{name}": {
    get: operation({
      summary: "Show one plugin instance",
      tag: "plugins",
      scope: PLUGINS,
      params: [PLUGIN_NAME],
      ok: ref("Plugin"),
      errors: [400, 404],
    }),
    put: operation({
      summary: "Configure a plugin instance (add or replace)",
      tag: "plugins",
      scope: PLUGINS,
      params: [PLUGIN_NAME],
      body: ref("PluginInput"),
      ok: { type: "object", properties: { plugin: ref("Plugin"), created: { type: "boolean" } } },
      okDescription: "Replaced (201 when added)",
      errors: [400, 413],
    }),
    delete: operation({
      summary: "Remove a plugin instance (it must be disabled first)",
      tag: "plugins",
      scope: PLUGINS,
      params: [PLUGIN_NAME],
      ok: REMOVED,
      errors: [400, 404, 409],
    }),
  },
  "/v1/plugins/{name}/enable": {
    post: operation({
      summary: "Enable a plugin instance (with check: true, only once its target answers)",
      tag: "plugins",
      scope: PLUGINS,
      params: [PLUGIN_NAME],
      body: {
        type: "object",
        properties: { check: { type: "boolean", description: "check connectivity first" } },
        additionalProperties: false,
      },
      bodyOptional: true,
      ok: ref("Plugin"),
      errors: [400, 404, 413],
    }),
  },
  "/v1/plugins/{name}/disable": {
    post: operation({
      summary: "Disable a plugin instance",
      tag: "plugins",
      scope: PLUGINS,
      params: [PLUGIN_NAME],
      body: { type: "object", additionalProperties: false },
      bodyOptional: true,
      ok: ref("Plugin"),
      errors: [400, 404, 413],
    }),
  },
  "/v1/plugins/{name}/replay": {
    post: operation({
      summary: "Queue the stored events of an aggregate (or of every aggregate of a type) " +
        "for one plugin again",
      tag: "plugins",
      scope: `${PLUGINS}, and aggregate.read on each aggregate`,
      params: [PLUGIN_NAME],
      body: {
        type: "object",
        properties: { aggregate_type: str(), aggregate_id: str("absent: every aggregate") },
        required: ["aggregate_type"],
        additionalProperties: false,
      },
      ok: { type: "object", properties: { name: str(), queued: int() } },
      errors: [400, 404, 413],
    }),
  },
  "/v1/plugin-queue": {
    get: operation({
      summary: "Delivery status per plugin (cursor, lag, pending, dead) and queued events",
      tag: "plugins",
      scope: "plugin.manage (only permitted plugins are shown)",
      params: [
        { name: "name", in: "query", description: "one plugin", schema: { type: "string" } },
        {
          name: "status",
          in: "query",
          description: "pending or dead",
          schema: { type: "string", enum: ["pending", "dead"] },
        },
        {
          name: "event_id",
          in: "query",
          description: "one event",
          schema: { type: "string", format: "uuid" },
        },
        queryInt("take", "entries to list (default 100, at most 1000)"),
      ],
      ok: {
        type: "object",
        properties: {
          plugins: arrayOf({ type: "object" }),
          entries: arrayOf({ type: "object" }),
          truncated: { type: "boolean" },
        },
      },
      errors: [400, 404],
    }),
  },
  "/v1/plugin-queue/retry": {
    post: operation({
      summary: "Make queued events (dead ones too) due now with a fresh count of attempts",
      tag: "plugins",
      scope: QUEUE_SCOPE,
      body: QUEUE_SELECTION,
      ok: { type: "object", properties: { retried: int() } },
      errors: [400, 404, 413],
    }),
  },
  "/v1/plugin-queue/clear": {
    post: operation({
      summary: "Remove dead events from the queue",
      tag: "plugins",
      scope: QUEUE_SCOPE,
      body: QUEUE_SELECTION,
      ok: { type: "object", properties: { cleared: int() } },
      errors: [400, 404, 413],
    }),
  },
  "/v1/plugin-mappings": {
    post: operation({
      summary: "Set the column type of an aggregate field for table plugins (plugin map)",
      description: "For the plugin named `plugin`, else every plugin of that kind, else " +
        "(no `plugin`) every postgres, sqlite and csv plugin. Types: integer, float, " +
        "decimal(p,s), boolean, text, timestamp, date, json, binary, object.",
      tag: "plugins",
      scope: "plugin.manage on plugin:NAME (plugin:* without a plugin; each plugin changed)",
      body: {
        type: "object",
        properties: {
          aggregate_type: str(),
          field: str(),
          datatype: str("column type"),
          plugin: str("plugin name or kind"),
        },
        required: ["aggregate_type", "field", "datatype"],
        additionalProperties: false,
      },
      ok: {
        type: "object",
        properties: {
          aggregate_type: str(),
          field: str(),
          datatype: str(),
          plugins: arrayOf(ref("Plugin")),
        },
      },
      errors: [400, 404, 413],
    }),
  },
  "/v1/plugin-checks": {
    post: operation({
      summary: "Check the targets of one plugin, or of every enabled plugin",
      tag: "plugins",
      scope: "plugin.manage (only permitted plugins are checked)",
      body: { type: "object", properties: { name: str() }, additionalProperties: false },
      ok: arrayOf({
        type: "object",
        properties: { name: str(), kind: str(), ok: { type: "boolean" }, error: str() },
      }),
      errors: [400, 404, 413],
    }),
  },
  "/v1/plugin-installs": {
    post: operation({
      summary: "Install a process plugin's bundle (zip, tar or tar.gz) for this platform",
      tag: "plugins",
      scope: "plugin.manage on plugin:*",
      body: {
        type: "object",
        required: ["plugin", "version", "source"],
        properties: {
          plugin: str(),
          version: str(),
          source: { type: "string", description: "an absolute path on the server, or a URL" },
          bin: { type: "string", description: "the binary inside the bundle" },
          checksum: { type: "string", description: "sha256 of the bundle, hex" },
          force: { type: "boolean", description: "replace an installed version" },
        },
        additionalProperties: false,
      },
      ok: {
        type: "object",
        properties: {
          plugin: str(),
          version: str(),
          target: str(),
          bin: str(),
          path: str(),
          sha256: str(),
          files: int(),
          installed_at: str(),
          replaced: { type: "boolean" },
        },
      },
      errors: [400, 404, 409, 413, 503],
    }),
  },
};

/**
 * The OpenAPI 3.1 document (a fresh object each call).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * new Hono().get("/openapi.json", (c) => c.json(openApiDocument()));
 * ```
 */
export function openApiDocument(): Json {
  return structuredClone({
    openapi: "3.1.0",
    info: {
      title: "EventDBX REST API",
      version: "1.0.0",
      description: "Event-sourced, append-only database. Errors are JSON " +
        '`{"message", "code"}`. Every route but /health needs `Authorization: Bearer <token>`.',
    },
    servers: [{ url: "http://localhost:7070" }],
    security: [{ bearer: [] }],
    tags: [
      "server",
      "aggregates",
      "events",
      "integrity",
      "staging",
      "schemas",
      "tokens",
      "remotes",
      "plugins",
    ].map((
      name,
    ) => ({
      name,
    })),
    paths: PATHS,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT (EdDSA)" },
      },
      schemas: SCHEMAS,
      responses: Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([code, description]) => [
          `E${code}`,
          { description, content: json(ref("Error")) },
        ]),
      ),
    },
  });
}
