/**
 * Bearer-token checks for the REST surface.
 *
 * Every route but `/health` runs `requireToken` first: it refuses a missing,
 * malformed, foreign, expired or revoked token with 401 before any input is
 * read, and remembers the token's scope. Handlers then ask for the one scope
 * they need with `authorizeFor`, which returns who the caller is (for
 * `issued_by`) and the write charge; listings and the event stream filter with
 * `canRead` instead of refusing.
 */
import type { Context, MiddlewareHandler } from "hono";
import {
  type Action,
  aggregateResource,
  type Authorized,
  permits,
  type TokenAuthority,
} from "../auth/authority.ts";
import { decodeJwt } from "../auth/jwt.ts";
import { DbxError, isDbxError } from "../errors.ts";

/** What a token may do: its granted actions and resource patterns. */
export interface TokenScope {
  actions: readonly string[];
  resources: readonly string[];
}

/** The authenticated caller of one request. */
export interface RequestAuth {
  token: string;
  scope: TokenScope;
}

/** Hono environment of the app: the caller (once `requireToken` passed) and the body text. */
export type AppEnv = { Variables: { auth: RequestAuth; body?: string } };

/** Any resource: only used to learn whether a token is valid at all. */
const PROBE_RESOURCE = aggregateResource("", "");

/**
 * The token of an `Authorization: Bearer <token>` header.
 *
 * @example
 * ```ts
 * bearerToken("Bearer eyJhbGciOi..."); // "eyJhbGciOi..."
 * bearerToken(undefined); // throws DbxError("unauthorized")
 * ```
 */
export function bearerToken(header: string | undefined | null): string {
  if (header === undefined || header === null || header.trim() === "") {
    throw new DbxError(
      "unauthorized",
      "a token is required: send the header Authorization: Bearer <token>",
    );
  }
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new DbxError(
      "unauthorized",
      "the Authorization header must be Bearer <token> (one token, no other scheme)",
    );
  }
  return match[1];
}

/**
 * Check that a token is valid (signature, issuer, expiry, revocation) whatever
 * its scope, and return its scope. Throws DbxError "unauthorized".
 *
 * @example
 * ```ts
 * const scope = authenticate(ctx.auth, token);
 * canRead(scope, "patient", "p-001");
 * ```
 */
export function authenticate(auth: TokenAuthority, token: string): TokenScope {
  try {
    const who = auth.authorize(token, "aggregate.read", PROBE_RESOURCE);
    return { actions: who.actions, resources: who.resources };
  } catch (err) {
    // "forbidden" comes only after the signature, expiry and revocation checks passed.
    if (!isDbxError(err, "forbidden")) throw err;
    const { claims } = decodeJwt(token);
    const strings = (v: unknown) =>
      Array.isArray(v) && v.every((s) => typeof s === "string") ? v as string[] : [];
    return { actions: strings(claims.actions), resources: strings(claims.resources) };
  }
}

/**
 * Middleware: refuse requests without a valid bearer token (401) and store the
 * caller for the handlers.
 *
 * @example
 * ```ts
 * app.get("/v1/aggregates", requireToken(ctx.auth), handler);
 * ```
 */
export function requireToken(auth: TokenAuthority): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header("Authorization"));
    c.set("auth", { token, scope: authenticate(auth, token) });
    await next();
  };
}

/**
 * Ask the authority whether the caller may do `action` on `resource`. Throws
 * 401 (token expired or revoked meanwhile) or 403 (outside its scope).
 *
 * @example
 * ```ts
 * const who = authorizeFor(c, ctx.auth, "aggregate.append", aggregateResource(type, id));
 * await ctx.engine.append(input, { issued_by: who.issued_by, charge: who.charge });
 * ```
 */
export function authorizeFor(
  c: Context<AppEnv>,
  auth: TokenAuthority,
  action: Action,
  resource: string,
): Authorized {
  return auth.authorize(c.get("auth").token, action, resource);
}

/**
 * Whether a scope allows reading one aggregate (filters listings and streams).
 *
 * @example
 * ```ts
 * canRead({ actions: ["aggregate.read"], resources: ["aggregate:patient:*"] }, "patient", "p-1"); // true
 * ```
 */
export function canRead(scope: TokenScope, aggregateType: string, aggregateId: string): boolean {
  return permits(scope, "aggregate.read", aggregateResource(aggregateType, aggregateId));
}

/**
 * Whether a scope allows `action` on some resource at all (used to answer 403
 * instead of an always-empty listing).
 *
 * @example
 * ```ts
 * mayEver({ actions: ["schema.read"], resources: ["*"] }, "aggregate.read"); // false
 * ```
 */
export function mayEver(scope: TokenScope, action: Action): boolean {
  return permits({ actions: scope.actions, resources: ["*"] }, action, PROBE_RESOURCE);
}

/**
 * Refuse with 403 unless the scope grants `action` on some resource.
 *
 * @example
 * ```ts
 * requireAction(c.get("auth").scope, "aggregate.read");
 * ```
 */
export function requireAction(scope: TokenScope, action: Action): void {
  if (!mayEver(scope, action)) {
    throw new DbxError("forbidden", `the token does not permit ${action}`);
  }
}
