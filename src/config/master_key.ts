/**
 * The Admin API master key is kept only as a salted, memory-hard hash.
 *
 * Deno 2.9.3's `node:crypto` has no Argon2, so this uses scrypt from `node:crypto` with the
 * OWASP parameters (N = 2^17, r = 8, p = 1). Format, self-describing so parameters can
 * change later: `scrypt$ln=17,r=8,p=1$<salt base64>$<hash base64>`.
 */
import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { DbxError } from "../errors.ts";

/** Prefix naming the hash scheme. */
export const MASTER_KEY_HASH_PREFIX = "scrypt$";

const DEFAULT_LOG_N = 17;
const DEFAULT_R = 8;
const DEFAULT_P = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** The parts of a stored master-key hash. */
export interface MasterKeyHash {
  logN: number;
  r: number;
  p: number;
  salt: Uint8Array;
  hash: Uint8Array;
}

const HASH_PATTERN =
  /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/**
 * Parse a stored hash; bounds keep a hostile config file from demanding huge memory.
 * Returns undefined when it is not a valid hash (the caller names the file and key).
 *
 * @example
 * ```ts
 * parseMasterKeyHash("scrypt$ln=17,r=8,p=1$...$..."); // { logN: 17, r: 8, p: 1, ... }
 * ```
 */
export function parseMasterKeyHash(stored: string): MasterKeyHash | undefined {
  const match = HASH_PATTERN.exec(stored);
  if (!match) return undefined;
  const [logN, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (logN < 10 || logN > 20 || r < 1 || r > 16 || p < 1 || p > 4) return undefined;
  const salt = new Uint8Array(Buffer.from(match[4], "base64"));
  const hash = new Uint8Array(Buffer.from(match[5], "base64"));
  if (salt.length < SALT_BYTES || salt.length > 64) return undefined;
  if (hash.length < HASH_BYTES || hash.length > 64) return undefined;
  return { logN, r, p, salt, hash };
}

function derive(
  secret: string,
  salt: Uint8Array,
  length: number,
  logN: number,
  r: number,
  p: number,
): Promise<Uint8Array> {
  const N = 2 ** logN;
  // scrypt needs 128 * N * r bytes; allow that plus headroom.
  const maxmem = 128 * N * r * 2 + 1024 * 1024;
  return new Promise((resolveHash, reject) => {
    scrypt(secret, salt, length, { N, r, p, maxmem }, (err, key) => {
      if (err) reject(err);
      else resolveHash(new Uint8Array(key));
    });
  });
}

/**
 * Hash a master key for storage. The secret must be non-empty.
 *
 * @example
 * ```ts
 * const stored = await hashMasterKey("correct horse battery staple");
 * stored.startsWith("scrypt$"); // true
 * ```
 */
export async function hashMasterKey(secret: string): Promise<string> {
  if (secret.length === 0) {
    throw new DbxError("invalid_input", "the admin master key must not be empty");
  }
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const hash = await derive(secret, salt, HASH_BYTES, DEFAULT_LOG_N, DEFAULT_R, DEFAULT_P);
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
  return `${MASTER_KEY_HASH_PREFIX}ln=${DEFAULT_LOG_N},r=${DEFAULT_R},p=${DEFAULT_P}$${b64(salt)}$${
    b64(hash)
  }`;
}

/**
 * True when `secret` matches the stored hash (constant-time comparison).
 * A malformed stored hash is a configuration error, not a mismatch.
 *
 * @example
 * ```ts
 * const stored = await hashMasterKey("correct horse battery staple");
 * await verifyMasterKey("guess", stored); // false
 * await verifyMasterKey("correct horse battery staple", stored); // true
 * ```
 */
export async function verifyMasterKey(secret: string, stored: string): Promise<boolean> {
  const parsed = parseMasterKeyHash(stored);
  if (!parsed) throw new DbxError("corrupt", "the stored admin master key hash is malformed");
  const candidate = await derive(
    secret,
    parsed.salt,
    parsed.hash.length,
    parsed.logN,
    parsed.r,
    parsed.p,
  );
  return timingSafeEqual(candidate, parsed.hash);
}
