/**
 * Turning `config.toml` text into a checked Config. Every key is checked for type and
 * range; messages name the file and the key, never a secret's value.
 */
import { Buffer } from "node:buffer";
import { parse, TomlError } from "smol-toml";
import { parseDek } from "../crypto/aead.ts";
import { DbxError, isDbxError } from "../errors.ts";
import { defaultConfig, MAX_HTTP_WORKERS } from "./defaults.ts";
import { isMasterKeyHash } from "./master_key.ts";
import type { Config, RestrictMode } from "./types.ts";

type Table = Record<string, unknown>;

/** Largest port number. */
const MAX_PORT = 65_535;
/** u32 upper bound, as the seed types `--plugin-max-attempts <u32>`. */
const MAX_U32 = 4_294_967_295;

/**
 * Parse a restriction mode: off | default | strict, or true (= default) / false (= off).
 *
 * @example
 * ```ts
 * parseRestrict("true"); // "default"
 * parseRestrict("strict"); // "strict"
 * ```
 */
export function parseRestrict(value: string): RestrictMode {
  switch (value.trim().toLowerCase()) {
    case "off":
    case "false":
      return "off";
    case "default":
    case "true":
      return "default";
    case "strict":
      return "strict";
  }
  throw new DbxError(
    "invalid_input",
    `restrict mode must be off, default, strict, true or false (got ${show(value)})`,
  );
}

/**
 * Parse TOML text; a syntax error becomes a one-line DbxError with line and column only
 * (the parser's own message quotes the offending line, which may hold the DEK).
 *
 * @example
 * ```ts
 * parseTomlText("port = 7070", "/tmp/config.toml"); // { port: 7070 }
 * ```
 */
export function parseTomlText(text: string, path: string): Table {
  try {
    return parse(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = err.message.split("\n")[0].replace(/^Invalid TOML document:\s*/, "");
      throw new DbxError(
        "invalid_input",
        `malformed TOML in ${path} at line ${err.line}, column ${err.column}: ${reason}`,
      );
    }
    throw new DbxError("invalid_input", `malformed TOML in ${path}`);
  }
}

/** A short, printable rendering of a (non-secret) bad value. */
function show(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : String(value);
  } catch {
    text = typeof value;
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** Checks one file; each `fail` names the file and the dotted key. */
class Checker {
  constructor(readonly path: string) {}

  fail(key: string, problem: string): never {
    throw new DbxError("invalid_input", `invalid configuration ${this.path}: ${key} ${problem}`);
  }

  table(value: unknown, key: string, known: readonly string[]): Table {
    if (typeof value !== "object" || value === null || Array.isArray(value) || isTomlDate(value)) {
      this.fail(key, "must be a table");
    }
    for (const name of Object.keys(value as Table)) {
      if (!known.includes(name)) {
        this.fail(key ? `${key}.${name}` : name, "is not a known setting");
      }
    }
    return value as Table;
  }

  integer(value: unknown, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
      this.fail(key, `must be an integer ${range} (got ${show(value)})`);
    }
    return value;
  }

  boolean(value: unknown, key: string): boolean {
    if (typeof value !== "boolean") this.fail(key, `must be true or false (got ${show(value)})`);
    return value;
  }

  text(value: unknown, key: string): string {
    // deno-lint-ignore no-control-regex
    if (typeof value !== "string" || value.trim() === "" || /[\x00-\x1f\x7f]/.test(value)) {
      this.fail(key, `must be a non-empty string without control characters (got ${show(value)})`);
    }
    return value;
  }

  host(value: unknown, key: string): string {
    const host = this.text(value, key);
    if (/\s/.test(host) || host.length > 253) {
      this.fail(key, `must be a host name or IP address (got ${show(host)})`);
    }
    return host;
  }

  bindAddr(value: unknown, key: string, minPort = 1): string {
    const addr = this.text(value, key);
    const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(addr);
    const port = match ? Number(match[2]) : -1;
    if (!match || port < minPort || port > MAX_PORT) {
      this.fail(
        key,
        `must be HOST:PORT with a port from ${minPort} to ${MAX_PORT} (got ${show(addr)})`,
      );
    }
    return addr;
  }
}

