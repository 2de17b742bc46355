/**
 * `<data-dir>/tokens.json`: token records and revocations, sealed with the DEK
 * (AES-256-GCM, associated data "tokens.json"), written atomically, mode 0600.
 * Token strings themselves are never stored, only their id and metadata.
 *
 * Writers from several processes (a server and a CLI) serialise through an
 * advisory lock on `<data-dir>/tokens.lock` and re-read the file before they
 * change it, so no update is lost.
 */
import { join } from "node:path";
import { open, seal } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic_file.ts";

export const TOKENS_FILE = "tokens.json";
const LOCK_FILE = "tokens.lock";
const AAD = new TextEncoder().encode(TOKENS_FILE);
const FORMAT_VERSION = 1;

/** What the node remembers about a token it issued. Times are epoch milliseconds. */
export interface TokenRecord {
  id: string;
  group: string;
  user: string;
  issued_at: number;
  /** Authoritative expiry (refresh and keep-alive move it); null = never. */
  expires_at: number | null;
  /** Lifetime in seconds given at issue/refresh; the keep-alive window. */
  expiration: number | null;
  keep_alive: boolean;
  /** Total writes allowed over the token's life; null = unlimited. */
  limit: number | null;
  actions: string[];
  resources: string[];
  refreshed_at?: number;
}

export interface Revocation {
  revoked_at: number;
}

/** The decrypted content of tokens.json. */
export interface TokenState {
  tokens: Map<string, TokenRecord>;
  revocations: Map<string, Revocation>;
}

/** Identifies one version of the file on disk, to notice other writers cheaply. */
export type FileStamp = string;

export function emptyState(): TokenState {
  return { tokens: new Map(), revocations: new Map() };
}

function stampOf(info: Deno.FileInfo): FileStamp {
  return `${info.ino ?? ""}:${info.size}:${info.mtime?.getTime() ?? ""}`;
}

function malformed(path: string): DbxError {
  return new DbxError("corrupt", `the token file ${path} is malformed`);
}

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === "string");
const isTimeOrNull = (v: unknown) => v === null || (typeof v === "number" && Number.isFinite(v));
const isCountOrNull = (v: unknown) => v === null || (Number.isSafeInteger(v) && (v as number) >= 0);

function checkRecord(id: string, r: unknown): r is TokenRecord {
  if (typeof r !== "object" || r === null) return false;
  const t = r as Record<string, unknown>;
  return t.id === id && typeof t.group === "string" && typeof t.user === "string" &&
    typeof t.issued_at === "number" && isTimeOrNull(t.expires_at) &&
    isCountOrNull(t.expiration) && typeof t.keep_alive === "boolean" &&
    isCountOrNull(t.limit) && isStringArray(t.actions) && isStringArray(t.resources);
}

function decodeState(plain: Uint8Array, path: string): TokenState {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    throw malformed(path);
  }
  const d = doc as Record<string, unknown> | null;
  if (
    typeof d !== "object" || d === null || d.version !== FORMAT_VERSION ||
    typeof d.tokens !== "object" || d.tokens === null ||
    typeof d.revocations !== "object" || d.revocations === null
  ) {
    throw malformed(path);
  }
  const state = emptyState();
  for (const [id, record] of Object.entries(d.tokens as Record<string, unknown>)) {
    if (!checkRecord(id, record)) throw malformed(path);
    state.tokens.set(id, record);
  }
  for (const [id, rev] of Object.entries(d.revocations as Record<string, unknown>)) {
    const at = (rev as Record<string, unknown> | null)?.revoked_at;
    if (typeof at !== "number") throw malformed(path);
    state.revocations.set(id, { revoked_at: at });
  }
  return state;
}

function encodeState(state: TokenState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    version: FORMAT_VERSION,
    tokens: Object.fromEntries(state.tokens),
    revocations: Object.fromEntries(state.revocations),
  }));
}

function openSealed(dek: Uint8Array, bytes: Uint8Array, path: string): TokenState {
  let plain: Uint8Array;
  try {
    plain = open(dek, bytes, AAD);
  } catch (err) {
    if (err instanceof DbxError && err.code === "wrong_key") {
      throw new DbxError(
        "wrong_key",
        `cannot decrypt ${path}: the data encryption key (DEK) is wrong or the file was altered`,
      );
    }
    throw malformed(path);
  }
  return decodeState(plain, path);
}

/** The sealed token file of one data directory. */
export class TokenFile {
  readonly path: string;
  readonly #lockPath: string;
  readonly #dek: Uint8Array;

  constructor(dataDir: string, dek: Uint8Array) {
    this.path = join(dataDir, TOKENS_FILE);
    this.#lockPath = join(dataDir, LOCK_FILE);
    this.#dek = dek;
  }

  /** Read the file; a missing file is an empty state, a bad one a DbxError. */
  async read(): Promise<{ state: TokenState; stamp: FileStamp | null }> {
    let bytes: Uint8Array;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.path);
      bytes = await Deno.readFile(this.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { state: emptyState(), stamp: null };
      throw err;
    }
    return { state: openSealed(this.#dek, bytes, this.path), stamp: stampOf(info) };
  }

  /** Synchronous `read`, for the rare reload inside a synchronous authorize. */
  readSync(): { state: TokenState; stamp: FileStamp | null } {
    let bytes: Uint8Array;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(this.path);
      bytes = Deno.readFileSync(this.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { state: emptyState(), stamp: null };
      throw err;
    }
    return { state: openSealed(this.#dek, bytes, this.path), stamp: stampOf(info) };
  }

  /** The current stamp of the file (null when missing), without reading it. */
  stampSync(): FileStamp | null {
    try {
      return stampOf(Deno.statSync(this.path));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  }

  /**
   * Read-modify-write under the cross-process lock. `change` gets the state as
   * it is on disk now; the result is sealed and written atomically.
   */
  async update<T>(
    change: (state: TokenState) => T,
  ): Promise<{ state: TokenState; stamp: FileStamp; result: T }> {
    const lock = await Deno.open(this.#lockPath, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    try {
      await lock.lock(true);
      const { state } = await this.read();
      const result = change(state);
      await writeFileAtomic(this.path, seal(this.#dek, encodeState(state), AAD), 0o600);
      return { state, stamp: stampOf(await Deno.stat(this.path)), result };
    } finally {
      lock.close(); // closing releases the lock
    }
  }
}
