/**
 * The Admin API as a Hono app (no listening: the server owns the port). Tokens, schemas,
 * remotes and plugins, each route one API operation called as the caller kind "admin", so
 * every route answers what the matching CLI command does, with the same checks.
 *
 * Every `/admin/...` request passes the guard first:
 * 1. the server may refuse it outright (`ready`: the Admin API was disabled, or config.toml
 *    cannot be read);
 * 2. an address that presented too many wrong keys gets 429 with Retry-After, before its
 *    key is looked at (rate_limit.ts);
 * 3. the key (`X-Admin-Key` or `Authorization: Bearer`) is checked by the API; a wrong one
 *    is counted and logged with the address, never the key;
 * 4. only then is the body read (at most `maxBodyBytes`, else 413).
 * Errors are JSON `{"message", "code"}`; unknown paths answer 404 and known paths with
 * another method 405, both after the guard (no route list for a client without the key).
 */
import { Hono, type MiddlewareHandler } from "hono";
import type { Api } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import { DbxError, isDbxError } from "../errors.ts";
import { allowedMethods } from "../http/allowed_methods.ts";
import { readBodyText } from "../http/body.ts";
import { adminKey } from "./auth.ts";
import { adminError, handleAdminError } from "./errors.ts";
import { FailureLimiter, type LimiterOptions } from "./rate_limit.ts";
import { registerPluginRoutes } from "./routes/plugins.ts";
import { registerRemoteRoutes } from "./routes/remotes.ts";
import { registerSchemaRoutes } from "./routes/schemas.ts";
import { registerTokenRoutes } from "./routes/tokens.ts";

/** Largest Admin API request body unless told otherwise (a large schema fits). */
export const DEFAULT_ADMIN_MAX_BODY_BYTES = 1 << 20;

/**
 * Hono environment: the client's address (given by the server with each request), the
 * admin caller and the body once the guard passed.
 */
export type AdminEnv = {
  Bindings: { client?: string };
  Variables: { caller: Caller; body?: string };
};

/** The app the route modules register on. */
export type AdminApp = Hono<AdminEnv>;

export interface AdminAppOptions {
  api: Api;
  maxBodyBytes?: number;
  /** Rate limiting of wrong keys per address. */
  limits?: LimiterOptions;
  /** Asked before each request; a DbxError it throws is the answer (e.g. the API is off). */
  ready?: () => Promise<void>;
  /** Where security events go (default stderr). */
  log?: (line: string) => void;
}

/**
 * Build the Admin API over an API.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const app = createAdminApp({ api });
 * const server = Deno.serve(
 *   { port: 0, onListen() {} },
 *   (request, info) => app.fetch(request, { client: info.remoteAddr.hostname }),
 * );
 * await server.shutdown();
 * ```
 */
export function createAdminApp(options: AdminAppOptions): AdminApp {
  const { api } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_ADMIN_MAX_BODY_BYTES;
  const limiter = new FailureLimiter(options.limits);
  const log = options.log ?? ((line: string) => console.error(line));
  const app = new Hono<AdminEnv>();

  const guard: MiddlewareHandler<AdminEnv> = async (c, next) => {
    await options.ready?.();
    const client = c.env?.client ?? "unknown";
    const admission = limiter.begin(client);
    if (!admission.allowed) {
      const wait = admission.retryAfterSeconds;
      return adminError(
        c,
        429,
        "rate_limited",
        `too many wrong Admin master keys from this address; retry in ${wait} s`,
        { "Retry-After": String(wait) },
      );
    }
    let key: string;
    try {
      key = adminKey(c.req.raw.headers);
    } catch (err) {
      limiter.end(client, true); // no key was tried
      throw err;
    }
    const caller: Caller = { kind: "admin", key };
    try {
      await api.call(caller, "describeCaller", {});
    } catch (err) {
      const wrong = isDbxError(err, "unauthorized") && err.details?.reason === "wrong_key";
      if (!wrong) limiter.end(client, true);
      else {
        const left = limiter.end(client, false);
        log(
          `warning: admin: ${c.req.method} ${c.req.path} from ${client}: wrong master key` +
            (left > 0 ? ` (${left} more before this address is rate limited)` : "; " +
              `this address is rate limited (one more try every ${limiter.refillMs / 1000} s)`),
        );
      }
      throw err;
    }
    limiter.end(client, true);
    c.set("caller", caller);
    if (new URL(c.req.url).search !== "") {
      throw new DbxError("invalid_input", "the Admin API takes no query parameters");
    }
    const raw = c.req.raw;
    if (raw.body) c.set("body", await readBodyText(raw, maxBodyBytes));
    await next();
  };
  app.use("/admin", guard);
  app.use("/admin/*", guard);

  registerTokenRoutes(app, api);
  registerSchemaRoutes(app, api);
  registerRemoteRoutes(app, api);
  registerPluginRoutes(app, api);

  app.onError(handleAdminError);
  app.notFound(notFoundOrNotAllowed(app));
  return app;
}

/** 405 with `Allow` when the path exists for other methods, else 404. */
function notFoundOrNotAllowed(app: AdminApp) {
  const allowedOn = allowedMethods(() => app.routes);
  return (c: Parameters<Parameters<AdminApp["notFound"]>[0]>[0]) => {
    const path = c.req.path;
    const allowed = allowedOn(path);
    if (allowed.length === 0) {
      return adminError(c, 404, "not_found", `no route ${c.req.method} ${path}`);
    }
    const allow = allowed.join(", ");
    return adminError(
      c,
      405,
      "method_not_allowed",
      `method ${c.req.method} is not allowed on ${path}; allowed: ${allow}`,
      { Allow: allow },
    );
  };
}