function isTomlDate(value: unknown): boolean {
  return value instanceof Date || (typeof value === "object" && value !== null &&
    value.constructor?.name === "TomlDate");
}

const TOP_KEYS = [
  "port",
  "host",
  "data_dir",
  "cache_threshold",
  "dek",
  "list_page_size",
  "page_limit",
  "plugin_max_attempts",
  "snapshot_threshold",
  "restrict",
  "max_json_depth",
  "api",
  "grpc",
  "socket",
  "admin",
  "server",
] as const;

/**
 * Check a parsed config table and merge it over the defaults.
 *
 * `dataDir` is the resolved data directory; it becomes `config.data_dir` (the location rules
 * in paths.ts have already taken the file's `data_dir` into account).
 *
 * @example
 * ```ts
 * const config = validateConfig({ port: 8080 }, "/tmp/db/config.toml", "/tmp/db");
 * config.port; // 8080
 * ```
 */
export function validateConfig(raw: Table, path: string, dataDir: string): Config {
  const check: Checker = new Checker(path);
  const top = check.table(raw, "", TOP_KEYS);
  const config = defaultConfig(dataDir);

  if (top.port !== undefined) config.port = check.integer(top.port, "port", 1, MAX_PORT);
  if (top.host !== undefined) config.host = check.host(top.host, "host");
  if (top.data_dir !== undefined) check.text(top.data_dir, "data_dir");
  if (top.cache_threshold !== undefined) {
    config.cache_threshold = check.integer(top.cache_threshold, "cache_threshold", 0);
  }
  if (top.dek !== undefined) {
    config.dek = checkDek(top.dek, (problem) => check.fail("dek", problem));
  }
  if (top.list_page_size !== undefined) {
    config.list_page_size = check.integer(top.list_page_size, "list_page_size", 1);
  }
  if (top.page_limit !== undefined) {
    config.page_limit = check.integer(top.page_limit, "page_limit", 1);
  }
  if (top.plugin_max_attempts !== undefined) {
    config.plugin_max_attempts = check.integer(
      top.plugin_max_attempts,
      "plugin_max_attempts",
      1,
      MAX_U32,
    );
  }
  if (top.snapshot_threshold !== undefined) {
    config.snapshot_threshold = check.integer(top.snapshot_threshold, "snapshot_threshold", 1);
  }
  if (top.restrict !== undefined) {
    if (typeof top.restrict === "boolean") config.restrict = top.restrict ? "default" : "off";
    else if (typeof top.restrict === "string") {
      try {
        config.restrict = parseRestrict(top.restrict);
      } catch {
        check.fail(
          "restrict",
          `must be off, default, strict, true or false (got ${show(top.restrict)})`,
        );
      }
    } else {check.fail(
        "restrict",
        `must be off, default, strict, true or false (got ${show(top.restrict)})`,
      );}
  }
  if (top.max_json_depth !== undefined) {
    config.max_json_depth = check.integer(top.max_json_depth, "max_json_depth", 2, 1000);
  }
  if (top.api !== undefined) {
    const api = check.table(top.api, "api", ["rest", "graphql", "grpc"]);
    for (const name of ["rest", "graphql", "grpc"] as const) {
      if (api[name] !== undefined) config.api[name] = check.boolean(api[name], `api.${name}`);
    }
  }
  if (top.grpc !== undefined) {
    const grpc = check.table(top.grpc, "grpc", ["bind_addr", "max_message_bytes"]);
    if (grpc.bind_addr !== undefined) {
      config.grpc.bind_addr = check.bindAddr(grpc.bind_addr, "grpc.bind_addr");
    }
    if (grpc.max_message_bytes !== undefined) {
      config.grpc.max_message_bytes = check.integer(
        grpc.max_message_bytes,
        "grpc.max_message_bytes",
        1024,
        1 << 30,
      );
    }
  }
  if (top.socket !== undefined) {
    const socket = check.table(top.socket, "socket", [
      "bind_addr",
      "allow_plaintext",
      "max_frame_bytes",
    ]);
    if (socket.bind_addr !== undefined) {
      // Port 0: any free port (`dbx status` and the PID file say which).
      config.socket.bind_addr = check.bindAddr(socket.bind_addr, "socket.bind_addr", 0);
    }
    if (socket.allow_plaintext !== undefined) {
      config.socket.allow_plaintext = check.boolean(
        socket.allow_plaintext,
        "socket.allow_plaintext",
      );
    }
    if (socket.max_frame_bytes !== undefined) {
      config.socket.max_frame_bytes = check.integer(
        socket.max_frame_bytes,
        "socket.max_frame_bytes",
        4096,
        16 << 20,
      );
    }
  }
  if (top.admin !== undefined) {
    const admin = check.table(top.admin, "admin", ["enabled", "bind", "port", "master_key_hash"]);
    if (admin.enabled !== undefined) {
      config.admin.enabled = check.boolean(admin.enabled, "admin.enabled");
    }
    if (admin.bind !== undefined) config.admin.bind = check.host(admin.bind, "admin.bind");
    if (admin.port !== undefined) {
      config.admin.port = check.integer(admin.port, "admin.port", 1, MAX_PORT);
    }
    if (admin.master_key_hash !== undefined) {
      const stored = admin.master_key_hash;
      if (!isMasterKeyHash(stored)) {
        // Not echoed: even a hash of the master key is not for logs.
        check.fail(
          "admin.master_key_hash",
          "is not a valid $argon2id$ (or older scrypt$) hash; set the key with " +
            "`dbx config --admin-master-key <secret>`",
        );
      }
      config.admin.master_key_hash = stored;
    }
  }
  if (top.server !== undefined) {
    const server = check.table(top.server, "server", [
      "http_workers",
      "write_queue_limit",
      "max_connections",
      "header_read_timeout",
      "idle_timeout",
    ]);
    if (server.http_workers !== undefined) {
      config.server.http_workers = server.http_workers === "auto"
        ? "auto"
        : typeof server.http_workers === "number"
        ? check.integer(server.http_workers, "server.http_workers", 0, MAX_HTTP_WORKERS)
        : check.fail(
          "server.http_workers",
          `must be "auto" or an integer from 0 to ${MAX_HTTP_WORKERS} (got ${
            show(server.http_workers)
          })`,
        );
    }
    if (server.write_queue_limit !== undefined) {
      config.server.write_queue_limit = check.integer(
        server.write_queue_limit,
        "server.write_queue_limit",
        1,
      );
    }
    if (server.max_connections !== undefined) {
      config.server.max_connections = check.integer(
        server.max_connections,
        "server.max_connections",
        1,
      );
    }
    for (const key of ["header_read_timeout", "idle_timeout"] as const) {
      if (server[key] !== undefined) {
        config.server[key] = check.integer(server[key], `server.${key}`, 1, 86_400);
      }
    }
  }
  return config;
}

/**
 * Check a DEK and return it in canonical (standard, padded) base64. `fail` receives a
 * problem description that never contains the key.
 *
 * @example
 * ```ts
 * import { generateDek } from "../crypto/aead.ts";
 * checkDek(generateDek(), (p) => { throw new Error(p); }); // the same key, as base64
 * ```
 */
export function checkDek(value: unknown, fail: (problem: string) => never): string {
  if (typeof value !== "string") fail("must be a base64 string (32 bytes)");
  try {
    return Buffer.from(parseDek(value)).toString("base64");
  } catch (err) {
    if (isDbxError(err)) fail(`is invalid: ${err.message}`);
    throw err;
  }
}
