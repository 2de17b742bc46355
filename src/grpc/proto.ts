/**
 * The gRPC service definitions, loaded from the `.proto` files in `proto/` (the contract
 * clients compile against; `deno compile` must `--include proto`): EventDBX's
 * `eventdbx.api.EventService` and the standard `grpc.health.v1.Health`.
 *
 * Messages are plain objects in the proto's snake_case names, 64-bit integers as numbers,
 * enums as their names; a field the sender left out stays absent (no defaults filled in),
 * so `optional` fields keep their presence.
 */
import { fileURLToPath } from "node:url";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { loadSync, type Options, type PackageDefinition } from "@grpc/proto-loader";

/** The folder of the `.proto` files. */
export const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
/** The API's proto file, relative to {@link PROTO_DIR}. */
export const API_PROTO = "api.proto";
/** The health proto file, relative to {@link PROTO_DIR}. */
export const HEALTH_PROTO = "grpc/health/v1/health.proto";

/** Full name of the API service. */
export const EVENT_SERVICE = "eventdbx.api.EventService";
/** Full name of the standard health service. */
export const HEALTH_SERVICE = "grpc.health.v1.Health";

const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: false,
  includeDirs: [PROTO_DIR],
};

/** A method as proto-loader describes it (serializers included). */
// deno-lint-ignore no-explicit-any
export type Method = MethodDefinition<any, any>;

/** The loaded definitions. */
export interface Protos {
  /** Every file's definitions (what reflection serves). */
  package: PackageDefinition;
  events: ServiceDefinition;
  health: ServiceDefinition;
}

let loaded: Protos | undefined;

/**
 * Load the service definitions (once per isolate).
 *
 * @example
 * ```ts
 * const { events } = loadProtos();
 * Object.keys(events); // ["Health", "AppendEvent", …]
 * ```
 */
export function loadProtos(): Protos {
  if (loaded) return loaded;
  const pkg = loadSync([API_PROTO, HEALTH_PROTO], LOADER_OPTIONS);
  loaded = {
    package: pkg,
    events: pkg[EVENT_SERVICE] as ServiceDefinition,
    health: pkg[HEALTH_SERVICE] as ServiceDefinition,
  };
  return loaded;
}
