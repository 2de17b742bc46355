/**
 * The native ChaCha20-Poly1305 seals exactly as an independent implementation (@noble/ciphers)
 * does, with and without associated data, and refuses anything altered.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { chachaOpen, chachaSeal } from "../../src/crypto/chacha20_poly1305.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

Deno.test("chacha20-poly1305: native seal equals @noble's; open returns the plaintext", () => {
  for (const size of [0, 1, 63, 64, 65, 400, 65_536]) {
    for (const ad of [undefined, random(32)]) {
      const key = random(32), nonce = random(12), plaintext = random(size);
      const sealed = chachaSeal(key, nonce, plaintext, ad);
      assertEquals(sealed, chacha20poly1305(key, nonce, ad).encrypt(plaintext));
      assertEquals(chachaOpen(key, nonce, sealed, ad), plaintext);
    }
  }
});

Deno.test("chacha20-poly1305: a flipped bit, another nonce, key or AD, or a short input is refused", () => {
  const key = random(32), nonce = random(12), ad = random(16), plaintext = random(100);
  const sealed = chachaSeal(key, nonce, plaintext, ad);
  for (const at of [0, 50, sealed.length - 1]) {
    const bad = sealed.slice();
    bad[at] ^= 1;
    assertEquals(chachaOpen(key, nonce, bad, ad), undefined, `bit flipped at ${at}`);
  }
  assertEquals(chachaOpen(key, random(12), sealed, ad), undefined);
  assertEquals(chachaOpen(random(32), nonce, sealed, ad), undefined);
  assertEquals(chachaOpen(key, nonce, sealed, random(16)), undefined);
  assertEquals(chachaOpen(key, nonce, sealed), undefined, "AD left out");
  assertEquals(chachaOpen(key, nonce, sealed.subarray(0, 15), ad), undefined);
  assert(chachaOpen(key, nonce, sealed, ad) !== undefined);
});
