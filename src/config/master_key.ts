/**
 * The Admin API master key is kept only as a salted, memory-hard hash: Argon2id (RFC 9106)
 * with OWASP's parameters (19 MiB, 2 passes, 1 lane), in the PHC string format
 * `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (base64 without padding), computed by
 * `hash-wasm` in a worker isolate (`argon2.ts`).
 *
 * Hashes written by earlier versions, `scrypt$ln=17,r=8,p=1$<salt>$<hash>` (node:crypto
 * scrypt), still verify; the server replaces one with an Argon2id hash of the same key the
 * first time that key is used successfully (it is the only moment the plaintext is known).
 */
import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { DbxError } from "../errors.ts";
import { argon2idHash, type Argon2Params } from "./argon2.ts";

/** Prefix naming the hash scheme written now. */
export const MASTER_KEY_HASH_PREFIX = "$argon2id$";
/** Prefix of the scrypt hashes written by earlier versions (still verified, then replaced). */
export const LEGACY_MASTER_KEY_HASH_PREFIX = "scrypt$";

/** OWASP's first Argon2id configuration. */
const ARGON2_DEFAULTS: Argon2Params = { m: 19_456, t: 2, p: 1, length: 32 };
const SALT_BYTES = 16;
/** Longest accepted master key: it travels in an HTTP header. */
const MAX_KEY_BYTES = 1024;

/** The parts of a stored master-key hash. */
export type MasterKeyHash =
  | { scheme: "argon2id"; params: Argon2Params; salt: Uint8Array; hash: Uint8Array }
  | { scheme: "scrypt"; logN: number; r: number; p: number; salt: Uint8Array; hash: Uint8Array };

const B64 = "[A-Za-z0-9+/]+={0,2}";
const ARGON2_PATTERN = new RegExp(
  `^\\$argon2id\\$v=19\\$m=(\\d{1,7}),t=(\\d{1,2}),p=(\\d{1,2})\\$(${B64})\\$(${B64})$`,
);
const SCRYPT_PATTERN = new RegExp(
  `^scrypt\\$ln=(\\d{1,2}),r=(\\d{1,2}),p=(\\d{1,2})\\$(${B64})\\$(${B64})$`,
);

const fromB64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));
const toB64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");
const sized = (bytes: Uint8Array, min: number) => bytes.length >= min && bytes.length <= 64;

/**
 * Parse a stored hash; bounds keep a hostile config file from demanding huge memory or
 * time. Returns undefined when it is not a valid hash (the caller names the file and key).
 *
 * @example
 * ```ts
 * parseMasterKeyHash("$argon2id$v=19$m=19456,t=2,p=1$...$..."); // { scheme: "argon2id", ... }
 * parseMasterKeyHash("plaintext"); // undefined
 * ```
 */
export function parseMasterKeyHash(stored: string): MasterKeyHash | undefined {
  const argon = ARGON2_PATTERN.exec(stored);
  if (argon) {
    const [m, t, p] = [Number(argon[1]), Number(argon[2]), Number(argon[3])];
    if (m < 8_192 || m > 262_144 || t < 1 || t > 16 || p < 1 || p > 8) return undefined;
    const salt = fromB64(argon[4]);
    const hash = fromB64(argon[5]);
    if (!sized(salt, SALT_BYTES) || !sized(hash, 16)) return undefined;
    return { scheme: "argon2id", params: { m, t, p, length: hash.length }, salt, hash };
  }
  const legacy = SCRYPT_PATTERN.exec(stored);
  if (!legacy) return undefined;
  const [logN, r, p] = [Number(legacy[1]), Number(legacy[2]), Number(legacy[3])];
  if (logN < 10 || logN > 20 || r < 1 || r > 16 || p < 1 || p > 4) return undefined;
  const salt = fromB64(legacy[4]);
  const hash = fromB64(legacy[5]);
  if (!sized(salt, SALT_BYTES) || !sized(hash, 32)) return undefined;
  return { scheme: "scrypt", logN, r, p, salt, hash };
}

/**
 * True for a stored value that is a master-key hash this version verifies.
 *
 * @example
 * ```ts
 * isMasterKeyHash("plaintext-master-key"); // false
 * ```
 */
export function isMasterKeyHash(stored: unknown): stored is string {
  return typeof stored === "string" && parseMasterKeyHash(stored) !== undefined;
}

/**
 * True for a hash of an earlier version (scrypt): it is replaced on the key's next use.
 *
 * @example
 * ```ts
 * isLegacyMasterKeyHash("scrypt$ln=17,r=8,p=1$...$..."); // true
 * ```
 */
export function isLegacyMasterKeyHash(stored: string | undefined): boolean {
  return stored !== undefined && stored.startsWith(LEGACY_MASTER_KEY_HASH_PREFIX);
}

/**
 * Check a master key given by a user. It travels in an HTTP header, so it must be printable
 * ASCII without surrounding spaces (a header's value is trimmed) and at most 1 KiB. The
 * message never contains the key.
 *
 * @example
 * ```ts
 * checkMasterKeyText("correct horse battery staple"); // ok
 * checkMasterKeyText(""); // throws invalid_input
 * ```
 */
export function checkMasterKeyText(secret: unknown, what = "the admin master key"): string {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new DbxError("invalid_input", `${what} must not be empty`);
  }
  if (secret.length > MAX_KEY_BYTES) {
    throw new DbxError("invalid_input", `${what} is longer than ${MAX_KEY_BYTES} characters`);
  }
  if (!/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(secret)) {
    throw new DbxError(
      "invalid_input",
      `${what} must be printable ASCII without leading or trailing spaces (it is sent in an ` +
        "HTTP header)",
    );
  }
  return secret;
}

/**
 * Hash a master key for storage (Argon2id, fresh salt).
 *
 * @example
 * ```ts
 * const stored = await hashMasterKey("correct horse battery staple");
 * stored.startsWith("$argon2id$v=19$"); // true
 * ```
 */
export async function hashMasterKey(secret: string): Promise<string> {
  checkMasterKeyText(secret);
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const { m, t, p } = ARGON2_DEFAULTS;
  const hash = await argon2idHash(secret, salt, ARGON2_DEFAULTS);
  return `${MASTER_KEY_HASH_PREFIX}v=19$m=${m},t=${t},p=${p}$${toB64(salt)}$${toB64(hash)}`;
}

function scryptHash(secret: string, parsed: MasterKeyHash & { scheme: "scrypt" }) {
  const N = 2 ** parsed.logN;
  // scrypt needs 128 * N * r bytes; allow that plus headroom.
  const maxmem = 128 * N * parsed.r * 2 + 1024 * 1024;
  return new Promise<Uint8Array>((resolveHash, reject) => {
    scrypt(
      secret,
      parsed.salt,
      parsed.hash.length,
      { N, r: parsed.r, p: parsed.p, maxmem },
      (err, key) => err ? reject(err) : resolveHash(new Uint8Array(key)),
    );
  });
}

/**
 * True when `secret` matches the stored hash (Argon2id, or an earlier scrypt hash): the
 * hash is recomputed and compared in constant time. A malformed stored hash is a
 * configuration error, not a mismatch.
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
  // A key that could never have been stored is not worth the hash (and bounds its cost).
  if (typeof secret !== "string" || secret.length === 0 || secret.length > MAX_KEY_BYTES) {
    return false;
  }
  const candidate = parsed.scheme === "argon2id"
    ? await argon2idHash(secret, parsed.salt, parsed.params)
    : await scryptHash(secret, parsed);
  return candidate.length === parsed.hash.length && timingSafeEqual(candidate, parsed.hash);
}
