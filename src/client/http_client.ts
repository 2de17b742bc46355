/**
 * A small client for the REST API of a running dbx server: what the CLI uses to send
 * mutating commands through the server while it holds the store.
 *
 * Every method is one request. Error answers (`{"message", "code"}`) come back as the
 * same DbxError the server raised, so the CLI prints the server's message unchanged.
 */
import type { GenerateOptions, TokenInfo } from "../auth/authority.ts";
import type { AggregateRecord, AppendInput, EventRecord } from "../engine/types.ts";
import { DbxError, type ErrorCode, HTTP_STATUS } from "../errors.ts";
import type { AggregateSchema, SchemaAlteration } from "../schema/types.ts";

export interface DbxHttpClientOptions {
  /** e.g. "http://127.0.0.1:7070" (no trailing slash needed). */
  baseUrl: string;
  /** Bearer token sent with every request except `/health`. */
  token?: string;
  /** Per-request timeout; default 60 s. */
  timeoutMs?: number;
}

/** The body of an append: an AppendInput without the aggregate (it is in the path). */
export type AppendBody = Omit<AppendInput, "aggregate_type" | "aggregate_id">;

/** Result of snapshot, archive and restore. */
export interface ControlResult {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
}

export type ControlAction = "snapshot" | "archive" | "restore";

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(HTTP_STATUS, value);
}

/** A status-derived code for an error body without one. */
function codeForStatus(status: number): ErrorCode {
  const byStatus: Record<number, ErrorCode> = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    503: "unavailable",
  };
  return byStatus[status] ?? "internal";
}

const seg = encodeURIComponent;

/**
 * REST client of one server.
 *
 * @example
 * ```ts
 * const client = new DbxHttpClient({ baseUrl: "http://127.0.0.1:7070", token });
 * const event = await client.append("patient", "p-001", { event_type: "patient-added", payload: {} });
 * ```
 */
export class DbxHttpClient {
  readonly baseUrl: string;
  readonly #token?: string;
  readonly #timeoutMs: number;

  constructor(options: DbxHttpClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /**
   * Send one request and decode the JSON answer; error answers throw DbxError.
   *
   * @example
   * ```ts
   * const list = await client.request<AggregateRecord[]>("GET", "/v1/aggregates?take=5");
   * ```
   */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return await this.#send<T>(method, path, body === undefined ? undefined : JSON.stringify(body));
  }

