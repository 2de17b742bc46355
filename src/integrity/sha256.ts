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

/**
 * Bytes of a hex digest, without the regular expression of `fromHex`: for the
 * write path, where the hex was just produced. Throws on a non-hex character.
 *
 * @example
 * ```ts
 * hexBytes("00ff"); // Uint8Array [0, 255]
 * ```
 */
export function hexBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new TypeError("not a hex string");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const high = hexValue(hex.charCodeAt(2 * i));
    const low = hexValue(hex.charCodeAt(2 * i + 1));
    if (high < 0 || low < 0) throw new TypeError("not a hex string");
    out[i] = (high << 4) | low;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}
