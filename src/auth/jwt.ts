/**
 * Compact JWTs signed with Ed25519 (JWS alg "EdDSA", RFC 8037).
 *
 * Only what EventDBX needs: one fixed header, sign, and a strict verify that
 * refuses any other algorithm (including "none") before touching the signature.
 * Verification accepts both names of Ed25519 signatures: "EdDSA" (RFC 8037) and
 * the fully-specified "Ed25519" (RFC 9864), so tokens signed by other JOSE
 * libraries with the node's key verify too; `typ`, when present, is "JWT" in any
 * case (RFC 7515 §4.1.9: media types are case-insensitive, "application/" implied).
 */
import * as ed from "@noble/ed25519";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

// @noble/ed25519 v3 needs SHA-512 wired in for its synchronous API; node:crypto is fastest.
ed.hashes.sha512 = (message: Uint8Array) =>
  new Uint8Array(createHash("sha512").update(message).digest());

const HEADER = { alg: "EdDSA", typ: "JWT" };
/** JWS "alg" values meaning an Ed25519 signature (compared exactly: alg is case-sensitive). */
const ED25519_ALGS: ReadonlySet<unknown> = new Set(["EdDSA", "Ed25519"]);
/** "JWT" as a JWS "typ": any case (ASCII only), with or without "application/". */
const JWT_TYPE = /^(?:application\/)?jwt$/i;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Longest token accepted; real tokens are a few hundred bytes. */
export const MAX_TOKEN_LENGTH = 8192;

/** Why a token was refused before its claims were looked at. */
export class JwtError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JwtError";
  }
}

/**
 * Base64url without padding (RFC 7515 §2).
 *
 * @example
 * ```ts
 * base64UrlEncode(new Uint8Array([251, 255])); // "-_8"
 * ```
 */
export function base64UrlEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/**
 * Strict base64url decoding: rejects padding and foreign characters instead of
 * skipping them, so one token has exactly one spelling.
 *
 * @example
 * ```ts
 * base64UrlDecode("-_8"); // Uint8Array [251, 255]
 * ```
 */
export function base64UrlDecode(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new JwtError("token is malformed");
  }
  const bytes = new Uint8Array(Buffer.from(text, "base64url"));
  // Non-canonical trailing bits would give two spellings of the same bytes.
  if (base64UrlEncode(bytes) !== text) throw new JwtError("token is malformed");
  return bytes;
}

/**
 * Sign `claims` into a compact JWT with an Ed25519 secret key (32-byte seed).
 *
 * @example
 * ```ts
 * const secretKey = randomSecretKey();
 * const token = signJwt({ sub: "alice" }, secretKey);
 * ```
 */
export function signJwt(claims: Record<string, unknown>, secretKey: Uint8Array): string {
  const signingInput = `${base64UrlEncode(encoder.encode(JSON.stringify(HEADER)))}.${
    base64UrlEncode(encoder.encode(JSON.stringify(claims)))
  }`;
  const signature = ed.sign(encoder.encode(signingInput), secretKey);
  return `${signingInput}.${base64UrlEncode(signature)}`;
}

/** A token split into its parts, not yet verified. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: Uint8Array;
  signature: Uint8Array;
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new JwtError("token is malformed");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new JwtError("token is malformed");
  }
  return value as Record<string, unknown>;
}

/**
 * Split and parse a compact JWT without verifying it. Refuses anything whose
 * header is not an Ed25519 signature ("EdDSA" or "Ed25519"), so "alg: none"
 * never gets further, and any `typ` other than JWT.
 *
 * @example
 * ```ts
 * const token = signJwt({ sub: "alice" }, randomSecretKey());
 * const { claims } = decodeJwt(token); // claims.sub === "alice"
 * ```
 */
export function decodeJwt(token: string): DecodedJwt {
  if (token.length > MAX_TOKEN_LENGTH) throw new JwtError("token is too long");
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
    throw new JwtError("token is malformed");
  }
  const header = parseJsonObject(base64UrlDecode(parts[0]));
  if (!ED25519_ALGS.has(header.alg)) {
    throw new JwtError('token is not signed with EdDSA (alg must be "EdDSA" or "Ed25519")');
  }
  if (header.typ !== undefined && (typeof header.typ !== "string" || !JWT_TYPE.test(header.typ))) {
    throw new JwtError("token is not a JWT");
  }
  if (header.crit !== undefined) throw new JwtError("token has unsupported critical headers");
  const claims = parseJsonObject(base64UrlDecode(parts[1]));
  const signature = base64UrlDecode(parts[2]);
  if (signature.length !== 64) throw new JwtError("token signature is malformed");
  return { header, claims, signingInput: encoder.encode(`${parts[0]}.${parts[1]}`), signature };
}

/**
 * Verify a compact JWT against an Ed25519 public key and return its claims.
 * Uses strict RFC 8032 verification (no ZIP-215 leniency) so a signature has
 * one valid encoding. With `issuer`, a token naming another issuer is refused
 * first, with a message saying so.
 *
 * @example
 * ```ts
 * const secretKey = randomSecretKey();
 * const token = signJwt({ iss: "node-1", sub: "alice" }, secretKey);
 * // throws JwtError when the token is invalid
 * const claims = verifyJwt(token, publicKeyOf(secretKey), { issuer: "node-1" });
 * ```
 */
export function verifyJwt(
  token: string,
  publicKey: Uint8Array,
  options: { issuer?: string } = {},
): Record<string, unknown> {
  const decoded = decodeJwt(token);
  if (options.issuer !== undefined && decoded.claims.iss !== options.issuer) {
    throw new JwtError("token was not issued by this node");
  }
  let valid = false;
  try {
    valid = ed.verify(decoded.signature, decoded.signingInput, publicKey, { zip215: false });
  } catch {
    valid = false;
  }
  if (!valid) throw new JwtError("token signature is invalid");
  return decoded.claims;
}

/**
 * Public key of an Ed25519 secret key (32-byte seed).
 *
 * @example
 * ```ts
 * const secretKey = randomSecretKey();
 * const publicKey = publicKeyOf(secretKey); // 32 bytes
 * ```
 */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return ed.getPublicKey(secretKey);
}

/**
 * A fresh random Ed25519 secret key (32-byte seed).
 *
 * @example
 * ```ts
 * const secretKey = randomSecretKey();
 * ```
 */
export function randomSecretKey(): Uint8Array {
  return ed.utils.randomSecretKey();
}
