/**
 * A replication remote: a name, the `tcp://host:port` of its control socket and its pinned
 * Ed25519 public key. The checks here are the ones every way of adding a remote goes
 * through (the API's `upsertRemote`, hence `dbx remote add` and `PUT /admin/remotes/{name}`).
 */
import { Buffer } from "node:buffer";
import { Point } from "@noble/ed25519";
import { DbxError } from "../errors.ts";
import { checkLabel } from "../util/label.ts";
import { checkHost, checkPort, hostPort, splitHostPort } from "../util/net_address.ts";

/** Port of a remote's control socket unless one is given (the seed's 6363). */
export const DEFAULT_REMOTE_PORT = 6363;

/** A configured remote, as stored and as the API returns it. */
export interface Remote {
  name: string;
  /** `tcp://host:port` of the remote's control socket. */
  endpoint: string;
  /** The remote's Ed25519 public key, 32 bytes as standard base64. */
  public_key: string;
  created_at: string;
  updated_at: string;
}

/** What a remote is made of, checked. */
export type RemoteDefinition = Pick<Remote, "name" | "endpoint" | "public_key">;

/**
 * Check a remote's name (a label: letters, digits, `.`, `_`, `-`, at most 64).
 *
 * @example
 * ```ts
 * checkRemoteName("standby"); // "standby"
 * ```
 */
export function checkRemoteName(value: unknown): string {
  return checkLabel("remote name", value);
}

/**
 * The endpoint of a host (IP or name) and port, as `dbx remote add <name> <ip> --port`
 * formats it.
 *
 * @example
 * ```ts
 * formatEndpoint("10.0.0.2"); // "tcp://10.0.0.2:6363"
 * formatEndpoint("::1", 7000); // "tcp://[::1]:7000"
 * ```
 */
export function formatEndpoint(host: unknown, port: unknown = DEFAULT_REMOTE_PORT): string {
  return `tcp://${hostPort(checkHost("the remote's host", host), checkPort("port", port))}`;
}

/**
 * Check an endpoint `tcp://host:port` and return it in its canonical spelling.
 *
 * @example
 * ```ts
 * checkEndpoint("tcp://10.0.0.2:6363"); // "tcp://10.0.0.2:6363"
 * checkEndpoint("http://10.0.0.2"); // throws invalid_input
 * ```
 */
export function checkEndpoint(value: unknown): string {
  if (typeof value !== "string" || !value.startsWith("tcp://")) {
    throw new DbxError("invalid_input", "endpoint must look like tcp://HOST:PORT");
  }
  const { host, port } = splitHostPort("endpoint", value.slice("tcp://".length));
  return `tcp://${hostPort(host, port)}`;
}

/**
 * The host and port of an endpoint (for dialling it).
 *
 * @example
 * ```ts
 * parseEndpoint("tcp://[::1]:6363"); // { host: "::1", port: 6363 }
 * ```
 */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  return splitHostPort("endpoint", checkEndpoint(endpoint).slice("tcp://".length));
}

/**
 * Check a pinned public key: standard base64 of 32 bytes that encode a valid Ed25519
 * point of large order. Returns the canonical (padded) base64.
 *
 * @example
 * ```ts
 * checkPublicKey("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="); // the same key
 * checkPublicKey("AAAA"); // throws invalid_input
 * ```
 */
export function checkPublicKey(value: unknown): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]{43}=?$/.test(value)) {
    throw new DbxError(
      "invalid_input",
      "public_key must be an Ed25519 public key: 32 bytes as base64 (44 characters)",
    );
  }
  const bytes = new Uint8Array(Buffer.from(value, "base64"));
  let valid = false;
  try {
    valid = bytes.length === 32 && !Point.fromBytes(bytes).isSmallOrder();
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new DbxError("invalid_input", "public_key is not a valid Ed25519 public key");
  }
  return Buffer.from(bytes).toString("base64");
}
