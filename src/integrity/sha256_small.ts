/**
 * SHA-256 (FIPS 180-4) for short messages, in plain TypeScript.
 *
 * Merkle trees hash tiny inputs (33 and 65 bytes) several times per event; at
 * that size the fixed cost of a `node:crypto` hash object dominates, while this
 * allocation-free version runs entirely in the JIT. Long inputs should keep
 * using `node:crypto` (see sha256.ts).
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

// Scratch space reused by every call (the function is synchronous and not re-entrant).
const W = new Int32Array(64);
const H = new Int32Array(8);
const BLOCK = new Uint8Array(64 * 3);

function compress(block: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    W[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
  }
  expand(W);
  rounds(W);
}

/** Message schedule words 16..63 from words 0..15. */
function expand(w: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const w15 = w[i - 15];
    const w2 = w[i - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
}

/** The 64 compression rounds over a full schedule, folded into H. */
function rounds(w: Int32Array, base = 0): void {
  let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i] + w[base + i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (H[0] + a) | 0;
  H[1] = (H[1] + b) | 0;
  H[2] = (H[2] + c) | 0;
  H[3] = (H[3] + d) | 0;
  H[4] = (H[4] + e) | 0;
  H[5] = (H[5] + f) | 0;
  H[6] = (H[6] + g) | 0;
  H[7] = (H[7] + h) | 0;
}

/**
 * A 65-byte message (an RFC 9162 node: 0x01 || left || right) ends in a second
 * block that is all padding except its first byte, the last byte of `right`.
 * Its schedule takes one of 256 values: computed once, it saves one expansion
 * per node hash.
 */
const NODE_TAIL_SCHEDULES = (() => {
  const table = new Int32Array(256 * 64);
  const w = new Int32Array(64);
  for (let last = 0; last < 256; last++) {
    w.fill(0);
    w[0] = (last << 24) | 0x800000;
    w[15] = 65 * 8;
    expand(w);
    table.set(w, last * 64);
  }
  return table;
})();

function output(out: Uint8Array = new Uint8Array(32)): Uint8Array {
  for (let i = 0; i < 8; i++) {
    const v = H[i];
    out[i * 4] = v >>> 24;
    out[i * 4 + 1] = (v >>> 16) & 0xff;
    out[i * 4 + 2] = (v >>> 8) & 0xff;
    out[i * 4 + 3] = v & 0xff;
  }
  return out;
}

/**
 * SHA-256(0x01 || left || right) for two 32-byte hashes: an RFC 9162 node.
 * `out` may be `left` or `right` (both are read first): folds can reuse one
 * buffer instead of allocating per node.
 *
 * @example
 * ```ts
 * const leftChild = new Uint8Array(32).fill(1);
 * const rightChild = new Uint8Array(32).fill(2);
 * const parent = sha256Node(leftChild, rightChild);
 * ```
 */
export function sha256Node(
  left: Uint8Array,
  right: Uint8Array,
  out: Uint8Array = new Uint8Array(32),
): Uint8Array {
  // First block: 0x01, left[0..31], right[0..30], read as big-endian words.
  W[0] = (1 << 24) | (left[0] << 16) | (left[1] << 8) | left[2];
  for (let i = 1; i < 8; i++) {
    const j = i * 4 - 1;
    W[i] = (left[j] << 24) | (left[j + 1] << 16) | (left[j + 2] << 8) | left[j + 3];
  }
  W[8] = (left[31] << 24) | (right[0] << 16) | (right[1] << 8) | right[2];
  for (let i = 9; i < 16; i++) {
    const j = (i - 8) * 4 - 1;
    W[i] = (right[j] << 24) | (right[j + 1] << 16) | (right[j + 2] << 8) | right[j + 3];
  }
  const last = right[31];
  H.set(IV);
  expand(W);
  rounds(W);
  rounds(NODE_TAIL_SCHEDULES, last * 64);
  return output(out);
}

/** Largest message this module hashes (it must fit three blocks with padding). */
export const SMALL_MAX = 64 * 3 - 9;

/**
 * SHA-256 of `prefix` (one byte) followed by the given parts, each at most a
 * few dozen bytes: exactly the shape of RFC 9162 leaf and node hashes.
 *
 * @example
 * ```ts
 * const left = new Uint8Array(32).fill(1);
 * const right = new Uint8Array(32).fill(2);
 * const node = sha256Small(1, left, right); // SHA-256(0x01 || left || right)
 * ```
 */
export function sha256Small(prefix: number, a: Uint8Array, b?: Uint8Array): Uint8Array {
  const length = 1 + a.length + (b ? b.length : 0);
  if (length > SMALL_MAX) throw new RangeError("sha256Small takes at most 183 bytes");
  const blocks = length + 9 <= 64 ? 1 : length + 9 <= 128 ? 2 : 3;
  const end = blocks * 64;
  BLOCK.fill(0, 0, end);
  BLOCK[0] = prefix;
  BLOCK.set(a, 1);
  if (b) BLOCK.set(b, 1 + a.length);
  BLOCK[length] = 0x80;
  const bits = length * 8;
  BLOCK[end - 2] = (bits >>> 8) & 0xff;
  BLOCK[end - 1] = bits & 0xff;
  H.set(IV);
  for (let i = 0; i < blocks; i++) compress(BLOCK, i * 64);
  return output();
}
