/**
 * The API over REST: the same `Api` interface as the in-process one, implemented by HTTP
 * requests to a running server. The CLI uses it while a server holds the store; the
 * contract tests run the same suite against it as against the in-process API.
 *
 * Each operation maps to one route (ROUTES below). Error answers (`{"message", "code"}`)
 * come back as the DbxError the server raised; a `Link: <…>; rel="next"` header becomes a
 * page's `next`.
 */
import type { Api, Subscription } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import { checkName } from "../api/checks.ts";
import type {
  EventRecord,
  OperationInput,
  OperationName,
  OperationResult,
  SubscribeInput,
} from "../api/operations.ts";
import { DbxError, fromErrorData, isErrorCode } from "../errors.ts";
import { codeForStatus } from "../http/status.ts";
import { SseReader } from "./sse_reader.ts";

export interface HttpApiOptions {
  /** e.g. "http://127.0.0.1:7070" (no trailing slash needed). */
  baseUrl: string;
  /** Per-request timeout; default 60 s. */
  timeoutMs?: number;
}

type Input = Record<string, unknown>;

/**
 * How one operation travels. `path` names the fields it puts into the URL path (each checked
 * as a name first: an empty name or a dot segment cannot travel in a path); `body` maps the
 * fields it sends as the body (default for POST/PUT/PATCH: every field left); every other
 * field goes into the query string, so the server sees (and refuses) what it does not know.
 */
interface Route {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: (string | [field: string, what: string])[];
  body?: { fields: string[]; build(input: Input): unknown };
  result?(json: unknown, response: Response): unknown;
}

const AGGREGATE: Route["path"] = [
  "v1",
  "aggregates",
  ["aggregate_type", "aggregate type"],
  ["aggregate_id", "aggregate id"],
];
const SCHEMA: Route["path"] = ["v1", "schemas", ["aggregate", "aggregate type"]];
const EVENT_NAME: [string, string] = ["event", "event type"];
const REMOTE: Route["path"] = ["v1", "remotes", ["name", "remote name"]];
const PLUGIN: Route["path"] = ["v1", "plugins", ["name", "plugin name"]];

/** A body of one field of the input. */
const only = (field: string, build = (i: Input) => i[field]) => ({ fields: [field], build });

const page = (json: unknown, response: Response) => {
  const next = nextSkip(response.headers.get("link"));
  return next === undefined ? { items: json } : { items: json, next };
};
const created = (field: string) => (json: unknown, response: Response) =>
  field === "event"
    ? { event: json, created: response.status === 201 }
    : { events: (json as { events: unknown }).events, created: response.status === 201 };

