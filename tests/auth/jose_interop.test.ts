/**
 * Interop with the npm `jose` package, both ways: a token the node issues verifies with jose
 * (the node's public key imported as a JWK and as SPKI), and tokens jose signs with the node's
 * key (alg "EdDSA" or "Ed25519", typ "JWT" or "jwt", with EventDBX claims) verify with our
 * verifier and authorise; tokens jose signs with other algorithms or keys are refused.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import * as jose from "jose";
import { aggregateResource, type TokenAuthority } from "../../src/auth/authority.ts";
import { base64UrlDecode, base64UrlEncode, JwtError, verifyJwt } from "../../src/auth/jwt.ts";
import { NODE_KEY_FILE } from "../../src/auth/node_key.ts";
import { DbxError } from "../../src/errors.ts";
import { withAuthority } from "./helpers.ts";

const p001 = aggregateResource("patient", "p-001");
const enc = new TextEncoder();

/** The node's Ed25519 seed, read from `<data-dir>/node.key` (base64, as node_key.ts stores it). */
async function nodeSeed(dir: string): Promise<Uint8Array> {
  const text = await Deno.readTextFile(join(dir, NODE_KEY_FILE));
  return new Uint8Array(Buffer.from(text.trim(), "base64"));
}

/** The node's key as an OKP JWK (RFC 8037), public only or with the secret `d`. */
function nodeJwk(publicKey: Uint8Array, seed?: Uint8Array): jose.JWK {
  return {
    kty: "OKP",
    crv: "Ed25519",
    x: base64UrlEncode(publicKey),
    ...(seed ? { d: base64UrlEncode(seed) } : {}),
  };
}

/** The node's public key as an SPKI PEM (RFC 8410: the 12-byte Ed25519 prefix, then the key). */
function nodeSpki(publicKey: Uint8Array): string {
  const der = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), publicKey]);
  return `-----BEGIN PUBLIC KEY-----\n${der.toString("base64")}\n-----END PUBLIC KEY-----`;
}

/** The claims of a token (not verified). */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64UrlDecode(token.split(".")[1])));
}

/** A token the node issues, its claims, and the node's key as jose keys. */
async function setup(auth: TokenAuthority, dir: string) {
  const { token, info } = await auth.generate({
    group: "ops",
    user: "alice",
    expiration: 3600,
    actions: ["aggregate.read"],
    resources: [p001],
  });
  const seed = await nodeSeed(dir);
  const publicKey = auth.publicKey;
  return { token, id: info.id, claims: claimsOf(token), seed, publicKey };
}

function refusedBy(token: string, publicKey: Uint8Array, message: RegExp): void {
  assert.throws(() => verifyJwt(token, publicKey), (err: unknown) => {
    assert(err instanceof JwtError, `expected JwtError, got ${err}`);
    assert.match(err.message, message);
    return true;
  });
}

function unauthorized(auth: TokenAuthority, token: string): void {
  assert.throws(() => auth.authorize(token, "aggregate.read", p001), (err: unknown) => {
    assert(err instanceof DbxError, `expected DbxError, got ${err}`);
    assert.equal(err.code, "unauthorized", err.message);
    return true;
  });
}

Deno.test("jose: a token the node issues verifies with jose (JWK and SPKI public key)", async () => {
  await withAuthority(async (auth, { dir, clock }) => {
    const { token, claims, publicKey } = await setup(auth, dir);
    const currentDate = new Date(clock.now());
    const options = { algorithms: ["EdDSA"], issuer: auth.keyId, typ: "JWT", currentDate };
    const keys = [
      await jose.importJWK(nodeJwk(publicKey), "EdDSA"),
      await jose.importSPKI(nodeSpki(publicKey), "EdDSA"),
    ];
    for (const key of keys) {
      const { payload, protectedHeader } = await jose.jwtVerify(token, key, options);
      assert.deepEqual(protectedHeader, { alg: "EdDSA", typ: "JWT" });
      assert.deepEqual(payload, claims);
      assert.equal(payload.group, "ops");
      assert.equal(payload.user, "alice");
    }
    // jose refuses it under another key, as we do.
    const { publicKey: other } = await jose.generateKeyPair("EdDSA", { crv: "Ed25519" });
    await assert.rejects(
      jose.jwtVerify(token, other, options),
      jose.errors.JWSSignatureVerificationFailed,
    );
  });
});

Deno.test("jose: tokens jose signs with the node's key verify and authorise (EdDSA and Ed25519, typ JWT and jwt)", async () => {
  await withAuthority(async (auth, { dir }) => {
    const { id, claims, seed, publicKey } = await setup(auth, dir);
    for (const alg of ["EdDSA", "Ed25519"]) {
      const secret = await jose.importJWK(nodeJwk(publicKey, seed), alg);
      for (const typ of ["JWT", "jwt", undefined]) {
        const token = await new jose.SignJWT(claims)
          .setProtectedHeader(typ === undefined ? { alg } : { alg, typ })
          .sign(secret);
        const what = `alg ${alg}, typ ${typ}`;
        assert.deepEqual(verifyJwt(token, publicKey, { issuer: auth.keyId }), claims, what);
        const who = auth.authorize(token, "aggregate.read", p001);
        assert.equal(who.token_id, id, what);
        assert.deepEqual(who.issued_by, { group: "ops", user: "alice" }, what);
        // The token's scope holds whoever signed it.
        assert.throws(() => auth.authorize(token, "aggregate.append", p001), DbxError, what);
      }
    }
    // Revoking the token (by id) revokes every spelling of it.
    await auth.revoke(id);
    const secret = await jose.importJWK(nodeJwk(publicKey, seed), "Ed25519");
    const token = await new jose.SignJWT(claims).setProtectedHeader({ alg: "Ed25519" }).sign(
      secret,
    );
    unauthorized(auth, token);
  });
});

