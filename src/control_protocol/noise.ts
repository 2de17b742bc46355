/**
 * Noise_NNpsk0_25519_ChaChaPoly_SHA256 (Noise Protocol Framework, revision 34), the one
 * pattern the control protocol uses: `-> psk, e` then `<- e, ee`, then transport messages.
 * Built on audited primitives (@noble: X25519, ChaCha20-Poly1305, SHA-256 and HMAC); the
 * state machine follows the specification's CipherState / SymmetricState / HandshakeState
 * and is checked against the published Cacophony test vectors (tests/socket/noise.test.ts).
 *
 * A handshake either completes or throws DbxError "unauthorized" (a message that does not
 * decrypt, a wrong length, a bad public key); nothing here logs key material.
 */
import { chachaOpen, chachaSeal } from "../crypto/chacha20_poly1305.ts";
import { concatBytes } from "../util/concat_bytes.ts";
import { x25519 } from "@noble/curves/ed25519.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { DbxError } from "../errors.ts";

/** The protocol name, hashed into the handshake. */
export const NOISE_PROTOCOL_NAME = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";
/** The longest Noise message (handshake or transport), in bytes. */
export const MAX_NOISE_MESSAGE = 65_535;
/** Bytes an encrypted message adds to its plaintext (the Poly1305 tag). */
export const NOISE_TAG_BYTES = 16;
/** Length of each handshake message of NNpsk0 with an empty payload. */
export const NOISE_HANDSHAKE_BYTES = 32 + NOISE_TAG_BYTES;

const HASH_LEN = 32;
const DH_LEN = 32;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

function refused(message: string): DbxError {
  return new DbxError("unauthorized", `noise handshake failed: ${message}`);
}

/** HKDF of the Noise specification (§4.3), with HMAC-SHA256: two or three outputs. */
function hkdf(chainingKey: Uint8Array, input: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  const temp = hmac(sha256, chainingKey, input);
  const out1 = hmac(sha256, temp, Uint8Array.of(1));
  const out2 = hmac(sha256, temp, concatBytes(out1, Uint8Array.of(2)));
  if (outputs === 2) return [out1, out2];
  return [out1, out2, hmac(sha256, temp, concatBytes(out2, Uint8Array.of(3)))];
}

/**
 * A cipher key and its nonce counter (the specification's CipherState). The 96-bit
 * ChaChaPoly nonce is 32 zero bits followed by the counter as a little-endian u64.
 *
 * @example
 * ```ts
 * const cipher = new NoiseCipher(new Uint8Array(32));
 * const sealed = cipher.encrypt(new TextEncoder().encode("hi"));
 * sealed.length; // 18
 * ```
 */
export class NoiseCipher {
  #key: Uint8Array | undefined;
  #nonce = 0;
  readonly #iv = new Uint8Array(12);
  readonly #ivView = new DataView(this.#iv.buffer);

  constructor(key?: Uint8Array) {
    this.#key = key;
  }

  get hasKey(): boolean {
    return this.#key !== undefined;
  }

