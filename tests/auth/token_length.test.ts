/**
 * The token length cap, tested with tokens that are well formed in every other way: valid
 * JWT structure, canonical base64url, signed by the right key with valid claims. The
 * longest such token within MAX_TOKEN_LENGTH is accepted, so the one just over it is
 * refused for its length alone (a malformed over-long string would be refused anyway).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { aggregateResource } from "../../src/auth/authority.ts";
import {
  decodeJwt,
  JwtError,
  MAX_TOKEN_LENGTH,
  publicKeyOf,
  randomSecretKey,
  signJwt,
  verifyJwt,
} from "../../src/auth/jwt.ts";
import { loadOrCreateNodeKey } from "../../src/auth/node_key.ts";
import { paddedTokens } from "../_helpers/tokens.ts";
import { assertRefused, withAuthority } from "./helpers.ts";

Deno.test("jwt: a well-formed, validly signed token one step over the cap is refused as too long", () => {
  const key = randomSecretKey();
  const { fits, over } = paddedTokens(signJwt({ sub: "alice", n: 1 }, key), key);
  assert.ok(fits.length <= MAX_TOKEN_LENGTH && fits.length > MAX_TOKEN_LENGTH - 4, "at the cap");
  assert.ok(over.length > MAX_TOKEN_LENGTH && over.length <= MAX_TOKEN_LENGTH + 4, "just over");
  assert.match(over, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/, "well formed");
  // Everything but the length is fine: the token at the cap verifies.
  assert.equal(verifyJwt(fits, publicKeyOf(key)).sub, "alice");
  for (const check of [() => decodeJwt(over), () => verifyJwt(over, publicKeyOf(key))]) {
    assert.throws(check, (err: unknown) => {
      assert.ok(err instanceof JwtError, `expected JwtError, got ${err}`);
      assert.match(err.message, /too long/);
      return true;
    });
  }
});

Deno.test("authority: a node-signed token over the length cap is unauthorized, at the cap it works", async () => {
  await withAuthority(async (auth, { dir }) => {
    const { token } = await auth.generate({ group: "ops", user: "alice" });
    const { secretKey } = await loadOrCreateNodeKey(dir);
    assert.ok(await Deno.stat(join(dir, "node.key")), "the node's own key signs the padded tokens");
    const { fits, over } = paddedTokens(token, secretKey);
    const p001 = aggregateResource("patient", "p-001");
    assert.deepEqual(auth.authorize(fits, "aggregate.read", p001).issued_by, {
      group: "ops",
      user: "alice",
    });
    const err = assertRefused(() => auth.authorize(over, "aggregate.read", p001), "unauthorized");
    assert.match(err.message, /too long/);
  });
});