  async #send<T>(method: string, path: string, text?: string): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (text !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: text,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const reason = (err as Error)?.name === "TimeoutError"
        ? `no answer within ${this.#timeoutMs / 1000} s`
        : (err as Error)?.message ?? String(err);
      throw new DbxError(
        "unavailable",
        `cannot reach the dbx server at ${this.baseUrl}: ${reason}`,
      );
    }
    const answer = await res.text();
    let parsed: unknown = undefined;
    if (answer !== "") {
      try {
        parsed = JSON.parse(answer);
      } catch {
        if (res.ok) {
          throw new DbxError("internal", `the server sent a non-JSON answer to ${method} ${path}`);
        }
      }
    }
    if (!res.ok) {
      const error = parsed as { message?: unknown; code?: unknown } | undefined;
      const message = typeof error?.message === "string"
        ? error.message
        : `the server answered ${res.status} ${res.statusText} to ${method} ${path}`;
      throw new DbxError(
        isErrorCode(error?.code) ? error.code : codeForStatus(res.status),
        message,
      );
    }
    return parsed as T;
  }

  /** `GET /health` (no token needed). */
  health(): Promise<unknown> {
    return this.request("GET", "/health");
  }

  // --- aggregates ----------------------------------------------------------

  /** Append one event to an aggregate (201, or 200 for an idempotent replay). */
  append(type: string, id: string, body: AppendBody): Promise<EventRecord> {
    return this.request("POST", `/v1/aggregates/${seg(type)}/${seg(id)}/events`, body);
  }

  /** Append events to any aggregates, all or nothing. */
  async appendBatch(events: AppendInput[]): Promise<EventRecord[]> {
    const answer = await this.request<{ events: EventRecord[] }>("POST", "/v1/events/batch", {
      events,
    });
    return answer.events;
  }

  /** Snapshot, archive or restore an aggregate. */
  control(
    action: ControlAction,
    type: string,
    id: string,
    comment?: string,
  ): Promise<ControlResult> {
    const body = comment === undefined ? {} : { comment };
    return this.request("POST", `/v1/aggregates/${seg(type)}/${seg(id)}/${action}`, body);
  }

  /** One aggregate's current state. */
  getAggregate(type: string, id: string): Promise<AggregateRecord> {
    return this.request("GET", `/v1/aggregates/${seg(type)}/${seg(id)}`);
  }

  // --- schemas ---------------------------------------------------------------

  listSchemas(): Promise<AggregateSchema[]> {
    return this.request("GET", "/v1/schemas");
  }

  getSchema(aggregate: string): Promise<AggregateSchema> {
    return this.request("GET", `/v1/schemas/${seg(aggregate)}`);
  }

  createSchema(
    aggregate: string,
    events: string[],
    snapshotThreshold?: number,
  ): Promise<AggregateSchema> {
    const body: Record<string, unknown> = { aggregate, events };
    if (snapshotThreshold !== undefined) body.snapshot_threshold = snapshotThreshold;
    return this.request("POST", "/v1/schemas", body);
  }

  addSchemaEvents(aggregate: string, events: string[]): Promise<AggregateSchema> {
    return this.request("POST", `/v1/schemas/${seg(aggregate)}/events`, { events });
  }

  removeSchemaEvent(aggregate: string, event: string): Promise<AggregateSchema> {
    return this.request("DELETE", `/v1/schemas/${seg(aggregate)}/events/${seg(event)}`);
  }

  /** Set (`note`) or clear (`null`) the note of an event type. */
  annotateSchemaEvent(
    aggregate: string,
    event: string,
    note: string | null,
  ): Promise<AggregateSchema> {
    return this.request(
      "POST",
      `/v1/schemas/${seg(aggregate)}/events/${seg(event)}/note`,
      note === null ? { clear: true } : { note },
    );
  }

  alterSchema(aggregate: string, changes: SchemaAlteration): Promise<AggregateSchema> {
    return this.request("PATCH", `/v1/schemas/${seg(aggregate)}`, changes);
  }

  deleteSchema(aggregate: string): Promise<{ aggregate: string; deleted: boolean }> {
    return this.request("DELETE", `/v1/schemas/${seg(aggregate)}`);
  }

  /** Create (or, with `replace`, replace all) schemas from the text of a schema JSON file. */
  importSchemas(jsonText: string, replace = false): Promise<AggregateSchema[]> {
    const path = replace ? "/v1/schemas/import?replace=true" : "/v1/schemas/import";
    return this.#send("POST", path, jsonText);
  }

  // --- tokens ----------------------------------------------------------------

  listTokens(): Promise<TokenInfo[]> {
    return this.request("GET", "/v1/tokens");
  }

  generateToken(options: GenerateOptions): Promise<{ token: string; info: TokenInfo }> {
    const body: Record<string, unknown> = { group: options.group, user: options.user };
    if (options.expiration !== undefined) body.expiration = options.expiration;
    if (options.limit !== undefined) body.limit = options.limit;
    if (options.keepAlive !== undefined) body.keep_alive = options.keepAlive;
    if (options.actions !== undefined) body.actions = options.actions;
    if (options.resources !== undefined) body.resources = options.resources;
    return this.request("POST", "/v1/tokens", body);
  }

  revokeToken(token: string): Promise<TokenInfo> {
    return this.request("POST", "/v1/tokens/revoke", { token });
  }

  refreshToken(
    token: string,
    options: { expiration?: number; limit?: number },
  ): Promise<{ token: string; info: TokenInfo }> {
    return this.request("POST", "/v1/tokens/refresh", { token, ...options });
  }
}