Deno.test("jose: tokens jose signs with other algorithms or keys are refused", async () => {
  await withAuthority(async (auth, { dir }) => {
    const { claims, publicKey } = await setup(auth, dir);
    const sign = (alg: string, key: CryptoKey | Uint8Array, typ = "JWT") =>
      new jose.SignJWT(claims).setProtectedHeader({ alg, typ }).sign(key);
    const notEd = /not signed with EdDSA/;
    const tokens: [string, string, RegExp][] = [
      ["HS256", await sign("HS256", crypto.getRandomValues(new Uint8Array(32))), notEd],
      // HMAC keyed with the node's public key: the classic algorithm-confusion attack.
      ["HS256 keyed with our public key", await sign("HS256", publicKey), notEd],
      ["HS512", await sign("HS512", crypto.getRandomValues(new Uint8Array(64))), notEd],
      ["RS256", await sign("RS256", (await jose.generateKeyPair("RS256")).privateKey), notEd],
      ["PS256", await sign("PS256", (await jose.generateKeyPair("PS256")).privateKey), notEd],
      ["ES256", await sign("ES256", (await jose.generateKeyPair("ES256")).privateKey), notEd],
      ["ES384", await sign("ES384", (await jose.generateKeyPair("ES384")).privateKey), notEd],
      [
        "EdDSA, another key",
        await sign("EdDSA", (await jose.generateKeyPair("EdDSA", { crv: "Ed25519" })).privateKey),
        /signature is invalid/,
      ],
      [
        "Ed25519, another key",
        await sign("Ed25519", (await jose.generateKeyPair("Ed25519")).privateKey),
        /signature is invalid/,
      ],
      ["none", new jose.UnsecuredJWT(claims).encode(), /malformed/],
    ];
    for (const [what, token, message] of tokens) {
      assert.throws(() => verifyJwt(token, publicKey), (err: unknown) => {
        assert(err instanceof JwtError, `${what}: expected JwtError, got ${err}`);
        assert.match(err.message, message, what);
        return true;
      });
      unauthorized(auth, token);
    }
  });
});

Deno.test("jose: the header decides before the signature: only Ed25519 algs and JWT types pass", async () => {
  await withAuthority(async (auth, { dir }) => {
    const { claims, seed, publicKey } = await setup(auth, dir);
    // Sign any header with the node's real key, so only the header can be why a token is refused.
    const secret = await jose.importJWK(
      nodeJwk(publicKey, seed),
      "Ed25519",
    ) as unknown as CryptoKey;
    const signed = async (header: unknown) => {
      const input = `${base64UrlEncode(enc.encode(JSON.stringify(header)))}.${
        base64UrlEncode(enc.encode(JSON.stringify(claims)))
      }`;
      const signature = await crypto.subtle.sign("Ed25519", secret, enc.encode(input));
      return `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
    };
    for (
      const header of [
        { alg: "EdDSA", typ: "JWT" },
        { alg: "Ed25519", typ: "JWT" },
        { alg: "EdDSA", typ: "jwt" },
        { alg: "Ed25519", typ: "Jwt" },
        { alg: "EdDSA", typ: "application/jwt" },
        { alg: "Ed25519", typ: "application/JWT" },
        { alg: "EdDSA" },
        { typ: "JWT", alg: "Ed25519", kid: auth.keyId },
      ]
    ) {
      const token = await signed(header);
      assert.deepEqual(verifyJwt(token, publicKey), claims, JSON.stringify(header));
      auth.authorize(token, "aggregate.read", p001);
    }
    const refusals: [unknown, RegExp][] = [
      [{ alg: "none", typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: "eddsa", typ: "JWT" }, /not signed with EdDSA/], // alg is case-sensitive
      [{ alg: "ED25519", typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: "Ed448", typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: "ES256", typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: ["EdDSA"], typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: { name: "EdDSA" }, typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: 1, typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: null, typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: true, typ: "JWT" }, /not signed with EdDSA/],
      [{ typ: "JWT" }, /not signed with EdDSA/],
      [{ alg: "EdDSA", typ: "JOSE" }, /not a JWT/],
      [{ alg: "EdDSA", typ: "JWT " }, /not a JWT/],
      [{ alg: "EdDSA", typ: "text/jwt" }, /not a JWT/],
      [{ alg: "EdDSA", typ: "at+jwt" }, /not a JWT/],
      [{ alg: "EdDSA", typ: 1 }, /not a JWT/],
      [{ alg: "EdDSA", typ: null }, /not a JWT/],
      [{ alg: "Ed25519", typ: "JWT", crit: ["exp"] }, /critical/],
    ];
    for (const [header, message] of refusals) {
      const token = await signed(header);
      refusedBy(token, publicKey, message);
      unauthorized(auth, token);
    }
  });
});
