/**
 * The token authority of one node: issues, lists, revokes and refreshes
 * Ed25519-signed JWTs, and answers the one authorisation question every
 * surface asks: may this token do this action on this resource?
 *
 * Design notes (why it works the way it does):
 * - A token is a stateless JWT signed by `node.key`; its signature and claims
 *   alone make it valid. `tokens.json` adds what changes after issue: the
 *   revocations, and the authoritative expiry and write limit (moved by
 *   `refresh` and by keep-alive). A valid token without a record (e.g. one from
 *   `mintShortLived`) is judged by its claims.
 * - Only the signature check and the JSON parse are cached (bounded LRU, keyed
 *   by the token string); revocation and expiry are checked on every call.
 * - Another process (the CLI next to a server) may change `tokens.json`;
 *   `authorize` notices within `reloadIntervalMs` (one stat call per interval).
 * - Keep-alive: each successful use slides the expiry to now + the token's
 *   expiration window in memory; it is saved when it moved by more than a tenth
 *   of the window since last saved, and on close. After a crash a keep-alive
 *   token can therefore expire at most 10% of its window early, never late.
 * - Write limits are counted by the engine (`charge` in AppendOptions), in the
 *   same synced batch as the events, so they are exact under concurrency and
 *   across restarts. This module never needs the engine: callers that know the
 *   used count pass it in (`list`, `refresh`).
 */
import { userInfo } from "node:os";
import type { IssuedBy, WriteCharge } from "../engine/types.ts";
import { DbxError, type ErrorCode } from "../errors.ts";
import { JwtError, signJwt, verifyJwt } from "./jwt.ts";
import { LruMap } from "../util/lru_map.ts";
import { loadOrCreateNodeKey, type NodeKey } from "./node_key.ts";
import { type Action, permits, validateActions, validateResources } from "./scope.ts";
import { type FileStamp, TokenFile, type TokenRecord, type TokenState } from "./token_file.ts";

export {
  type Action,
  ACTIONS,
  aggregateResource,
  matchResource,
  permits,
  schemaResource,
  tokenResource,
} from "./scope.ts";
export type { TokenRecord } from "./token_file.ts";

/** Longest accepted lifetime: 100 years. */
export const MAX_EXPIRATION_SECONDS = 100 * 365 * 24 * 3600;
/** Lifetime of tokens from `mintShortLived`. */
export const SHORT_LIVED_SECONDS = 60;
const MAX_NAME_BYTES = 128;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Save a keep-alive slide once it moved by more than this share of the window. */
const SLIDE_SAVE_FRACTION = 0.1;

/** The signed claims of an EventDBX token. Times are seconds (RFC 7519). */
export interface TokenClaims {
  iss: string;
  jti: string;
  group: string;
  user: string;
  iat: number;
  exp?: number;
  actions: string[];
  resources: string[];
  limit?: number;
  keep_alive?: boolean;
}

/** A token that passed `authorize`. Pass `charge` in AppendOptions for writes. */
export interface Authorized {
  token_id: string;
  issued_by: IssuedBy;
  /** Present when the token has a write limit. */
  charge?: WriteCharge;
  actions: readonly string[];
  resources: readonly string[];
}

export type TokenStatus = "active" | "expired" | "revoked" | "exhausted";

/** A token as `token list` shows it (never the token string itself). */
export interface TokenInfo {
  id: string;
  group: string;
  user: string;
  status: TokenStatus;
  /** RFC 3339. */
  issued_at: string;
  expires_at: string | null;
  /** Lifetime in seconds given at issue or last refresh (the keep-alive window). */
  expiration: number | null;
  keep_alive: boolean;
  limit: number | null;
  used_writes: number | null;
  remaining_writes: number | null;
  actions: string[];
  resources: string[];
  revoked_at?: string;
  refreshed_at?: string;
}

export interface GenerateOptions {
  group: string;
  user: string;
  /** Lifetime in seconds; absent = never expires. */
  expiration?: number;
  /** Total writes (events) allowed; absent = unlimited. */
  limit?: number;
  /** Slide the expiry forward on each use (needs `expiration`). */
  keepAlive?: boolean;
  /** Default ["*"]: every action. */
  actions?: string[];
  /** Default ["*"]: every resource. */
  resources?: string[];
}

