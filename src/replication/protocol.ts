/**
 * The replication protocol on the control socket's port (6363), beside the control
 * protocol: a connection that opens with `DBXREPL1` is a replication peer's (a control hello
 * starts with a Cap'n Proto segment table, whose first word is never that large).
 *
 * Handshake (every field fixed-size, so nothing is parsed before it is bounded):
 *
 * 1. client → server: `DBXREPL1 ‖ version u16 BE ‖ client key (32) ‖ client nonce (32) ‖
 *    client ephemeral X25519 key (32)`.
 * 2. server → client: `0x00 ‖ server key ‖ server nonce ‖ server ephemeral ‖
 *    Ed25519 signature of "server" ‖ T`, or `0x01 ‖ u16 length ‖ reason` (refused: e.g. the
 *    client's key is not pinned there). T = SHA-256 of the protocol label, the version, both
 *    keys, both nonces and both ephemerals: each side signs the other's fresh nonce bound to
 *    this session, both identities and the version.
 * 3. client → server: the client's signature of "client" ‖ T (sent only after the client
 *    checked the server's key against its pinned key and the server's signature).
 * 4. server → client: `0x00`, or `0x01 ‖ u16 length ‖ reason`.
 *
 * The session keys are HKDF-SHA256(X25519(ephemerals), salt T): one per direction. Every later
 * message is a frame `u32 BE length ‖ ChaCha20-Poly1305 ciphertext` with a per-direction
 * counter nonce, so frames cannot be read, altered, replayed, reordered or spliced into
 * another session. A replayed handshake fails: the other side's fresh nonce and ephemeral
 * make a new T, which the old signature does not cover.
 */
import { chachaOpen, chachaSeal } from "../crypto/chacha20_poly1305.ts";
import { concatBytes } from "../util/concat_bytes.ts";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { ByteReader } from "../control_protocol/stream.ts";
import { DbxError } from "../errors.ts";

/** The first bytes of a replication connection. */
export const REPLICATION_MAGIC = new TextEncoder().encode("DBXREPL1");
/** The protocol version both sides must speak. */
export const REPLICATION_PROTOCOL_VERSION = 1;
/** Length of the client's hello. */
export const CLIENT_HELLO_BYTES = 8 + 2 + 32 + 32 + 32;
/** Length of an accepting server hello. */
export const SERVER_HELLO_BYTES = 1 + 32 + 32 + 32 + 64;
/** Largest replication frame (a batch of events as JSON, sealed). */
export const MAX_REPLICATION_FRAME = 16 << 20;
/** Bytes a sealed frame adds (the Poly1305 tag). */
export const TAG_BYTES = 16;
const MAX_REASON_BYTES = 1024;
const LABEL = new TextEncoder().encode("eventdbx-replication");
const utf8 = new TextEncoder();

/**
 * True when the first bytes of a connection are a replication hello's.
 *
 * @example
 * ```ts
 * isReplicationStart(new TextEncoder().encode("DBXREPL1…")); // true
 * ```
 */
