/**
 * What a running server holds open: one engine, one token authority, one schema
 * store, shared by every surface (REST now; GraphQL, gRPC and the socket later).
 */
import type { TokenAuthority } from "../auth/authority.ts";
import type { Config } from "../config/types.ts";
import type { Engine } from "../engine/engine.ts";
import type { SchemaStore } from "../schema/store.ts";

export interface ServerContext {
  engine: Engine;
  auth: TokenAuthority;
  schemas: SchemaStore;
  /** Effective settings (after `dbx start` flags such as --restrict and --port). */
  config: Config;
  dataDir: string;
  startedAt: Date;
  /** Largest accepted request body in bytes. */
  maxBodyBytes: number;
}
