/**
 * The GraphQL surface as a fetch handler for `/graphql*` (no listening: the server lifecycle
 * owns the port and sends these paths here).
 *
 * - `POST /graphql` (and `GET /graphql?query=…` for queries) speaks GraphQL over HTTP:
 *   `application/json` or `application/graphql-response+json` answers, parse and
 *   validation failures in `errors[]`, mutations refused over GET.
 * - `GET /graphql` without a query and `GET /graphql/playground` serve the playground
 *   (playground.ts), `/graphql/assets/*` its files.
 *
 * Every GraphQL request needs `Authorization: Bearer <token>`, like REST: each root field
 * is one API call for that caller (schema.ts), and a document whose root fields might not
 * call the API has the token checked before it runs. A bad token is the answer (401) even
 * when the request is bad too.
 */
import { execute, type ExecutionResult } from "graphql";
import type { Api } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import { isObject } from "../api/checks.ts";
import { type DbxError, errorData, isDbxError } from "../errors.ts";
import { readAdmittedBody, requestCaller } from "../http/admit.ts";
import { DEFAULT_MAX_BODY_BYTES } from "../http/body.ts";
import { DocumentCache } from "./documents.ts";
import {
  apiError,
  BAD_REQUEST,
  BAD_USER_INPUT,
  dbxCodeOf,
  formatExecutionError,
  type FormattedError,
  requestError,
  retryAfter,
} from "./errors.ts";
import { DEFAULT_LIMITS, type GraphqlLimits } from "./limits.ts";
import { playgroundAsset, playgroundPage } from "./playground.ts";
import { API_FIELDS, createSchema, type GraphqlContext } from "./schema.ts";

export interface GraphqlOptions {
  api: Api;
  /** Largest accepted request body in bytes (the server passes REST's setting). */
  maxBodyBytes?: number;
  /** Document limits (tests shrink them). */
  limits?: Partial<GraphqlLimits>;
}

/** The surface: answers every request whose path is `/graphql` or below. */
export interface GraphqlApp {
  fetch(request: Request): Promise<Response>;
}

/** The media types a response can have. */
type Media = "application/json" | "application/graphql-response+json";

const JSON_TYPE = "application/json; charset=utf-8";
const GRAPHQL_TYPE = "application/graphql-response+json; charset=utf-8";
const ACCEPTABLE =
  "application/graphql-response+json; charset=utf-8, application/json; charset=utf-8";
const REALM = 'Bearer realm="eventdbx"';

/** The request's parameters (GraphQL over HTTP). */
interface Params {
  query: string;
  operationName?: string;
  variables?: Record<string, unknown>;
}

/** A request the surface answers without running anything (or with a fixed status). */
class Refusal {
  constructor(
    readonly status: number,
    readonly errors: FormattedError[],
    readonly headers: Record<string, string> = {},
  ) {}
}

function badRequest(message: string): Refusal {
  return new Refusal(400, [requestError(message, BAD_REQUEST)]);
}

/** The status of an API error refusing the whole request (token, body size, body text). */
function requestStatus(err: unknown): number {
  switch (errorData(err).code) {
    case "unauthorized":
      return 401;
    case "forbidden":
    case "limit_reached":
      return 403;
    case "too_large":
      return 413;
    case "invalid_input":
      return 400;
    case "overloaded":
    case "unavailable":
      return 503;
    default:
      return 500;
  }
}

/** An API error that refuses the whole request, with its status and headers. */
function refusalOf(err: unknown): Refusal {
  const status = requestStatus(err);
  const headers: Record<string, string> = {};
  if (status === 401) headers["www-authenticate"] = REALM;
  if (isDbxError(err, "overloaded")) headers["retry-after"] = String(retryAfter(err.details));
  return new Refusal(status, [apiError(err)], headers);
}

/**
 * The media type to answer with (`Accept` in order; none or `*\/*` means JSON), or null
 * when the client accepts neither.
 */
function acceptedMedia(accept: string | null): Media | null {
  if (accept === null || accept === "" || accept === "application/json") return "application/json";
  for (const part of accept.toLowerCase().split(",")) {
    const [type, ...params] = part.split(";").map((s) => s.trim());
    const charset = params.find((p) => p.startsWith("charset="));
    if (charset !== undefined && charset !== "charset=utf-8" && charset !== "charset=utf8") {
      continue;
    }
    if (type === "application/graphql-response+json") return "application/graphql-response+json";
    if (type === "application/json" || type === "application/*" || type === "*/*") {
      return "application/json";
    }
  }
  return null;
}

