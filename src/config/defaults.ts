/**
 * Built-in settings: what a fresh `config.toml` means before anything is set.
 */
import type { Config } from "./types.ts";

/** Default HTTP port shared by REST, GraphQL and gRPC. */
export const DEFAULT_PORT = 7070;
/** Default Cap'n Proto (CLI automation and replication) port. */
export const DEFAULT_SOCKET_PORT = 6363;
/** Default Admin API port. */
export const DEFAULT_ADMIN_PORT = 7171;
/** Deepest nesting of any JSON input unless configured: real documents stay far below it. */
export const DEFAULT_MAX_JSON_DEPTH = 64;
/** Default bound of the writer's queue, in events (`[server] write_queue_limit`). */
export const DEFAULT_WRITE_QUEUE_LIMIT = 8192;
/** Most HTTP worker isolates `[server] http_workers` may ask for. */
export const MAX_HTTP_WORKERS = 64;
/** Name of the configuration file inside the data directory. */
export const CONFIG_FILE_NAME = "config.toml";
/** Name of the store directory inside the data directory. */
export const STORE_DIR_NAME = "store";

/**
 * The default configuration for a data directory.
 *
 * @example
 * ```ts
 * const config = defaultConfig("/home/me/.eventdbx");
 * config.port; // 7070
 * ```
 */
export function defaultConfig(dataDir: string): Config {
  return {
    port: DEFAULT_PORT,
    data_dir: dataDir,
    cache_threshold: 10_000,
    list_page_size: 10,
    page_limit: 1000,
    plugin_max_attempts: 10,
    restrict: "default",
    max_json_depth: DEFAULT_MAX_JSON_DEPTH,
    api: { rest: true, graphql: true, grpc: true },
    grpc: { bind_addr: `0.0.0.0:${DEFAULT_PORT}` },
    // Loopback by default, like the HTTP listener (the seed's default is 0.0.0.0).
    socket: { bind_addr: `127.0.0.1:${DEFAULT_SOCKET_PORT}` },
    admin: { enabled: false, bind: "127.0.0.1", port: DEFAULT_ADMIN_PORT },
    server: {
      http_workers: "auto",
      write_queue_limit: DEFAULT_WRITE_QUEUE_LIMIT,
      max_connections: 1024,
      header_read_timeout: 10,
      idle_timeout: 60,
    },
  };
}