const ROUTES: Record<OperationName, Route> = {
  describeCaller: { method: "GET", path: ["v1", "whoami"] },
  appendEvent: { method: "POST", path: ["v1", "events"], result: created("event") },
  appendEvents: { method: "POST", path: ["v1", "events", "batch"], result: created("events") },
  listAggregates: { method: "GET", path: ["v1", "aggregates"], result: page },
  getAggregate: { method: "GET", path: AGGREGATE },
  listEvents: { method: "GET", path: [...AGGREGATE, "events"], result: page },
  queryAggregates: { method: "GET", path: ["v1", "query", "aggregates"] },
  queryEvents: { method: "GET", path: ["v1", "query", ...AGGREGATE.slice(1), "events"] },
  selectAggregate: { method: "GET", path: ["v1", "query", ...AGGREGATE.slice(1), "select"] },
  createAggregate: {
    method: "POST",
    path: [...AGGREGATE, "create"],
    result: (json, response) => ({ ...(json as object), created: response.status === 201 }),
  },
  appendExisting: { method: "POST", path: [...AGGREGATE, "apply"], result: created("event") },
  recentEvents: { method: "GET", path: [...AGGREGATE, "events", "recent"] },
  verifyAggregate: { method: "GET", path: [...AGGREGATE, "verify"] },
  verifyPositions: { method: "GET", path: ["v1", "verify", "positions"] },
  writeStats: { method: "GET", path: ["v1", "stats", "writes"] },
  inclusionProof: { method: "GET", path: [...AGGREGATE, "proof", "inclusion"] },
  consistencyProof: { method: "GET", path: [...AGGREGATE, "proof", "consistency"] },
  snapshotAggregate: { method: "POST", path: [...AGGREGATE, "snapshot"] },
  archiveAggregate: { method: "POST", path: [...AGGREGATE, "archive"] },
  restoreAggregate: { method: "POST", path: [...AGGREGATE, "restore"] },
  removeAggregate: { method: "DELETE", path: AGGREGATE },
  stageEvent: { method: "POST", path: ["v1", "staged"] },
  listStaged: { method: "GET", path: ["v1", "staged"], result: page },
  commitStaged: { method: "POST", path: ["v1", "staged", "commit"] },
  listSchemas: { method: "GET", path: ["v1", "schemas"] },
  getSchema: { method: "GET", path: SCHEMA },
  createSchema: { method: "POST", path: ["v1", "schemas"] },
  putSchema: { method: "PUT", path: SCHEMA, body: only("schema") },
  alterSchema: { method: "PATCH", path: SCHEMA, body: only("changes", (i) => i.changes ?? {}) },
  deleteSchema: { method: "DELETE", path: SCHEMA },
  addSchemaEvents: { method: "POST", path: [...SCHEMA, "events"] },
  removeSchemaEvent: { method: "DELETE", path: [...SCHEMA, "events", EVENT_NAME] },
  annotateSchemaEvent: {
    method: "POST",
    path: [...SCHEMA, "events", EVENT_NAME, "note"],
    body: only("note", (i) => (i.note === null ? { clear: true } : { note: i.note })),
  },
  importSchemas: { method: "POST", path: ["v1", "schemas", "import"], body: only("schemas") },
  listTokens: { method: "GET", path: ["v1", "tokens"] },
  generateToken: { method: "POST", path: ["v1", "tokens"] },
  revokeToken: { method: "POST", path: ["v1", "tokens", "revoke"] },
  refreshToken: { method: "POST", path: ["v1", "tokens", "refresh"] },
  listRemotes: { method: "GET", path: ["v1", "remotes"] },
  getRemote: { method: "GET", path: REMOTE },
  upsertRemote: { method: "PUT", path: REMOTE },
  removeRemote: { method: "DELETE", path: REMOTE },
  importEvents: { method: "POST", path: [...AGGREGATE, "import"] },
  listPlugins: { method: "GET", path: ["v1", "plugins"] },
  getPlugin: { method: "GET", path: PLUGIN },
  upsertPlugin: { method: "PUT", path: PLUGIN },
  removePlugin: { method: "DELETE", path: PLUGIN },
  enablePlugin: { method: "POST", path: [...PLUGIN, "enable"] },
  disablePlugin: { method: "POST", path: [...PLUGIN, "disable"] },
  pluginQueue: { method: "GET", path: ["v1", "plugin-queue"] },
  retryPluginQueue: { method: "POST", path: ["v1", "plugin-queue", "retry"] },
  clearPluginQueue: { method: "POST", path: ["v1", "plugin-queue", "clear"] },
  replayPlugin: { method: "POST", path: [...PLUGIN, "replay"] },
  testPlugins: { method: "POST", path: ["v1", "plugin-checks"] },
  mapPluginField: { method: "POST", path: ["v1", "plugin-mappings"] },
  installPlugin: { method: "POST", path: ["v1", "plugin-installs"] },
};

/** The request an operation's input becomes: path, query string and body. */
function requestOf(route: Route, input: Input): { path: string; body?: unknown } {
  const left = new Map(Object.entries(input).filter(([, v]) => v !== undefined));
  const segments = route.path.map((part) => {
    if (typeof part === "string") return part;
    const [field, what] = part;
    left.delete(field);
    return encodeURIComponent(checkName(what, input[field]));
  });
  let body: unknown = undefined;
  if (route.body) {
    body = route.body.build(input);
    for (const field of route.body.fields) left.delete(field);
  } else if (route.method !== "GET" && route.method !== "DELETE") {
    body = Object.fromEntries(left);
    left.clear();
  }
  const query = new URLSearchParams();
  for (const [key, value] of left) {
    if (value === null || value === false) continue;
    query.set(key, typeof value === "object" ? JSON.stringify(value) : String(value));
  }
  const text = query.toString();
  return { path: "/" + segments.join("/") + (text ? `?${text}` : ""), body };
}