  #nextIv(): Uint8Array {
    // 2^53 messages is far beyond any connection; refusing then keeps nonces unique.
    if (!Number.isSafeInteger(this.#nonce + 1)) throw refused("nonce space exhausted");
    this.#ivView.setUint32(4, this.#nonce >>> 0, true);
    this.#ivView.setUint32(8, Math.floor(this.#nonce / 2 ** 32), true);
    this.#nonce++;
    return this.#iv;
  }

  /** Seal `plaintext` with associated data `ad` (no key yet: returned unchanged). */
  encrypt(plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    if (!this.#key) return plaintext;
    return chachaSeal(this.#key, this.#nextIv(), plaintext, ad);
  }

  /** Open `ciphertext`; throws DbxError "unauthorized" when it does not authenticate. */
  decrypt(ciphertext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    if (!this.#key) return ciphertext;
    if (ciphertext.length < NOISE_TAG_BYTES) throw refused("message shorter than its tag");
    const plaintext = chachaOpen(this.#key, this.#nextIv(), ciphertext, ad);
    if (!plaintext) throw refused("a message did not authenticate");
    return plaintext;
  }
}

/** The chaining key, the handshake hash and the current cipher (SymmetricState). */
class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  cipher = new NoiseCipher();

  constructor(protocolName: string) {
    const name = encoder.encode(protocolName);
    this.h = name.length <= HASH_LEN
      ? concatBytes(name, new Uint8Array(HASH_LEN - name.length))
      : sha256(
        name,
      );
    this.ck = this.h;
  }

  mixHash(data: Uint8Array): void {
    this.h = sha256(concatBytes(this.h, data));
  }

  mixKey(input: Uint8Array): void {
    const [ck, key] = hkdf(this.ck, input, 2);
    this.ck = ck;
    this.cipher = new NoiseCipher(key.subarray(0, 32));
  }

  mixKeyAndHash(input: Uint8Array): void {
    const [ck, hash, key] = hkdf(this.ck, input, 3);
    this.ck = ck;
    this.mixHash(hash);
    this.cipher = new NoiseCipher(key.subarray(0, 32));
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const sealed = this.cipher.encrypt(plaintext, this.h);
    this.mixHash(sealed);
    return sealed;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const opened = this.cipher.decrypt(ciphertext, this.h);
    this.mixHash(ciphertext);
    return opened;
  }

  split(): [NoiseCipher, NoiseCipher] {
    const [k1, k2] = hkdf(this.ck, EMPTY, 2);
    return [new NoiseCipher(k1.subarray(0, 32)), new NoiseCipher(k2.subarray(0, 32))];
  }
}

/** What a finished handshake gives each side. */
export interface NoiseSession {
  /** Seals what this side sends. */
  send: NoiseCipher;
  /** Opens what the other side sends. */
  receive: NoiseCipher;
  /** The handshake hash (channel binding; the test vectors check it). */
  handshakeHash: Uint8Array;
}

export interface NoiseOptions {
  /** The 32-byte pre-shared key (the control protocol: SHA-256 of the token). */
  psk: Uint8Array;
  /** Bytes both sides hash in first (the control protocol: empty). */
  prologue?: Uint8Array;
  /** A fixed ephemeral private key, for the test vectors only; random otherwise. */
  ephemeralPrivateKey?: Uint8Array;
}

function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return x25519.getSharedSecret(privateKey, publicKey);
  } catch {
    throw refused("the peer's ephemeral key is not a usable X25519 public key");
  }
}

/** The state both roles share: the symmetric state after the prologue and the psk. */
function start(options: NoiseOptions) {
  if (options.psk.length !== 32) {
    throw new DbxError("invalid_input", "the Noise PSK must be 32 bytes");
  }
  const state = new SymmetricState(NOISE_PROTOCOL_NAME);
  state.mixHash(options.prologue ?? EMPTY);
  const ephemeral = options.ephemeralPrivateKey ?? x25519.utils.randomSecretKey();
  return { state, ephemeral, ephemeralPublic: x25519.getPublicKey(ephemeral) };
}

/**
 * The initiator (the client): `writeFirst`, then `readSecond` gives the session.
 *
 * @example
 * ```ts
 * const psk = new Uint8Array(32);
 * const client = noiseInitiator({ psk });
 * const server = noiseResponder({ psk });
 * server.readFirst(client.writeFirst());
 * const clientSession = client.readSecond(server.writeSecond());
 * const serverSession = server.finish();
 * serverSession.receive.decrypt(clientSession.send.encrypt(new Uint8Array([1, 2])));
 * ```
 */
export function noiseInitiator(options: NoiseOptions): {
  writeFirst(payload?: Uint8Array): Uint8Array;
  readSecond(message: Uint8Array): NoiseSession & { payload: Uint8Array };
} {
  const { state, ephemeral, ephemeralPublic } = start(options);
  let step = 0;
  return {
    writeFirst(payload = EMPTY) {
      if (step++ !== 0) throw new DbxError("internal", "noise: first message written twice");
      state.mixKeyAndHash(options.psk); // psk
      state.mixHash(ephemeralPublic); // e (with a psk, e also feeds the key)
      state.mixKey(ephemeralPublic);
      return concatBytes(ephemeralPublic, state.encryptAndHash(payload));
    },
    readSecond(message) {
      if (step++ !== 1) throw new DbxError("internal", "noise: second message out of order");
      if (message.length < DH_LEN + NOISE_TAG_BYTES) throw refused("second message too short");
      const remote = message.subarray(0, DH_LEN);
      state.mixHash(remote); // e
      state.mixKey(remote);
      state.mixKey(dh(ephemeral, remote)); // ee
      const payload = state.decryptAndHash(message.subarray(DH_LEN));
      const [toResponder, toInitiator] = state.split();
      return { send: toResponder, receive: toInitiator, handshakeHash: state.h, payload };
    },
  };
}

/**
 * The responder (the server): `readFirst`, `writeSecond`, then `finish` gives the session.
 *
 * @example
 * ```ts
 * const server = noiseResponder({ psk: new Uint8Array(32) });
 * // server.readFirst(firstMessageFromClient); const reply = server.writeSecond();
 * ```
 */
export function noiseResponder(options: NoiseOptions): {
  readFirst(message: Uint8Array): Uint8Array;
  writeSecond(payload?: Uint8Array): Uint8Array;
  finish(): NoiseSession;
} {
  const { state, ephemeral, ephemeralPublic } = start(options);
  let step = 0;
  let remote: Uint8Array | undefined;
  return {
    readFirst(message) {
      if (step++ !== 0) throw new DbxError("internal", "noise: first message read twice");
      if (message.length < DH_LEN + NOISE_TAG_BYTES) throw refused("first message too short");
      state.mixKeyAndHash(options.psk); // psk
      remote = message.slice(0, DH_LEN);
      state.mixHash(remote); // e
      state.mixKey(remote);
      return state.decryptAndHash(message.subarray(DH_LEN));
    },
    writeSecond(payload = EMPTY) {
      if (step++ !== 1 || !remote) {
        throw new DbxError("internal", "noise: second message out of order");
      }
      state.mixHash(ephemeralPublic); // e
      state.mixKey(ephemeralPublic);
      state.mixKey(dh(ephemeral, remote)); // ee
      return concatBytes(ephemeralPublic, state.encryptAndHash(payload));
    },
    finish() {
      if (step !== 2) throw new DbxError("internal", "noise: handshake not finished");
      const [toResponder, toInitiator] = state.split();
      return { send: toInitiator, receive: toResponder, handshakeHash: state.h };
    },
  };
}

/**
 * The PSK of the control protocol: SHA-256 of the token's UTF-8 bytes (trimmed, as the
 * clients do).
 *
 * @example
 * ```ts
 * controlPsk(" my-token ").length; // 32
 * ```
 */
export function controlPsk(token: string): Uint8Array {
  return sha256(encoder.encode(token.trim()));
}