export interface RefreshOptions {
  /** New lifetime in seconds from now (also the new keep-alive window). */
  expiration?: number;
  /** Grant this many more writes from now: new limit = used + limit. */
  limit?: number;
}

/** How many writes a token has used (the engine's counter), by token id. */
export type UsedWrites = (tokenId: string) => Promise<number>;

export interface TokenAuthorityOptions {
  dataDir: string;
  /** The data encryption key (32 bytes); seals tokens.json. */
  dek: Uint8Array;
  /** Clock in epoch milliseconds; tests inject one. */
  now?: () => number;
  /** How often `authorize` checks tokens.json for changes by other processes. */
  reloadIntervalMs?: number;
  /** Verified tokens kept in the cache. */
  cacheSize?: number;
}

function refuse(code: ErrorCode, reason: string, message: string): DbxError {
  return new DbxError(code, message, { reason });
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

function checkName(kind: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new DbxError("invalid_input", `--${kind} is required and must not be empty`);
  }
  if (new TextEncoder().encode(value).length > MAX_NAME_BYTES) {
    throw new DbxError("invalid_input", `--${kind} is longer than ${MAX_NAME_BYTES} bytes`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new DbxError("invalid_input", `--${kind} must not contain control characters`);
  }
  return value;
}

function checkExpiration(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_EXPIRATION_SECONDS) {
    throw new DbxError(
      "invalid_input",
      `--expiration must be a whole number of seconds between 1 and ${MAX_EXPIRATION_SECONDS}`,
    );
  }
  return value;
}

function checkLimit(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new DbxError("invalid_input", "--limit must be a non-negative whole number of writes");
  }
  return value;
}

/** Claims are signed by us, but a key may have signed anything once: check the shape. */
function parseClaims(raw: Record<string, unknown>): TokenClaims {
  const isStrings = (v: unknown) =>
    Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string");
  const ok = typeof raw.iss === "string" && typeof raw.jti === "string" &&
    typeof raw.group === "string" && typeof raw.user === "string" &&
    typeof raw.iat === "number" && (raw.exp === undefined || typeof raw.exp === "number") &&
    isStrings(raw.actions) && isStrings(raw.resources) &&
    (raw.limit === undefined || (Number.isSafeInteger(raw.limit) && (raw.limit as number) >= 0)) &&
    (raw.keep_alive === undefined || typeof raw.keep_alive === "boolean");
  if (!ok) throw new JwtError("token claims are malformed");
  return raw as unknown as TokenClaims;
}

function recordFromClaims(claims: TokenClaims): TokenRecord {
  return {
    id: claims.jti,
    group: claims.group,
    user: claims.user,
    issued_at: claims.iat * 1000,
    expires_at: claims.exp === undefined ? null : claims.exp * 1000,
    expiration: claims.exp === undefined ? null : Math.max(1, claims.exp - claims.iat),
    keep_alive: claims.keep_alive === true,
    limit: claims.limit ?? null,
    actions: [...claims.actions],
    resources: [...claims.resources],
  };
}

function osUserName(): string {
  try {
    return userInfo().username || "unknown";
  } catch {
    return Deno.env.get("USER") ?? Deno.env.get("USERNAME") ?? "unknown";
  }
}

/**
 * Issues and checks the tokens of one data directory.
 *
 * @example
 * ```ts
 * import type { Engine } from "../engine/engine.ts";
 * import type { AppendInput } from "../engine/types.ts";
 * declare const dataDir: string;
 * declare const dek: Uint8Array; // the data encryption key
 * declare const engine: Engine; // open on the same data directory
 * declare const input: AppendInput;
 * const auth = await TokenAuthority.open({ dataDir, dek });
 * const { token } = await auth.generate({ group: "ops", user: "alice" });
 * const who = auth.authorize(token, "aggregate.append", aggregateResource("patient", "p-001"));
 * await engine.append(input, { issued_by: who.issued_by, charge: who.charge });
 * await auth.close();
 * ```
 */