/** The `skip` of the `rel="next"` link of a Link header, if any. */
function nextSkip(link: string | null): number | undefined {
  if (!link) return undefined;
  for (const part of link.split(",")) {
    const match = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (!match) continue;
    const skip = new URL(match[1], "http://x").searchParams.get("skip");
    if (skip !== null && /^\d+$/.test(skip)) return Number(skip);
  }
  return undefined;
}

function bearer(caller: Caller): string {
  if (caller.kind !== "token") {
    throw new DbxError("unauthorized", "only token callers can reach a server over HTTP");
  }
  return `Bearer ${caller.token}`;
}

/**
 * The API of the server at `baseUrl`.
 *
 * @example
 * ```ts
 * const api = new HttpApi({ baseUrl: "http://127.0.0.1:7070" });
 * const caller = { kind: "token" as const, token: "eyJ..." };
 * // await api.call(caller, "getAggregate", { aggregate_type: "patient", aggregate_id: "p-1" });
 * ```
 */
export class HttpApi implements Api {
  readonly baseUrl: string;
  readonly #timeoutMs: number;

  constructor(options: HttpApiOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  async call<N extends OperationName>(
    caller: Caller,
    name: N,
    input: OperationInput<N>,
  ): Promise<OperationResult<N>> {
    const route = Object.hasOwn(ROUTES, name) ? ROUTES[name] : undefined;
    if (!route) throw new DbxError("invalid_input", `unknown operation ${JSON.stringify(name)}`);
    const { path, body } = requestOf(route, (input ?? {}) as Input);
    const response = await this.#fetch(route.method, path, bearer(caller), body);
    const json = await this.#read(response, route.method, path);
    return (route.result ? route.result(json, response) : json) as OperationResult<N>;
  }

  async subscribe(caller: Caller, input: SubscribeInput): Promise<Subscription> {
    // `after` is REST's `from`; anything else goes along for the server to refuse.
    const { after, ...rest } = (input ?? {}) as Input;
    const { path } = requestOf(
      { method: "GET", path: ["v1", "events", "stream"] },
      after === undefined ? rest : { ...rest, from: after },
    );
    const controller = new AbortController();
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        headers: { authorization: bearer(caller), accept: "text/event-stream" },
        signal: controller.signal,
      });
    } catch (err) {
      throw this.#unreachable(err);
    }
    if (!response.ok || !response.body) await this.#read(response, "GET", path);
    const reader = new SseReader(response.body!);
    let closed = false;
    return {
      async next(waitMs) {
        if (closed) return null;
        const events: EventRecord[] = [];
        const deadline = Date.now() + waitMs;
        for (;;) {
          const message = await reader.next(Math.max(0, deadline - Date.now()));
          if (message === undefined) return events; // waited long enough
          if (message === null) {
            closed = true;
            return events.length > 0 ? events : null;
          }
          if (message.event === "error") {
            closed = true;
            controller.abort();
            throw fromErrorData(JSON.parse(message.data));
          }
          if (message.event === "event") events.push(JSON.parse(message.data));
          // Deliver what has arrived as soon as the stream pauses.
          if (events.length > 0 && !reader.buffered) return events;
        }
      },
      close() {
        if (closed) return;
        closed = true;
        controller.abort();
        reader.cancel();
      },
    };
  }

  async #fetch(method: string, path: string, authorization: string, body: unknown) {
    const headers: Record<string, string> = { accept: "application/json", authorization };
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      return await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw this.#unreachable(err);
    }
  }

  #unreachable(err: unknown): DbxError {
    const reason = (err as Error)?.name === "TimeoutError"
      ? `no answer within ${this.#timeoutMs / 1000} s`
      : (err as Error)?.message ?? String(err);
    return new DbxError("unavailable", `cannot reach the dbx server at ${this.baseUrl}: ${reason}`);
  }

  /** The JSON of an answer; an error answer throws the DbxError the server raised. */
  async #read(response: Response, method: string, path: string): Promise<unknown> {
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new DbxError("internal", `the server sent a non-JSON answer to ${method} ${path}`);
        }
      }
    }
    if (response.ok) return parsed;
    const error = parsed as { message?: unknown; code?: unknown } | undefined;
    const message = typeof error?.message === "string"
      ? error.message
      : `the server answered ${response.status} ${response.statusText} to ${method} ${path}`;
    return Promise.reject(
      fromErrorData({
        code: isErrorCode(error?.code) ? error.code : codeForStatus(response.status),
        message,
      }),
    );
  }
}
