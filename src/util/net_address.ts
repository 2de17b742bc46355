/**
 * Host names, IP addresses and ports as users give them (remote endpoints, plugin targets):
 * checked strictly, so that what is stored can be dialled as it is.
 */
import { isIP } from "node:net";
import { DbxError } from "../errors.ts";

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * Check a host: an IPv4 address, an IPv6 address (with or without brackets) or a DNS name.
 * Returns it without brackets.
 *
 * @example
 * ```ts
 * checkHost("host", "10.0.0.2"); // "10.0.0.2"
 * checkHost("host", "[::1]"); // "::1"
 * checkHost("host", "db.example.com"); // "db.example.com"
 * checkHost("host", "tcp://x"); // throws invalid_input
 * ```
 */
export function checkHost(what: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw invalid(`${what} must be a host name or IP address`);
  }
  const bare = value.startsWith("[") && value.endsWith("]") ? value.slice(1, -1) : value;
  if (isIP(bare) === 6 && !bare.includes("%")) return bare;
  if (bare === value && isIP(bare) === 4) return bare;
  const name = bare.endsWith(".") ? bare.slice(0, -1) : bare;
  if (
    bare === value && name.length <= 253 && name.split(".").every((l) => HOST_LABEL.test(l)) &&
    !/^[0-9.]+$/.test(name)
  ) {
    return bare;
  }
  throw invalid(
    `${what} ${JSON.stringify(value.slice(0, 80))} is not a host name or IP address`,
  );
}

/**
 * Check a TCP port: an integer from 1 to 65535.
 *
 * @example
 * ```ts
 * checkPort("port", 6363); // 6363
 * ```
 */
export function checkPort(what: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65_535) {
    throw invalid(`${what} must be an integer from 1 to 65535`);
  }
  return value;
}

/**
 * `host:port`, with an IPv6 address in brackets.
 *
 * @example
 * ```ts
 * hostPort("::1", 6363); // "[::1]:6363"
 * ```
 */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Split `host:port` (IPv6 in brackets) and check both parts.
 *
 * @example
 * ```ts
 * splitHostPort("endpoint", "[::1]:6363"); // { host: "::1", port: 6363 }
 * ```
 */
export function splitHostPort(what: string, value: string): { host: string; port: number } {
  const match = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(value);
  if (!match) {
    throw invalid(`${what} must be HOST:PORT (got ${JSON.stringify(value.slice(0, 80))})`);
  }
  return { host: checkHost(what, match[1]), port: checkPort(`${what}'s port`, Number(match[2])) };
}