export class TokenAuthority {
  readonly #key: NodeKey;
  readonly #file: TokenFile;
  readonly #now: () => number;
  readonly #reloadIntervalMs: number;
  readonly #verified: LruMap<string, TokenClaims>;
  #state: TokenState;
  #stamp: FileStamp | null;
  #lastStampCheck = 0;
  /** Keep-alive expiries slid in memory (epoch ms), by token id. */
  readonly #slides = new Map<string, number>();
  #slideSaveQueued = false;
  /** Serialises this process's writes of tokens.json. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(
    key: NodeKey,
    file: TokenFile,
    state: TokenState,
    stamp: FileStamp | null,
    options: TokenAuthorityOptions,
  ) {
    this.#key = key;
    this.#file = file;
    this.#state = state;
    this.#stamp = stamp;
    this.#now = options.now ?? Date.now;
    this.#reloadIntervalMs = options.reloadIntervalMs ?? 1000;
    this.#verified = new LruMap(options.cacheSize ?? 1024);
    this.#lastStampCheck = performance.now();
  }

  /**
   * Open the authority of a data directory, creating `node.key` on first use.
   * Throws DbxError "wrong_key" / "corrupt" if tokens.json cannot be read.
   *
   * @example
   * ```ts
   * import type { Config } from "../config/types.ts";
   * import { parseDek } from "../crypto/aead.ts";
   * declare const config: Config;
   * const auth = await TokenAuthority.open({ dataDir: "/tmp/dbx", dek: parseDek(config.dek!) });
   * ```
   */
  static async open(options: TokenAuthorityOptions): Promise<TokenAuthority> {
    if (!(options.dek instanceof Uint8Array) || options.dek.length !== 32) {
      throw new DbxError("invalid_input", "the data encryption key must be 32 bytes");
    }
    const key = await loadOrCreateNodeKey(options.dataDir);
    const file = new TokenFile(options.dataDir, options.dek);
    const { state, stamp } = await file.read();
    return new TokenAuthority(key, file, state, stamp, options);
  }

  /** The id of the signing key (the `iss` of every token). */
  get keyId(): string {
    return this.#key.keyId;
  }

  /** The node's Ed25519 public key. */
  get publicKey(): Uint8Array {
    return this.#key.publicKey.slice();
  }

