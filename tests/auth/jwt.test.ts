import assert from "node:assert/strict";
import {
  base64UrlDecode,
  base64UrlEncode,
  decodeJwt,
  JwtError,
  MAX_TOKEN_LENGTH,
  publicKeyOf,
  randomSecretKey,
  signJwt,
  verifyJwt,
} from "../../src/auth/jwt.ts";

const enc = new TextEncoder();
const b64json = (value: unknown) => base64UrlEncode(enc.encode(JSON.stringify(value)));
const secretKey = randomSecretKey();
const publicKey = publicKeyOf(secretKey);

function refused(token: string, message: RegExp, key = publicKey): void {
  assert.throws(() => verifyJwt(token, key), (err: unknown) => {
    assert(err instanceof JwtError, `expected JwtError, got ${err}`);
    assert.match(err.message, message);
    return true;
  });
}

Deno.test("jwt: sign then verify returns the claims; header is EdDSA/JWT", () => {
  const token = signJwt({ sub: "alice", n: 1 }, secretKey);
  assert.deepEqual(verifyJwt(token, publicKey), { sub: "alice", n: 1 });
  const [header] = token.split(".");
  assert.deepEqual(JSON.parse(new TextDecoder().decode(base64UrlDecode(header))), {
    alg: "EdDSA",
    typ: "JWT",
  });
  assert.doesNotMatch(token, /[=+/]/, "base64url without padding");
});

Deno.test("jwt: a tampered payload is refused", () => {
  const [h, , s] = signJwt({ user: "alice" }, secretKey).split(".");
  refused(`${h}.${b64json({ user: "mallory" })}.${s}`, /signature is invalid/);
});

Deno.test("jwt: a tampered signature is refused", () => {
  const [h, p, s] = signJwt({ user: "alice" }, secretKey).split(".");
  const sig = base64UrlDecode(s);
  sig[10] ^= 0x01;
  refused(`${h}.${p}.${base64UrlEncode(sig)}`, /signature is invalid/);
});

Deno.test("jwt: a tampered header is refused (alg none, HS256, re-encoded EdDSA)", () => {
  const [, p, s] = signJwt({ user: "alice" }, secretKey).split(".");
  refused(`${b64json({ alg: "none", typ: "JWT" })}.${p}.`, /malformed/);
  refused(`${b64json({ alg: "none", typ: "JWT" })}.${p}.${s}`, /not signed with EdDSA/);
  refused(`${b64json({ alg: "HS256", typ: "JWT" })}.${p}.${s}`, /not signed with EdDSA/);
  // Same algorithm, different header bytes: the signature covers the header.
  refused(`${b64json({ typ: "JWT", alg: "EdDSA" })}.${p}.${s}`, /signature is invalid/);
  refused(`${b64json({ alg: "EdDSA", typ: "JWT", crit: ["x"] })}.${p}.${s}`, /critical/);
});

Deno.test("jwt: a token signed by a foreign key is refused", () => {
  const foreign = signJwt({ user: "alice" }, randomSecretKey());
  refused(foreign, /signature is invalid/);
});

Deno.test("jwt: a wrong issuer is named before the signature is checked", () => {
  const token = signJwt({ iss: "other-node" }, secretKey);
  assert.throws(
    () => verifyJwt(token, publicKey, { issuer: "this-node" }),
    /not issued by this node/,
  );
  assert.deepEqual(verifyJwt(token, publicKey, { issuer: "other-node" }), { iss: "other-node" });
});

Deno.test("jwt: malformed inputs are refused with JwtError, never another error", () => {
  const good = signJwt({ a: 1 }, secretKey);
  const [h, p, s] = good.split(".");
  const cases = [
    "",
    "garbage",
    "a.b",
    "a.b.c.d",
    `${h}.${p}`,
    `${h}..${s}`,
    `${h}.${p}.${s}=`, // padding is not base64url
    `${h}.${p}.${s.slice(0, -4)}`, // short signature
    `${h}.${b64json([1, 2])}.${s}`, // claims must be an object
    `${h}.${base64UrlEncode(enc.encode("{not json"))}.${s}`,
    `${base64UrlEncode(new Uint8Array([0xff, 0xfe]))}.${p}.${s}`, // not UTF-8
    `${h}.${p}.${s}`.replace(/^e/, "+"), // foreign character
    "x".repeat(MAX_TOKEN_LENGTH + 1),
  ];
  for (const token of cases) {
    assert.throws(
      () => decodeJwt(token) && verifyJwt(token, publicKey),
      JwtError,
      token.slice(0, 40),
    );
  }
});

Deno.test("jwt: base64url decoding is strict and canonical", () => {
  assert.deepEqual(base64UrlDecode("-_8"), new Uint8Array([251, 255]));
  assert.throws(() => base64UrlDecode("-_9"), JwtError); // non-zero trailing bits
  assert.throws(() => base64UrlDecode("A"), JwtError);
  assert.throws(() => base64UrlDecode("ab=="), JwtError);
});
