/**
 * The node's token-signing key: an Ed25519 seed in `<data-dir>/node.key`
 * (base64, mode 0600), created on first use.
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { DbxError } from "../errors.ts";
import { sha256, toHex } from "../integrity/sha256.ts";
import { createFileExclusive } from "../util/atomic_file.ts";
import { publicKeyOf, randomSecretKey } from "./jwt.ts";

export const NODE_KEY_FILE = "node.key";

/** The signing key pair and its short id (the `iss` of every token). */
export interface NodeKey {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  /** First 16 hex digits of SHA-256(public key). */
  keyId: string;
}

/**
 * Derive the key id used as `iss`.
 *
 * @example
 * ```ts
 * import { publicKeyOf, randomSecretKey } from "./jwt.ts";
 * keyIdOf(publicKeyOf(randomSecretKey())); // 16 hex digits, e.g. "3f9a0c12d4e5b6a7"
 * ```
 */
export function keyIdOf(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey)).slice(0, 16);
}

/**
 * Build a NodeKey from a 32-byte seed.
 *
 * @example
 * ```ts
 * import { randomSecretKey } from "./jwt.ts";
 * const key = nodeKeyFromSeed(randomSecretKey());
 * ```
 */
export function nodeKeyFromSeed(seed: Uint8Array): NodeKey {
  const publicKey = publicKeyOf(seed);
  return { secretKey: seed, publicKey, keyId: keyIdOf(publicKey) };
}

function parseKeyFile(text: string, path: string): Uint8Array {
  const trimmed = text.trim();
  const seed = /^[A-Za-z0-9+/]{43}=$/.test(trimmed) ? Buffer.from(trimmed, "base64") : undefined;
  if (!seed || seed.length !== 32) {
    throw new DbxError(
      "corrupt",
      `the node key file ${path} is malformed (expected 32 bytes of base64)`,
    );
  }
  return new Uint8Array(seed);
}

/**
 * Load `<dataDir>/node.key`, creating it (mode 0600) when missing. Two
 * processes racing to create it end up with the same key.
 *
 * @example
 * ```ts
 * const key = await loadOrCreateNodeKey("/home/me/.eventdbx");
 * ```
 */
export async function loadOrCreateNodeKey(dataDir: string): Promise<NodeKey> {
  const path = join(dataDir, NODE_KEY_FILE);
  try {
    return nodeKeyFromSeed(parseKeyFile(await Deno.readTextFile(path), path));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const seed = randomSecretKey();
  const text = new TextEncoder().encode(`${Buffer.from(seed).toString("base64")}\n`);
  if (await createFileExclusive(path, text, 0o600)) return nodeKeyFromSeed(seed);
  return nodeKeyFromSeed(parseKeyFile(await Deno.readTextFile(path), path));
}