/** The path of a request URL, without parsing the whole URL. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  if (end < 0 || (hash >= 0 && hash < end)) end = hash;
  return end < 0 ? url.slice(start) : url.slice(start, end);
}

function checkParams(raw: Record<string, unknown>): Params {
  const { query, operationName, variables, extensions } = raw;
  if (query === undefined || query === null) {
    throw badRequest('the request has no query: send {"query": "…"}');
  }
  if (typeof query !== "string") throw badRequest("query must be a string");
  if (operationName !== undefined && operationName !== null && typeof operationName !== "string") {
    throw badRequest("operationName must be a string or null");
  }
  if (variables !== undefined && variables !== null && !isObject(variables)) {
    throw badRequest("variables must be a JSON object or null");
  }
  if (extensions !== undefined && extensions !== null && !isObject(extensions)) {
    throw badRequest("extensions must be a JSON object or null");
  }
  const params: Params = { query };
  if (typeof operationName === "string") params.operationName = operationName;
  if (isObject(variables)) params.variables = variables;
  return params;
}

/** The parameters of `GET /graphql?query=…&variables=…`. */
function getParams(url: string): Params {
  const at = url.indexOf("?");
  const search = new URLSearchParams(at < 0 ? "" : url.slice(at + 1));
  const raw: Record<string, unknown> = {};
  for (const name of ["query", "operationName"]) {
    const value = search.get(name);
    if (value !== null) raw[name] = value;
  }
  for (const name of ["variables", "extensions"]) {
    const value = search.get(name);
    if (value === null || value === "") continue;
    try {
      raw[name] = JSON.parse(value);
    } catch {
      throw badRequest(`the ${name} parameter is not valid JSON`);
    }
  }
  return checkParams(raw);
}

/** The parameters of a POST body. */
function postParams(text: string | undefined): Params {
  if (text === undefined || text.trim() === "") {
    throw badRequest('the request body is empty; send {"query": "…"}');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(body)) {
    throw badRequest("batched requests (a JSON array) are not supported: send one operation");
  }
  if (!isObject(body)) throw badRequest('the request body must be a JSON object {"query": …}');
  return checkParams(body);
}

/** True when the content type is JSON in UTF-8 (or with no charset). */
function isJsonBody(contentType: string | null): boolean {
  if (contentType === null) return false;
  if (contentType === "application/json") return true;
  const [type, ...params] = contentType.toLowerCase().split(";").map((s) => s.trim());
  if (type !== "application/json") return false;
  return params.every((p) =>
    !p.startsWith("charset=") || p === "charset=utf-8" || p === "charset=utf8"
  );
}

/** True when the result has data and no root field of it has a value. */
function nothingResolved(data: ExecutionResult["data"]): boolean {
  if (data === null || data === undefined) return true;
  for (const key in data) if (data[key] !== null) return false;
  return true;
}

/**
 * Build the GraphQL surface over an API.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const graphql = createGraphqlApp({ api });
 * const server = Deno.serve({ port: 0, onListen() {} }, (request) => graphql.fetch(request));
 * await server.shutdown();
 * ```
 */
