import assert from "node:assert/strict";
import { sha256Node, sha256Small, SMALL_MAX } from "../../src/integrity/sha256_small.ts";
import { sha256, toHex } from "../../src/integrity/sha256.ts";

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

Deno.test("sha256Small equals node:crypto for every message length it accepts", () => {
  for (let length = 0; length < SMALL_MAX; length++) {
    for (const prefix of [0, 1, 0xff]) {
      const data = random(length);
      assert.equal(toHex(sha256Small(prefix, data)), toHex(sha256(Uint8Array.of(prefix), data)));
    }
  }
});

Deno.test("sha256Small with two parts equals the hash of their concatenation", () => {
  for (let i = 0; i < 200; i++) {
    const a = random(i % 90);
    const b = random((i * 7) % 90);
    assert.equal(toHex(sha256Small(1, a, b)), toHex(sha256(Uint8Array.of(1), a, b)));
  }
});

Deno.test("sha256Node equals SHA-256(0x01 || left || right), including every last byte value", () => {
  for (let last = 0; last < 256; last++) {
    const left = random(32);
    const right = random(32);
    right[31] = last;
    assert.equal(toHex(sha256Node(left, right)), toHex(sha256(Uint8Array.of(1), left, right)));
  }
});

Deno.test("sha256Small refuses messages too long for it", () => {
  assert.throws(() => sha256Small(0, new Uint8Array(SMALL_MAX)), RangeError);
});
