import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

/** SHA-256 of the given byte strings, concatenated. node:crypto is the fastest here. */
export function sha256(...parts: (Uint8Array | string)[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  const digest = h.digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

export function fromHex(hex: string): Uint8Array {
  if (!HEX_RE.test(hex)) throw new TypeError("not a hex string");
  const buf = Buffer.from(hex, "hex");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

const HASH_BYTES = 32;

/**
 * Decode a SHA-256 hash given as 64 lowercase hex characters into
 * `out[at..at+32]`, without allocating; false if it is not exactly that (only
 * lowercase hex is what `toHex` produces, so only it can equal a stored hash).
 *
 * @example
 * ```ts
 * const leaf = new Uint8Array(32);
 * hashHexInto(toHex(sha256("event")), leaf, 0); // true
 * hashHexInto("not a hash", leaf, 0); // false
 * ```
 */
export function hashHexInto(hex: unknown, out: Uint8Array, at: number): boolean {
  if (typeof hex !== "string" || hex.length !== HASH_BYTES * 2) return false;
  for (let i = 0; i < HASH_BYTES; i++) {
    const high = lowerHexDigit(hex.charCodeAt(2 * i));
    const low = lowerHexDigit(hex.charCodeAt(2 * i + 1));
    if (high < 0 || low < 0) return false;
    out[at + i] = (high << 4) | low;
  }
  return true;
}

/**
 * The bytes of a hash just produced as lowercase hex, without the regular
 * expression of `fromHex`: for the write path. Throws if it is not one.
 *
 * @example
 * ```ts
 * import { createHash } from "node:crypto";
 * hashBytes(createHash("sha256").update("text").digest("hex")); // 32 bytes
 * ```
 */
export function hashBytes(hex: string): Uint8Array {
  const out = new Uint8Array(HASH_BYTES);
  if (!hashHexInto(hex, out, 0)) throw new TypeError("not a SHA-256 hash in lowercase hex");
  return out;
}

function lowerHexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}