  /**
   * Issue a new token. Without actions/resources it may do everything.
   *
   * @example
   * ```ts
   * declare const auth: TokenAuthority;
   * const { token, info } = await auth.generate({
   *   group: "audit", user: "carol", expiration: 3600,
   *   actions: ["aggregate.read"], resources: ["aggregate:patient:p-001"],
   * });
   * ```
   */
  async generate(options: GenerateOptions): Promise<{ token: string; info: TokenInfo }> {
    this.#assertOpen();
    const group = checkName("group", options.group);
    const user = checkName("user", options.user);
    const expiration = checkExpiration(options.expiration);
    const limit = checkLimit(options.limit);
    const keepAlive = options.keepAlive === true;
    if (keepAlive && expiration === undefined) {
      throw new DbxError(
        "invalid_input",
        "--keep-alive needs --expiration: the window the expiry slides by on each use",
      );
    }
    const actions = options.actions?.length ? [...new Set(options.actions)] : ["*"];
    const resources = options.resources?.length ? [...new Set(options.resources)] : ["*"];
    validateActions(actions);
    validateResources(resources);

    const now = this.#now();
    const record: TokenRecord = {
      id: crypto.randomUUID(),
      group,
      user,
      issued_at: now,
      expires_at: expiration === undefined ? null : now + expiration * 1000,
      expiration: expiration ?? null,
      keep_alive: keepAlive,
      limit: limit ?? null,
      actions,
      resources,
    };
    const token = this.#sign(record, now);
    await this.#update((state) => state.tokens.set(record.id, record));
    return { token, info: this.#info(record, 0) };
  }

  /**
   * A 60-second token with full scope for group "system" and the OS user, for
   * the CLI to talk to its own server. Not recorded in tokens.json.
   *
   * @example
   * ```ts
   * declare const auth: TokenAuthority;
   * const token = auth.mintShortLived();
   * ```
   */
  mintShortLived(options: { ttlSeconds?: number; user?: string } = {}): string {
    this.#assertOpen();
    const ttl = checkExpiration(options.ttlSeconds ?? SHORT_LIVED_SECONDS)!;
    const now = this.#now();
    return this.#sign({
      id: crypto.randomUUID(),
      group: "system",
      user: checkName("user", options.user ?? osUserName()),
      issued_at: now,
      expires_at: now + ttl * 1000,
      expiration: ttl,
      keep_alive: false,
      limit: null,
      actions: ["*"],
      resources: ["*"],
    }, now);
  }

  /**
   * Every recorded token, oldest first. `usedWrites` (the engine's counter)
   * fills in used and remaining writes; without it they assume 0 used.
   *
   * @example
   * ```ts
   * import type { Engine } from "../engine/engine.ts";
   * declare const auth: TokenAuthority;
   * declare const engine: Engine;
   * const tokens = await auth.list((id) => engine.usedWrites(id));
   * ```
   */
  async list(usedWrites?: UsedWrites): Promise<TokenInfo[]> {
    this.#assertOpen();
    await this.#reloadIfChanged();
    const records = [...this.#state.tokens.values()].sort((a, b) => a.issued_at - b.issued_at);
    const out: TokenInfo[] = [];
    for (const record of records) {
      const used = record.limit !== null && usedWrites ? await usedWrites(record.id) : 0;
      out.push(this.#info(record, used));
    }
    return out;
  }

  /**
   * Revoke a token (given as the token string or its id) at once. Revoking
   * twice is harmless; it reports the first revocation.
   *
   * @example
   * ```ts
   * declare const auth: TokenAuthority;
   * declare const token: string;
   * const info = await auth.revoke(token); // info.status === "revoked"
   * ```
   */
  async revoke(tokenOrId: string): Promise<TokenInfo> {
    this.#assertOpen();
    await this.#reloadIfChanged();
    const record = this.#resolve(tokenOrId);
    const now = this.#now();
    await this.#update((state) => {
      if (!state.revocations.has(record.id)) state.revocations.set(record.id, { revoked_at: now });
    });
    this.#slides.delete(record.id);
    return this.#info(this.#state.tokens.get(record.id) ?? record, 0);
  }

  /**
   * Extend a token's lifetime and/or write allowance. The token keeps its id,
   * so the old string stays valid with the new terms; the returned string is
   * the same token re-signed with the new `exp` and `limit` claims.
   * `expiration`: new lifetime from now. `limit`: this many more writes from
   * now (new limit = used + limit; `usedWrites` gives the used count).
   * Without either, a token with a lifetime is extended by its last window.
   *
   * @example
   * ```ts
   * declare const auth: TokenAuthority;
   * declare const old: string; // the token string or its id
   * const { token } = await auth.refresh(old, { expiration: 3600 });
   * ```
   */
  async refresh(
    tokenOrId: string,
    options: RefreshOptions = {},
    usedWrites?: UsedWrites,
  ): Promise<{ token: string; info: TokenInfo }> {
    this.#assertOpen();
    const expiration = checkExpiration(options.expiration);
    const more = checkLimit(options.limit);
    await this.#reloadIfChanged();
    const target = this.#resolve(tokenOrId);
    if (this.#state.revocations.has(target.id)) {
      throw new DbxError("conflict", `token ${target.id} is revoked and cannot be refreshed`);
    }
    const window = expiration ?? target.expiration;
    if (
      expiration === undefined && more === undefined &&
      (window === null || target.expires_at === null)
    ) {
      throw new DbxError(
        "invalid_input",
        `token ${target.id} never expires; give --expiration and/or --limit to refresh it`,
      );
    }
    const used = more !== undefined && usedWrites ? await usedWrites(target.id) : 0;
    const now = this.#now();
    const changed = { ...target, refreshed_at: now };
    if (expiration !== undefined || more === undefined) {
      changed.expiration = window;
      changed.expires_at = now + window! * 1000;
    }
    if (more !== undefined) {
      if (!Number.isSafeInteger(used + more)) {
        throw new DbxError("invalid_input", "--limit is too large");
      }
      changed.limit = used + more;
    }
    await this.#update((state) => {
      if (state.revocations.has(target.id)) {
        throw new DbxError("conflict", `token ${target.id} is revoked and cannot be refreshed`);
      }
      state.tokens.set(target.id, changed);
    });
    this.#slides.delete(target.id);
    return { token: this.#sign(changed, now), info: this.#info(changed, used) };
  }

  /**
   * May `token` do `action` on `resource`? Returns who it is, or throws
   * DbxError "unauthorized" (missing, malformed, bad signature, foreign,
   * expired, revoked) or "forbidden" (outside its scope); `details.reason`
   * says which. Messages never contain the token.
   *
   * @example
   * ```ts
   * declare const auth: TokenAuthority;
   * declare const bearer: string | undefined; // from the Authorization header
   * const who = auth.authorize(bearer, "aggregate.read", aggregateResource("patient", "p-001"));
   * ```
   */
  authorize(token: string | undefined, action: Action, resource: string): Authorized {
    const who = this.authenticate(token);
    if (!permits(who, action, resource)) {
      throw refuse(
        "forbidden",
        "not_permitted",
        `the token does not permit ${action} on ${resource}`,
      );
    }
    this.used(who);
    return who;
  }

  /**
   * Is `token` valid (signature, issuer, expiry, revocation), whatever its scope? Returns
   * who it is and what it may do; the caller checks the scope (`permits`) and then reports
   * the use with {@link used}. Throws DbxError "unauthorized" like `authorize`.
   *
   * @example
   * ```ts
   * declare const auth: TokenAuthority;
   * declare const bearer: string | undefined; // from the Authorization header
   * const who = auth.authenticate(bearer);
   * if (permits(who, "aggregate.read", aggregateResource("patient", "p-1"))) auth.used(who);
   * ```
   */
  authenticate(token: string | undefined): Authorized {
    this.#assertOpen();
    if (token === undefined || token === "") {
      throw refuse("unauthorized", "missing", "a token is required");
    }
    const claims = this.#verify(token, "unauthorized");
    this.#reloadIfChangedSync();
    if (this.#state.revocations.has(claims.jti)) {
      throw refuse("unauthorized", "revoked", "the token has been revoked");
    }
    const record = this.#state.tokens.get(claims.jti);
    const expiresAt = this.#expiresAt(claims, record);
    if (expiresAt !== null && this.#now() >= expiresAt) {
      throw refuse("unauthorized", "expired", "the token has expired");
    }
    const limit = record ? record.limit : claims.limit ?? null;
    return {
      token_id: claims.jti,
      issued_by: { group: claims.group, user: claims.user },
      charge: limit === null ? undefined : { key: claims.jti, limit },
      actions: claims.actions,
      resources: claims.resources,
    };
  }

  /**
   * Report a permitted use of an authenticated token: a keep-alive token's expiry slides
   * forward. Refused uses are not reported, so they never extend a token's life.
   */
  used(who: Authorized): void {
    const record = this.#state.tokens.get(who.token_id);
    if (!record?.keep_alive || record.expiration === null) return;
    const expiresAt = this.#expiresAt(undefined, record);
    if (expiresAt !== null) this.#slide(record, this.#now() + record.expiration * 1000, expiresAt);
  }

  /** Save pending keep-alive slides and wait for writes in flight. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#queue.catch(() => {});
      if (this.#hasUnsavedSlides()) await this.#update(() => {});
    } finally {
      this.#closed = true;
    }
  }

  // --- internals ---------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new DbxError("unavailable", "the token authority is closed");
  }

  #sign(record: TokenRecord, now: number): string {
    const claims: TokenClaims = {
      iss: this.#key.keyId,
      jti: record.id,
      group: record.group,
      user: record.user,
      iat: Math.floor(now / 1000),
      actions: record.actions,
      resources: record.resources,
    };
    if (record.expires_at !== null) claims.exp = Math.ceil(record.expires_at / 1000);
    if (record.limit !== null) claims.limit = record.limit;
    if (record.keep_alive) claims.keep_alive = true;
    return signJwt({ ...claims }, this.#key.secretKey);
  }

  /** Signature and claims check, cached by token string. */
  #verify(token: string, code: ErrorCode): TokenClaims {
    const cached = this.#verified.get(token);
    if (cached) return cached;
    let claims: TokenClaims;
    try {
      claims = parseClaims(verifyJwt(token, this.#key.publicKey, { issuer: this.#key.keyId }));
    } catch (err) {
      if (err instanceof JwtError) throw refuse(code, "invalid", `the ${err.message}`);
      throw err;
    }
    this.#verified.set(token, claims);
    return claims;
  }

  /** A token string (verified) or a token id, as a record. */
  #resolve(tokenOrId: string): TokenRecord {
    if (typeof tokenOrId !== "string" || tokenOrId.trim() === "") {
      throw new DbxError("invalid_input", "--token is required and must not be empty");
    }
    const value = tokenOrId.trim();
    if (UUID_RE.test(value)) {
      const record = this.#state.tokens.get(value.toLowerCase());
      if (!record) throw new DbxError("not_found", `no token with id ${value}`);
      return record;
    }
    const claims = this.#verify(value, "invalid_input");
    return this.#state.tokens.get(claims.jti) ?? recordFromClaims(claims);
  }

  #info(record: TokenRecord, used: number): TokenInfo {
    const revocation = this.#state.revocations.get(record.id);
    const slid = record.keep_alive ? this.#slides.get(record.id) : undefined;
    const expiresAt = record.expires_at !== null && slid !== undefined && slid > record.expires_at
      ? slid
      : record.expires_at;
    const remaining = record.limit === null ? null : Math.max(0, record.limit - used);
    const status: TokenStatus = revocation
      ? "revoked"
      : expiresAt !== null && this.#now() >= expiresAt
      ? "expired"
      : remaining === 0
      ? "exhausted"
      : "active";
    const info: TokenInfo = {
      id: record.id,
      group: record.group,
      user: record.user,
      status,
      issued_at: iso(record.issued_at)!,
      expires_at: iso(expiresAt),
      expiration: record.expiration,
      keep_alive: record.keep_alive,
      limit: record.limit,
      used_writes: record.limit === null ? null : used,
      remaining_writes: remaining,
      actions: [...record.actions],
      resources: [...record.resources],
    };
    if (revocation) info.revoked_at = iso(revocation.revoked_at)!;
    if (record.refreshed_at !== undefined) info.refreshed_at = iso(record.refreshed_at)!;
    return info;
  }

  #expiresAt(claims: TokenClaims | undefined, record: TokenRecord | undefined): number | null {
    if (!record) return claims?.exp === undefined ? null : claims.exp * 1000;
    if (record.expires_at === null) return null;
    const slid = record.keep_alive ? this.#slides.get(record.id) : undefined;
    return slid !== undefined && slid > record.expires_at ? slid : record.expires_at;
  }

  #slide(record: TokenRecord, to: number, current: number): void {
    if (to <= current) return;
    this.#slides.set(record.id, to);
    const window = record.expiration! * 1000;
    if (to - record.expires_at! > window * SLIDE_SAVE_FRACTION && !this.#slideSaveQueued) {
      this.#slideSaveQueued = true;
      this.#update(() => {}).catch((err) => {
        console.error(`warning: could not save a keep-alive token's expiry: ${err.message}`);
      });
    }
  }

  #hasUnsavedSlides(): boolean {
    for (const [id, at] of this.#slides) {
      const saved = this.#state.tokens.get(id)?.expires_at;
      if (saved !== null && saved !== undefined && at > saved) return true;
    }
    return false;
  }

  /** Read-modify-write tokens.json (serialised here and across processes). */
  #update(change: (state: TokenState) => void): Promise<void> {
    const run = async () => {
      this.#slideSaveQueued = false;
      const { state, stamp } = await this.#file.update((fresh) => {
        change(fresh);
        this.#applySlides(fresh);
      });
      this.#adopt(state, stamp);
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Keep-alive slides only ever move an expiry later. */
  #applySlides(state: TokenState): void {
    for (const [id, at] of this.#slides) {
      const record = state.tokens.get(id);
      if (!record?.keep_alive || record.expires_at === null || state.revocations.has(id)) {
        this.#slides.delete(id);
      } else if (at > record.expires_at) {
        record.expires_at = at;
      }
    }
  }

  #adopt(state: TokenState, stamp: FileStamp | null): void {
    this.#state = state;
    this.#stamp = stamp;
    this.#lastStampCheck = performance.now();
  }

  async #reloadIfChanged(): Promise<void> {
    if (this.#file.stampSync() === this.#stamp) return;
    await this.#queue.catch(() => {});
    const { state, stamp } = await this.#file.read();
    this.#adopt(state, stamp);
  }

  #reloadIfChangedSync(): void {
    const now = performance.now();
    if (now - this.#lastStampCheck < this.#reloadIntervalMs) return;
    this.#lastStampCheck = now;
    if (this.#file.stampSync() === this.#stamp) return;
    const { state, stamp } = this.#file.readSync();
    this.#adopt(state, stamp);
  }
}