export function isReplicationStart(bytes: Uint8Array): boolean {
  if (bytes.length < REPLICATION_MAGIC.length) return false;
  return REPLICATION_MAGIC.every((b, i) => bytes[i] === b);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** A handshake refused: "unauthorized", with a message safe to show (never key material). */
export function refused(message: string): DbxError {
  return new DbxError("unauthorized", message, { reason: "replication_handshake" });
}

/** One side's part of the handshake. */
export interface HelloPart {
  publicKey: Uint8Array;
  nonce: Uint8Array;
  ephemeral: Uint8Array;
}

/** The client's hello as sent. */
export function encodeClientHello(part: HelloPart): Uint8Array {
  const version = new Uint8Array(2);
  new DataView(version.buffer).setUint16(0, REPLICATION_PROTOCOL_VERSION, false);
  return concatBytes(REPLICATION_MAGIC, version, part.publicKey, part.nonce, part.ephemeral);
}

/** The client's hello as received; refused when it is not one of this version. */
export function decodeClientHello(bytes: Uint8Array): HelloPart {
  if (bytes.length !== CLIENT_HELLO_BYTES || !isReplicationStart(bytes)) {
    throw refused("malformed replication hello");
  }
  const version = (bytes[8] << 8) | bytes[9];
  if (version !== REPLICATION_PROTOCOL_VERSION) {
    throw refused(
      `unsupported replication protocol version ${version} (this node speaks ${REPLICATION_PROTOCOL_VERSION})`,
    );
  }
  return {
    publicKey: bytes.slice(10, 42),
    nonce: bytes.slice(42, 74),
    ephemeral: bytes.slice(74, 106),
  };
}

/** A status answer: accepted, or refused with a reason. */
export function encodeStatus(reason?: string): Uint8Array {
  if (reason === undefined) return Uint8Array.of(0);
  let text = utf8.encode(reason);
  if (text.length > MAX_REASON_BYTES) text = text.slice(0, MAX_REASON_BYTES);
  const out = new Uint8Array(3 + text.length);
  out[0] = 1;
  new DataView(out.buffer).setUint16(1, text.length, false);
  out.set(text, 3);
  return out;
}

/** Read a status byte; on a refusal, read its reason and throw it. */
export async function readStatus(reader: ByteReader, who: string): Promise<void> {
  if (!(await reader.fill(1))) throw refused(`${who} closed the connection during the handshake`);
  const status = reader.take(1)[0];
  if (status === 0) return;
  if (status !== 1) throw refused(`${who} answered with a malformed handshake`);
  await reader.fill(2);
  const head = reader.take(2);
  const length = (head[0] << 8) | head[1];
  if (length > MAX_REASON_BYTES) throw refused(`${who} answered with a malformed handshake`);
  await reader.fill(length);
  const reason = new TextDecoder().decode(reader.take(length));
  throw refused(`${who} refused the replication session: ${reason}`);
}

/** Take exactly `n` bytes (a handshake message); refused when the stream ends first. */
export async function readExactly(reader: ByteReader, n: number, who: string): Promise<Uint8Array> {
  try {
    if (!(await reader.fill(n))) throw refused(`${who} closed the connection during the handshake`);
  } catch (err) {
    if (err instanceof DbxError && err.code === "unauthorized") throw err;
    throw refused(`${who} closed the connection during the handshake`);
  }
  return reader.take(n);
}

/** The accepting server hello as sent (status 0 first). */
export function encodeServerHello(part: HelloPart, signature: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(0), part.publicKey, part.nonce, part.ephemeral, signature);
}

/** The server hello after its status byte. */
export function decodeServerHello(bytes: Uint8Array): { part: HelloPart; signature: Uint8Array } {
  return {
    part: {
      publicKey: bytes.slice(0, 32),
      nonce: bytes.slice(32, 64),
      ephemeral: bytes.slice(64, 96),
    },
    signature: bytes.slice(96, 160),
  };
}

/**
 * The session transcript T: what both signatures cover.
 *
 * @example
 * ```ts
 * declare const client: HelloPart;
 * declare const server: HelloPart;
 * transcript(client, server).length; // 32
 * ```
 */
export function transcript(client: HelloPart, server: HelloPart): Uint8Array {
  const version = new Uint8Array(2);
  new DataView(version.buffer).setUint16(0, REPLICATION_PROTOCOL_VERSION, false);
  return sha256(
    concatBytes(
      LABEL,
      version,
      client.publicKey,
      server.publicKey,
      client.nonce,
      server.nonce,
      client.ephemeral,
      server.ephemeral,
    ),
  );
}

const ROLE = { client: utf8.encode("client"), server: utf8.encode("server") };

/** Sign the transcript as one role. */
export function signTranscript(
  role: "client" | "server",
  t: Uint8Array,
  secretKey: Uint8Array,
): Uint8Array {
  return ed25519.sign(concatBytes(ROLE[role], t), secretKey);
}

