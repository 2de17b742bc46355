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
import type {
  EventRecord,
  OperationInput,
  OperationName,
  OperationResult,
} from "../api/operations.ts";
import { DbxError, fromErrorData, isErrorCode } from "../errors.ts";
import { codeForStatus } from "../rest/status.ts";
import { SseReader } from "./sse_reader.ts";

export interface HttpApiOptions {
  /** e.g. "http://127.0.0.1:7070" (no trailing slash needed). */
  baseUrl: string;
  /** Per-request timeout; default 60 s. */
  timeoutMs?: number;
}

type Input = Record<string, unknown>;

/** How one operation travels: method, path, query and body from the input; the result. */
interface Route {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path(input: Input): string;
  query?: readonly string[];
  body?(input: Input): unknown;
  result?(json: unknown, response: Response): unknown;
}

const seg = (value: unknown) => encodeURIComponent(String(value ?? ""));
const aggregate = (i: Input) => `/v1/aggregates/${seg(i.aggregate_type)}/${seg(i.aggregate_id)}`;
const schema = (i: Input) => `/v1/schemas/${seg(i.aggregate)}`;
/** The body without the fields the path carries. */
const without = (...fields: string[]) => (i: Input) =>
  Object.fromEntries(Object.entries(i).filter(([k]) => !fields.includes(k)));
const page = (json: unknown, response: Response) => {
  const next = nextSkip(response.headers.get("link"));
  return next === undefined ? { items: json } : { items: json, next };
};
const created = (field: string) => (json: unknown, response: Response) =>
  field === "event"
    ? { event: json, created: response.status === 201 }
    : { events: (json as { events: unknown }).events, created: response.status === 201 };

const ROUTES: Record<OperationName, Route> = {
  describeCaller: { method: "GET", path: () => "/v1/whoami" },
  appendEvent: {
    method: "POST",
    path: () => "/v1/events",
    body: (i) => i,
    result: created("event"),
  },
  appendEvents: {
    method: "POST",
    path: () => "/v1/events/batch",
    body: (i) => ({ events: i.events }),
    result: created("events"),
  },
  listAggregates: {
    method: "GET",
    path: () => "/v1/aggregates",
    query: ["skip", "take", "aggregate_type", "include_state"],
    result: page,
  },
  getAggregate: { method: "GET", path: aggregate, query: ["version"] },
  listEvents: {
    method: "GET",
    path: (i) => `${aggregate(i)}/events`,
    query: ["skip", "take"],
    result: page,
  },
  recentEvents: { method: "GET", path: (i) => `${aggregate(i)}/events/recent`, query: ["take"] },
  verifyAggregate: { method: "GET", path: (i) => `${aggregate(i)}/verify` },
  inclusionProof: {
    method: "GET",
    path: (i) => `${aggregate(i)}/proof/inclusion`,
    query: ["version", "tree_size"],
  },
  consistencyProof: {
    method: "GET",
    path: (i) => `${aggregate(i)}/proof/consistency`,
    query: ["from", "to"],
  },
  snapshotAggregate: {
    method: "POST",
    path: (i) => `${aggregate(i)}/snapshot`,
    body: without("aggregate_type", "aggregate_id"),
  },
  archiveAggregate: {
    method: "POST",
    path: (i) => `${aggregate(i)}/archive`,
    body: without("aggregate_type", "aggregate_id"),
  },
  restoreAggregate: {
    method: "POST",
    path: (i) => `${aggregate(i)}/restore`,
    body: without("aggregate_type", "aggregate_id"),
  },
  removeAggregate: { method: "DELETE", path: aggregate },
  stageEvent: { method: "POST", path: () => "/v1/staged", body: (i) => i },
  listStaged: { method: "GET", path: () => "/v1/staged", query: ["skip", "take"], result: page },
  commitStaged: { method: "POST", path: () => "/v1/staged/commit", body: (i) => i },
  listSchemas: { method: "GET", path: () => "/v1/schemas" },
  getSchema: { method: "GET", path: schema },
  createSchema: { method: "POST", path: () => "/v1/schemas", body: (i) => i },
  putSchema: { method: "PUT", path: schema, body: (i) => i.schema },
  alterSchema: { method: "PATCH", path: schema, body: (i) => i.changes ?? {} },
  deleteSchema: { method: "DELETE", path: schema },
  addSchemaEvents: {
    method: "POST",
    path: (i) => `${schema(i)}/events`,
    body: (i) => ({ events: i.events }),
  },
  removeSchemaEvent: { method: "DELETE", path: (i) => `${schema(i)}/events/${seg(i.event)}` },
  annotateSchemaEvent: {
    method: "POST",
    path: (i) => `${schema(i)}/events/${seg(i.event)}/note`,
    body: (i) => (i.note === null ? { clear: true } : { note: i.note }),
  },
  importSchemas: {
    method: "POST",
    path: (i) => (i.replace ? "/v1/schemas/import?replace=true" : "/v1/schemas/import"),
    body: (i) => i.schemas,
  },
  listTokens: { method: "GET", path: () => "/v1/tokens" },
  generateToken: { method: "POST", path: () => "/v1/tokens", body: (i) => i },
  revokeToken: { method: "POST", path: () => "/v1/tokens/revoke", body: (i) => i },
  refreshToken: { method: "POST", path: () => "/v1/tokens/refresh", body: (i) => i },
};

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
    const i = (input ?? {}) as Input;
    let path = route.path(i);
    if (route.query) {
      const params = new URLSearchParams();
      for (const key of route.query) {
        const value = i[key];
        if (value !== undefined && value !== null && value !== false) {
          params.set(key, String(value));
        }
      }
      const text = params.toString();
      if (text) path += (path.includes("?") ? "&" : "?") + text;
    }
    const body = route.body?.(i);
    const response = await this.#fetch(route.method, path, bearer(caller), body);
    const json = await this.#read(response, route.method, path);
    return (route.result ? route.result(json, response) : json) as OperationResult<N>;
  }

  async subscribe(caller: Caller, input: { after?: number }): Promise<Subscription> {
    const after = input?.after;
    const path = after === undefined ? "/v1/events/stream" : `/v1/events/stream?from=${after}`;
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
