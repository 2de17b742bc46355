/**
 * The one HTTP handler of the shared port: `/graphql` and below go to the GraphQL app, the
 * rest to the REST app, each only when its surface is served (`--api`). The choice is one
 * look at the path, so REST's requests pass through nothing else. With REST off, only
 * `GET /health` stays (what probes and `dbx status` ask); other paths are 404.
 */
import type { Api } from "../api/api.ts";
import { createGraphqlApp } from "../graphql/app.ts";
import { DEFAULT_MAX_BODY_BYTES } from "../http/body.ts";
import { createRestApp } from "../rest/app.ts";
import type { StreamSettings } from "../rest/deps.ts";
import type { FetchHandler } from "./listener.ts";

export interface HttpHandlerOptions {
  api: Api;
  /** Surfaces served ("rest", "graphql"; others are not HTTP apps and are ignored). */
  surfaces: readonly string[];
  maxBodyBytes?: number;
  /** Aborted before the listener shuts down (ends REST's event streams). */
  signal?: AbortSignal;
  stream?: Partial<StreamSettings>;
}

/**
 * True when a request URL's path is `/graphql` or below it.
 *
 * @example
 * ```ts
 * isGraphqlUrl("http://127.0.0.1:7070/graphql?query={__typename}"); // true
 * isGraphqlUrl("http://127.0.0.1:7070/graphqlx"); // false
 * ```
 */
export function isGraphqlUrl(url: string): boolean {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0 || !url.startsWith("/graphql", start)) return false;
  const next = url.charCodeAt(start + 8);
  // End, "/", "?" or "#".
  return Number.isNaN(next) || next === 47 || next === 63 || next === 35;
}

/** What answers when REST is not served: the health probe, and 404 for everything else. */
function withoutRest(request: Request): Response {
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const path = start < 0 ? "/" : url.slice(start).split(/[?#]/, 1)[0];
  if (path === "/health" && (request.method === "GET" || request.method === "HEAD")) {
    return Response.json({ status: "ok" });
  }
  return Response.json(
    {
      message: `no route ${request.method} ${path} (the REST API is not served)`,
      code: "not_found",
    },
    { status: 404 },
  );
}

/**
 * The handler for the served HTTP surfaces.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const handler = createHttpHandler({ api, surfaces: ["rest", "graphql"] });
 * const server = Deno.serve({ port: 0, onListen() {} }, handler);
 * await server.shutdown();
 * ```
 */
export function createHttpHandler(options: HttpHandlerOptions): FetchHandler {
  const { api, surfaces } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const rest = surfaces.includes("rest")
    ? createRestApp({ api, maxBodyBytes, signal: options.signal, stream: options.stream })
    : undefined;
  const other: FetchHandler = rest ? (request, info) => rest.fetch(request, info) : withoutRest;
  if (!surfaces.includes("graphql")) return other;
  const graphql = createGraphqlApp({ api, maxBodyBytes });
  return (request, info) =>
    isGraphqlUrl(request.url) ? graphql.fetch(request) : other(request, info);
}
