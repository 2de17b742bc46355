/**
 * The node's replication identity: an Ed25519 key pair in the data directory,
 * `replication.key` (the 32-byte seed as base64, mode 0600) and `replication.pub` (the
 * public key as base64, what `dbx remote key` prints and other nodes pin). Created on first
 * use; two processes racing to create it end up with the same key.
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { DbxError } from "../errors.ts";
import { createFileExclusive, writeFileAtomic } from "../util/atomic_file.ts";

/** File of the secret seed. */
export const REPLICATION_KEY_FILE = "replication.key";
/** File of the public key. */
export const REPLICATION_PUB_FILE = "replication.pub";

/** This node's replication key pair. */
export interface ReplicationIdentity {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  /** The public key as standard base64 (what peers pin). */
  publicKeyBase64: string;
}

/** Where a data directory keeps its replication keys. */
export function identityPaths(dataDir: string): { key: string; pub: string } {
  return { key: join(dataDir, REPLICATION_KEY_FILE), pub: join(dataDir, REPLICATION_PUB_FILE) };
}

function fromSeed(seed: Uint8Array): ReplicationIdentity {
  const publicKey = ed25519.getPublicKey(seed);
  return { secretKey: seed, publicKey, publicKeyBase64: Buffer.from(publicKey).toString("base64") };
}

function parseSeed(text: string, path: string): Uint8Array {
  const trimmed = text.trim();
  const seed = /^[A-Za-z0-9+/]{43}=$/.test(trimmed) ? Buffer.from(trimmed, "base64") : undefined;
  if (!seed || seed.length !== 32) {
    // The message names the file, never its content.
    throw new DbxError(
      "corrupt",
      `the replication key file ${path} is malformed (expected 32 bytes of base64)`,
    );
  }
  return new Uint8Array(seed);
}

/** Write `replication.pub` when it is missing or does not match the key (it is derived). */
async function ensurePublicFile(path: string, identity: ReplicationIdentity): Promise<void> {
  const text = `${identity.publicKeyBase64}\n`;
  try {
    if ((await Deno.readTextFile(path)) === text) return;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await writeFileAtomic(path, new TextEncoder().encode(text), 0o644);
}

/**
 * Load the node's replication key pair, creating it (and the data directory, 0700) when
 * missing.
 *
 * @example
 * ```ts
 * const me = await loadOrCreateIdentity("/tmp/dbx-identity-doc");
 * me.publicKeyBase64; // 44 characters of base64
 * ```
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<ReplicationIdentity> {
  const paths = identityPaths(dataDir);
  let identity: ReplicationIdentity | undefined;
  try {
    identity = fromSeed(parseSeed(await Deno.readTextFile(paths.key), paths.key));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (!identity) {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const seed = ed25519.utils.randomSecretKey();
    const text = new TextEncoder().encode(`${Buffer.from(seed).toString("base64")}\n`);
    identity = await createFileExclusive(paths.key, text, 0o600)
      ? fromSeed(seed)
      : fromSeed(parseSeed(await Deno.readTextFile(paths.key), paths.key));
  }
  await ensurePublicFile(paths.pub, identity);
  return identity;
}
