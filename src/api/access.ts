/**
 * The one place where a caller is authenticated and authorized. Every operation names the
 * action it needs and the resources its input touches (`catalogue/`); this module answers
 * "may this caller do that?" the same way for every surface.
 *
 * - Tokens: signature, expiry and revocation by the token authority, then the token's own
 *   scope. A keep-alive token's use is reported only after every check passed.
 * - The local OS user may do everything: it already holds the files and the DEK.
 * - The Admin master key manages tokens, schemas, remotes and plugins (the Admin API's
 *   resources), never aggregates. Its Argon2id check is slow on purpose, so a verified key
 *   is remembered for a minute (by digest, never the key itself). A key that matched an
 *   earlier version's scrypt hash is handed to `upgradeMasterKey` once, to store it as
 *   Argon2id.
 * - A replication peer must hold a pinned key; it may read aggregates, import events and read
 *   and write schemas (replication, `push --schema`), nothing else.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import {
  type Action,
  aggregateResource,
  type Authorized,
  permits,
  type TokenAuthority,
} from "../auth/authority.ts";
import type { Scope } from "../auth/scope.ts";
import { isLegacyMasterKeyHash, verifyMasterKey } from "../config/master_key.ts";
import type { IssuedBy, WriteCharge } from "../engine/types.ts";
import { DbxError } from "../errors.ts";
import type { Caller } from "./caller.ts";
import type { CallerInfo } from "./operations.ts";

/** A caller that passed authentication: who it is and what it may do. */
export interface Principal {
  kind: Caller["kind"];
  /** Recorded as `issued_by` on the events it writes. */
  issued_by: IssuedBy | null;
  /** The token's write limit, charged by the writer with the events. */
  charge?: WriteCharge;
  scope: Scope;
  /** True when the scope is every action on every resource: filters can be skipped. */
  unrestricted: boolean;
  /** Token callers: what the authority said, and the authority, to report the use. */
  token?: { authorized: Authorized; authority: TokenAuthority };
}

/** What the access checks read from the node. */
export interface AccessSources {
  tokens(): TokenAuthority | Promise<TokenAuthority>;
  /** The stored hash of the Admin master key (absent: no Admin access). */
  masterKeyHash(): string | undefined;
  /**
   * Store an Argon2id hash of `key` in place of `legacyHash` (an earlier version's scrypt
   * hash that `key` just matched). Absent: legacy hashes stay as they are.
   */
  upgradeMasterKey?(key: string, legacyHash: string): Promise<void>;
  /** Base64 Ed25519 public keys of the pinned replication peers. */
  pinnedPeers(): Promise<readonly string[]>;
}

const EVERYTHING: Scope = { actions: ["*"], resources: ["*"] };
const ADMIN_SCOPE: Scope = {
  actions: ["token.manage", "schema.read", "schema.write", "remote.manage", "plugin.manage"],
  resources: ["*"],
};
const PEER_SCOPE: Scope = {
  actions: ["aggregate.read", "aggregate.import", "schema.read", "schema.write"],
  resources: ["*"],
};
/** Any resource: only used to learn whether a scope grants an action at all. */
const SOME_RESOURCE = aggregateResource("", "");
const ADMIN_CACHE_MS = 60_000;