export function createGraphqlApp(options: GraphqlOptions): GraphqlApp {
  const { api } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const schema = createSchema();
  const documents = new DocumentCache(schema, limits, API_FIELDS);

  const headersFor = (media: Media, extra?: Record<string, string>): Record<string, string> => {
    const type = media === "application/json" ? JSON_TYPE : GRAPHQL_TYPE;
    return extra ? { "content-type": type, ...extra } : { "content-type": type };
  };

  const respond = (
    media: Media,
    status: number,
    body: { errors?: FormattedError[]; data?: unknown },
    extra?: Record<string, string>,
  ) => new Response(JSON.stringify(body), { status, headers: headersFor(media, extra) });

  const refuse = (media: Media, refusal: Refusal) =>
    respond(media, refusal.status, { errors: refusal.errors }, refusal.headers);

  /** A refusal, unless the token itself is bad: then that is the answer. */
  const refuseChecked = async (media: Media, caller: Caller, refusal: Refusal) => {
    if (refusal.status !== 401) {
      try {
        await api.call(caller, "describeCaller", {});
      } catch (err) {
        if (isDbxError(err, "unauthorized")) return refuse(media, refusalOf(err));
      }
    }
    return refuse(media, refusal);
  };

  async function run(
    media: Media,
    caller: Caller,
    params: Params,
    method: "GET" | "POST",
  ): Promise<Response> {
    const prepared = documents.prepare(params.query);
    // Parse and validation failures: 200 with errors for application/json, 400 for the
    // newer media type (GraphQL over HTTP).
    const failedStatus = media === "application/json" ? 200 : 400;
    if (!prepared.ok) {
      return refuseChecked(media, caller, new Refusal(failedStatus, prepared.errors));
    }
    const chosen = documents.operation(prepared, params.operationName);
    if (typeof chosen === "string") {
      return refuseChecked(
        media,
        caller,
        new Refusal(failedStatus, [requestError(chosen, BAD_REQUEST)]),
      );
    }
    if (method === "GET" && chosen.operation.operation !== "query") {
      return refuseChecked(
        media,
        caller,
        new Refusal(405, [requestError("mutations need POST", BAD_REQUEST)], { allow: "POST" }),
      );
    }
    if (chosen.needsCallerCheck) await api.call(caller, "describeCaller", {});
    const context: GraphqlContext = { api, caller };
    const result = chosen.plan ? await chosen.plan.run(context, params.variables) : await execute({
      schema,
      document: prepared.document,
      operationName: params.operationName,
      variableValues: params.variables,
      contextValue: context,
    });
    if (!result.errors) return respond(media, 200, { data: result.data });

    const errors = result.errors.map(formatExecutionError);
    if (result.data === undefined) {
      // The variables did not fit their types: nothing ran.
      for (const error of errors) error.extensions!.code = BAD_USER_INPUT;
      return refuseChecked(media, caller, new Refusal(failedStatus, errors));
    }
    let status = 200;
    const extra: Record<string, string> = {};
    for (const err of result.errors) {
      const code = dbxCodeOf(err);
      if (code === "unauthorized" && nothingResolved(result.data)) {
        status = 401;
        extra["www-authenticate"] = REALM;
      } else if (code === "overloaded") {
        extra["retry-after"] = String(retryAfter((err.originalError as DbxError).details));
      }
    }
    // Refused for the token: nothing to show but why.
    if (status === 401) return respond(media, status, { errors }, extra);
    return respond(media, status, { errors, data: result.data }, extra);
  }

  async function graphqlRequest(request: Request, method: "GET" | "POST"): Promise<Response> {
    const media = acceptedMedia(request.headers.get("accept"));
    let caller: Caller;
    try {
      caller = requestCaller(request);
    } catch (err) {
      return refuse(media ?? "application/json", refusalOf(err));
    }
    if (media === null) {
      return refuseChecked(
        "application/json",
        caller,
        new Refusal(
          406,
          [requestError(`the Accept header must allow ${ACCEPTABLE}`, BAD_REQUEST)],
          {
            accept: ACCEPTABLE,
          },
        ),
      );
    }
    try {
      let params: Params;
      if (method === "GET") {
        params = getParams(request.url);
      } else {
        if (!isJsonBody(request.headers.get("content-type"))) {
          await request.body?.cancel().catch(() => {});
          return await refuseChecked(
            media,
            caller,
            new Refusal(415, [
              requestError("send the request as Content-Type: application/json", BAD_REQUEST),
            ], { accept: "application/json" }),
          );
        }
        params = postParams(await readAdmittedBody(request, api, caller, maxBodyBytes));
      }
      return await run(media, caller, params, method);
    } catch (err) {
      if (err instanceof Refusal) return refuseChecked(media, caller, err);
      const refusal = refusalOf(err);
      return refusal.status === 401
        ? refuse(media, refusal)
        : refuseChecked(media, caller, refusal);
    }
  }

  return {
    async fetch(request) {
      const method = request.method;
      const path = pathOf(request.url);
      const head = method === "HEAD";
      if (path === "/graphql") {
        if (method === "POST") return await graphqlRequest(request, "POST");
        if (method === "GET" || head) {
          // A query in the URL is GraphQL over HTTP; without one, a browser wants the page.
          if (!head && new URLSearchParams(request.url.split("?")[1] ?? "").has("query")) {
            return await graphqlRequest(request, "GET");
          }
          return playgroundPage(false, head);
        }
        return notAllowed(method, path, "GET, HEAD, POST");
      }
      if (path === "/graphql/playground") {
        if (method === "GET" || head) return playgroundPage(true, head);
        return notAllowed(method, path, "GET, HEAD");
      }
      if (path.startsWith("/graphql/assets/")) {
        if (method === "GET" || head) {
          return await playgroundAsset(path.slice("/graphql/assets/".length), head);
        }
        return notAllowed(method, path, "GET, HEAD");
      }
      return Response.json(
        { errors: [requestError(`no route ${method} ${path}`, "NOT_FOUND")] },
        { status: 404 },
      );
    },
  };
}

function notAllowed(method: string, path: string, allow: string): Response {
  return Response.json(
    {
      errors: [
        requestError(`method ${method} is not allowed on ${path}; allowed: ${allow}`, BAD_REQUEST),
      ],
    },
    { status: 405, headers: { allow } },
  );
}