/** Whether `signature` is `publicKey`'s of the transcript as `role`. */
export function verifyTranscript(
  role: "client" | "server",
  t: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  try {
    return ed25519.verify(signature, concatBytes(ROLE[role], t), publicKey);
  } catch {
    return false;
  }
}

/** A fresh ephemeral X25519 key pair and nonce for one handshake. */
export function freshPart(publicKey: Uint8Array): HelloPart & { ephemeralSecret: Uint8Array } {
  const ephemeralSecret = x25519.utils.randomSecretKey();
  return {
    publicKey,
    nonce: crypto.getRandomValues(new Uint8Array(32)),
    ephemeral: x25519.getPublicKey(ephemeralSecret),
    ephemeralSecret,
  };
}

/** Both directions' ciphers of a session. */
export interface SessionKeys {
  send: FrameCipher;
  receive: FrameCipher;
}

/** Derive the session's keys from the ephemeral exchange and the transcript. */
export function sessionKeys(
  role: "client" | "server",
  ephemeralSecret: Uint8Array,
  peerEphemeral: Uint8Array,
  t: Uint8Array,
): SessionKeys {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(ephemeralSecret, peerEphemeral);
  } catch {
    throw refused("the peer's ephemeral key is invalid");
  }
  const okm = hkdf(sha256, shared, t, utf8.encode("eventdbx-replication/1 session keys"), 64);
  const toServer = new FrameCipher(okm.slice(0, 32));
  const toClient = new FrameCipher(okm.slice(32, 64));
  return role === "client"
    ? { send: toServer, receive: toClient }
    : { send: toClient, receive: toServer };
}

/** ChaCha20-Poly1305 with a counter nonce (4 zero bytes ‖ u64 LE), one per direction. */
export class FrameCipher {
  readonly #key: Uint8Array;
  #counter = 0;

  constructor(key: Uint8Array) {
    this.#key = key;
  }

  #nextNonce(): Uint8Array {
    if (!Number.isSafeInteger(this.#counter + 1)) throw refused("nonce space exhausted");
    const nonce = new Uint8Array(12);
    const view = new DataView(nonce.buffer);
    view.setUint32(4, this.#counter >>> 0, true);
    view.setUint32(8, Math.floor(this.#counter / 2 ** 32), true);
    this.#counter++;
    return nonce;
  }

  /** `ciphertext ‖ tag` (RFC 8439). */
  seal(plaintext: Uint8Array): Uint8Array {
    return chachaSeal(this.#key, this.#nextNonce(), plaintext);
  }

  open(ciphertext: Uint8Array): Uint8Array {
    const plaintext = chachaOpen(this.#key, this.#nextNonce(), ciphertext);
    if (!plaintext) {
      throw refused("a replication frame did not authenticate (altered or out of order)");
    }
    return plaintext;
  }
}

/** Pinned-key comparison in constant time. */
export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return equalBytes(a, b);
}

/** One sealed JSON message as a frame. */
export function sealFrame(cipher: FrameCipher, message: unknown): Uint8Array {
  const sealed = cipher.seal(utf8.encode(JSON.stringify(message)));
  const out = new Uint8Array(4 + sealed.length);
  new DataView(out.buffer).setUint32(0, sealed.length, false);
  out.set(sealed, 4);
  return out;
}

/** Read and open one sealed JSON message; null at a clean end of the stream. */
export async function readSealedFrame(
  reader: ByteReader,
  cipher: FrameCipher,
  maxBytes = MAX_REPLICATION_FRAME,
): Promise<unknown> {
  if (!(await reader.fill(4))) return null;
  const head = reader.peek();
  const length = ((head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) >>> 0;
  if (length > maxBytes + TAG_BYTES || length < TAG_BYTES) {
    throw new DbxError(
      "too_large",
      `a replication frame of ${length} bytes is outside the limit of ${maxBytes} bytes`,
    );
  }
  await reader.fill(4 + length);
  reader.take(4);
  const plain = cipher.open(reader.take(length));
  try {
    return JSON.parse(new TextDecoder().decode(plain));
  } catch {
    throw new DbxError("invalid_input", "a replication message is not JSON");
  }
}