function digest(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/**
 * Authenticates callers and checks their scope.
 *
 * @example
 * ```ts
 * import { aggregateResource } from "../auth/scope.ts";
 * declare const access: Access;
 * const who = await access.authenticate({ kind: "token", token: "eyJ..." });
 * access.permit(who, "aggregate.read", aggregateResource("patient", "p-1"));
 * access.used(who);
 * ```
 */
export class Access {
  readonly #sources: AccessSources;
  #admin: { digest: Buffer; hash: string; until: number } | undefined;
  /** The legacy hash being replaced now (one replacement at a time). */
  #upgrading: string | undefined;

  constructor(sources: AccessSources) {
    this.#sources = sources;
  }

  /** Who the caller is; DbxError "unauthorized" when it cannot prove it. */
  async authenticate(caller: Caller): Promise<Principal> {
    switch (caller?.kind) {
      case "token": {
        const authority = await this.#sources.tokens();
        const who = authority.authenticate(caller.token);
        return {
          kind: "token",
          issued_by: who.issued_by,
          charge: who.charge,
          scope: who,
          unrestricted: who.resources.includes("*") && who.actions.includes("*"),
          token: { authorized: who, authority },
        };
      }
      case "local":
        return {
          kind: "local",
          issued_by: { group: "local", user: caller.user },
          scope: EVERYTHING,
          unrestricted: true,
        };
      case "admin":
        await this.#checkAdminKey(caller.key);
        return {
          kind: "admin",
          issued_by: { group: "admin", user: "admin" },
          scope: ADMIN_SCOPE,
          unrestricted: false,
        };
      case "peer": {
        const pinned = await this.#sources.pinnedPeers();
        if (typeof caller.public_key !== "string" || !pinned.includes(caller.public_key)) {
          throw new DbxError("unauthorized", "the peer's public key is not pinned on this node");
        }
        return { kind: "peer", issued_by: null, scope: PEER_SCOPE, unrestricted: false };
      }
      default:
        throw new DbxError("unauthorized", "a token is required");
    }
  }

  /** Refuse with DbxError "forbidden" unless the caller may do `action` on `resource`. */
  permit(who: Principal, action: Action, resource: string): void {
    if (who.unrestricted || permits(who.scope, action, resource)) return;
    throw new DbxError("forbidden", `${subject(who)} does not permit ${action} on ${resource}`, {
      reason: "not_permitted",
    });
  }

  /** Refuse with "forbidden" unless the caller may do `action` on some resource (listings). */
  permitSome(who: Principal, action: Action): void {
    if (who.unrestricted) return;
    if (permits({ actions: who.scope.actions, resources: ["*"] }, action, SOME_RESOURCE)) return;
    throw new DbxError("forbidden", `${subject(who)} does not permit ${action}`, {
      reason: "not_permitted",
    });
  }

  /** Whether the caller may do `action` on `resource` (to filter listings and feeds). */
  allows(who: Principal, action: Action, resource: string): boolean {
    return who.unrestricted || permits(who.scope, action, resource);
  }

  /** Report a use that passed every check (keep-alive tokens slide their expiry). */
  used(who: Principal): void {
    who.token?.authority.used(who.token.authorized);
  }

  /** The caller as plain data. */
  describe(who: Principal): CallerInfo {
    const info: CallerInfo = {
      kind: who.kind,
      actions: [...who.scope.actions],
      resources: [...who.scope.resources],
    };
    if (who.issued_by) {
      info.group = who.issued_by.group;
      info.user = who.issued_by.user;
    }
    if (who.token) info.token_id = who.token.authorized.token_id;
    return info;
  }

  async #checkAdminKey(key: unknown): Promise<void> {
    const hash = this.#sources.masterKeyHash();
    if (hash === undefined) {
      throw new DbxError("unauthorized", "no Admin master key is configured on this node", {
        reason: "no_master_key",
      });
    }
    if (typeof key !== "string" || key === "") {
      throw new DbxError("unauthorized", "the Admin master key is required", {
        reason: "missing_key",
      });
    }
    const given = digest(key);
    const cached = this.#admin;
    if (
      cached && cached.hash === hash && cached.until > Date.now() &&
      timingSafeEqual(cached.digest, given)
    ) return;
    if (!(await verifyMasterKey(key, hash))) {
      throw new DbxError("unauthorized", "the Admin master key is wrong", {
        reason: "wrong_key",
      });
    }
    this.#admin = { digest: given, hash, until: Date.now() + ADMIN_CACHE_MS };
    if (isLegacyMasterKeyHash(hash)) await this.#upgrade(key, hash);
  }

  /** Replace a matched legacy hash by Argon2id; a failure leaves it (and is retried later). */
  async #upgrade(key: string, legacyHash: string): Promise<void> {
    const upgrade = this.#sources.upgradeMasterKey;
    if (!upgrade || this.#upgrading === legacyHash) return;
    this.#upgrading = legacyHash;
    try {
      await upgrade(key, legacyHash);
    } catch (err) {
      // The message of a failed write names a file, never the key.
      const reason = err instanceof DbxError ? err.message : "the write failed";
      console.error(`warning: the Admin master key hash was not upgraded to Argon2id: ${reason}`);
    } finally {
      this.#upgrading = undefined;
    }
  }
}

function subject(who: Principal): string {
  switch (who.kind) {
    case "token":
      return "the token";
    case "admin":
      return "the Admin master key";
    case "peer":
      return "a replication peer";
    default:
      return "the caller";
  }
}
