/**
 * AES-256-GCM sealing for data at rest. Layout: version(1) || nonce(12) ||
 * ciphertext || tag(16). The record's storage key is the associated data, so a
 * ciphertext moved to another key fails to open instead of decrypting there.
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from "node:crypto";
import { DbxError } from "../errors.ts";

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

// Random nonces are drawn from a pool refilled in bulk: one CSPRNG call per
// 4096 seals instead of one per seal. Every nonce is still 96 random bits.
const noncePool = new Uint8Array(NONCE_BYTES * 4096);
let noncePoolAt = noncePool.length;

function nextNonce(): Uint8Array {
  if (noncePoolAt + NONCE_BYTES > noncePool.length) {
    randomFillSync(noncePool);
    noncePoolAt = 0;
  }
  const nonce = noncePool.subarray(noncePoolAt, noncePoolAt + NONCE_BYTES);
  noncePoolAt += NONCE_BYTES;
  return nonce;
}

export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(sealedLength(plaintext.length));
  sealInto(key, plaintext, aad, out, 0);
  return out;
}

/** Size of the sealed form of `plaintextLength` bytes. */
export function sealedLength(plaintextLength: number): number {
  return 1 + NONCE_BYTES + plaintextLength + TAG_BYTES;
}

/**
 * Seal into `out[at..at + sealedLength(plaintext.length)]`, for callers that
 * build a larger value around the sealed bytes without another allocation.
 */
export function sealInto(
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  out: Uint8Array,
  at: number,
): void {
  const nonce = nextNonce();
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(aad);
  out[at] = VERSION;
  out.set(nonce, at + 1);
  const body = cipher.update(plaintext);
  out.set(body, at + 1 + NONCE_BYTES);
  const final = cipher.final();
  if (final.length > 0) out.set(final, at + 1 + NONCE_BYTES + body.length);
  out.set(cipher.getAuthTag(), at + 1 + NONCE_BYTES + plaintext.length);
}

/** Decrypt; throws DbxError("wrong_key") if the key, data or associated data differ. */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== VERSION) {
    throw new DbxError("corrupt", "encrypted value is malformed");
  }
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const plain = decipher.update(body);
    const rest = decipher.final();
    return rest.length === 0 ? plain : Buffer.concat([plain, rest]);
  } catch {
    throw new DbxError(
      "wrong_key",
      "cannot decrypt stored data: the data encryption key (DEK) is wrong or the data was altered",
    );
  }
}

/** Parse a DEK given as base64; it must decode to exactly 32 bytes. */
export function parseDek(base64: string): Uint8Array {
  const trimmed = base64.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new DbxError("invalid_input", "the DEK must be base64 (32 bytes)");
  }
  const bytes = Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (bytes.length !== 32) {
    throw new DbxError(
      "invalid_input",
      `the DEK must decode to 32 bytes; it decodes to ${bytes.length}`,
    );
  }
  return new Uint8Array(bytes);
}

export function generateDek(): string {
  return randomBytes(32).toString("base64");
}
