/** Restriction (schema enforcement) mode: SPEC §4. */
export type RestrictMode = "off" | "default" | "strict";

/** Settings kept in `config.toml` (snake_case keys there, as in the seeds). */
export interface Config {
  port: number;
  /** Address the HTTP listener binds (`dbx start --host`); unset means 127.0.0.1. */
  host?: string;
  /** Where the store lives; the directory of config.toml unless set. */
  data_dir: string;
  /** Upper bound on cached aggregate heads held by the writer. */
  cache_threshold: number;
  /** Data encryption key, 32 bytes as base64. Secret. */
  dek?: string;
  list_page_size: number;
  page_limit: number;
  plugin_max_attempts: number;
  snapshot_threshold?: number;
  restrict: RestrictMode;
  /** Deepest nesting any JSON input may have (payloads, patches, schemas, request bodies). */
  max_json_depth: number;
  api: { rest: boolean; graphql: boolean; grpc: boolean };
  /**
   * `bind_addr` at its default (or on the HTTP port) shares the HTTP listener; the largest
   * request message is `max_message_bytes` (default 8 MiB, like REST's largest body).
   */
  grpc: { bind_addr: string; max_message_bytes?: number };
  /**
   * The control socket (the client SDKs' protocol, `dbx --remote`). `allow_plaintext`
   * (default false) lets a client that asks skip Noise; `max_frame_bytes` (default 65535)
   * is the largest frame either way (Noise frames never exceed 65535).
   */
  socket: { bind_addr: string; allow_plaintext?: boolean; max_frame_bytes?: number };
  admin: { enabled: boolean; bind: string; port: number; master_key_hash?: string };
  server: ServerSettings;
}

/** The `[server]` table: how a running server spends its threads and memory. */
export interface ServerSettings {
  /**
   * Worker isolates serving HTTP, each reaching the API across a message port; 0 serves
   * HTTP on the engine's thread. "auto" picks from the CPU count (see `httpWorkerCount`).
   */
  http_workers: number | "auto";
  /** Events waiting for the writer beyond which appends are refused with 503. */
  write_queue_limit: number;
  /** Connections one listener holds open at most (lowered to fit the open-file limit). */
  max_connections: number;
  /** Seconds a request head may take to arrive (the first from the moment of connecting). */
  header_read_timeout: number;
  /** Seconds a connection may sit with no request in flight and no bytes moving. */
  idle_timeout: number;
}

/** A config as loaded: where it came from and where the data lives. */
export interface LoadedConfig {
  config: Config;
  configPath: string;
  dataDir: string;
  /** True when this load created the file (with a generated DEK). */
  created: boolean;
}

/** Paths given on the command line (or by tests). */
export interface ConfigLocation {
  configPath?: string;
  dataDir?: string;
}
