/**
 * The grpc kind: batches of events sent to `eventdbx.plugin.PluginReceiver/ApplyEvents`
 * (proto/plugin.proto) on the configured endpoint, one channel kept per sink. The response's
 * `applied` acknowledges the first events of the batch; an error status, a short count or no
 * answer within the attempt timeout fails the first event not applied (the worker retries it
 * with backoff), so delivery stays at least once and in order.
 */
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import {
  Client,
  credentials,
  type MethodDefinition,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import { fileURLToPath } from "node:url";
import type { EventRecord } from "../../../engine/types.ts";
import { type EventMessage, eventMessage } from "../../../protobuf/event_message.ts";
import { DeliveryError, errorText, type Sink, withTimeout } from "./sink.ts";
import { checkReachable } from "./tcp.ts";

/**
 * The folder of the `.proto` files (`deno compile` includes it). Read here rather than
 * through src/grpc: delivery is below the surfaces and does not import them.
 */
const PROTO_DIR = fileURLToPath(new URL("../../../../proto/", import.meta.url));

/** The plugin proto file, relative to the proto folder. */
export const PLUGIN_PROTO = "plugin.proto";
/** Full name of the service a grpc plugin implements. */
export const PLUGIN_RECEIVER_SERVICE = "eventdbx.plugin.PluginReceiver";

/** `ApplyEventsRequest` as sent. */
export interface ApplyEventsMessage {
  plugin: string;
  events: EventMessage[];
}

/** `ApplyEventsResponse` as decoded (`applied` absent means 0). */
export interface ApplyEventsReply {
  applied?: number;
}

let definitions: PackageDefinition | undefined;

/**
 * The definitions of proto/plugin.proto (with api.proto, which it imports), loaded once;
 * a receiver can serve `pluginReceiverService()` with them.
 *
 * @example
 * ```ts
 * Object.keys(pluginReceiverService()); // ["ApplyEvents"]
 * ```
 */
export function pluginReceiverService(): ServiceDefinition {
  definitions ??= loadSync(PLUGIN_PROTO, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: false,
    includeDirs: [PROTO_DIR],
  });
  return definitions[PLUGIN_RECEIVER_SERVICE] as ServiceDefinition;
}

/** Where a grpc channel connects, from the stored endpoint URL. */
function target(endpoint: string): { address: string; tls: boolean } {
  const url = new URL(endpoint);
  const tls = url.protocol === "https:";
  return { address: `${url.hostname}:${url.port || (tls ? "443" : "80")}`, tls };
}

/**
 * A grpc sink for the plugin `name`.
 *
 * @example
 * ```ts
 * const sink = grpcSink({ name: "mirror", endpoint: "http://127.0.0.1:50051/", timeoutMs: 5000 });
 * await sink.close();
 * ```
 */
export function grpcSink(settings: { name: string; endpoint: string; timeoutMs: number }): Sink {
  const { address, tls } = target(settings.endpoint);
  // deno-lint-ignore no-explicit-any
  const method = pluginReceiverService().ApplyEvents as MethodDefinition<any, any>;
  let client: Client | undefined;
  const drop = () => {
    client?.close();
    client = undefined;
  };
  const channel = () =>
    client ??= new Client(address, tls ? credentials.createSsl() : credentials.createInsecure(), {
      // A receiver may answer large batches slowly, but never with more than a count.
      "grpc.max_receive_message_length": 1024 * 1024,
      "grpc.max_send_message_length": 64 * 1024 * 1024,
    });

  const apply = (records: readonly EventRecord[], signal: AbortSignal) =>
    new Promise<number>((resolve, reject) => {
      const request: ApplyEventsMessage = {
        plugin: settings.name,
        events: records.map(eventMessage),
      };
      const call = channel().makeUnaryRequest<ApplyEventsMessage, ApplyEventsReply>(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        { deadline: Date.now() + settings.timeoutMs },
        (err: ServiceError | null, reply?: ApplyEventsReply) => {
          signal.removeEventListener("abort", cancel);
          if (err) {
            // A fresh channel next time: grpc-js would otherwise wait out its own reconnect
            // backoff on top of the delivery's.
            drop();
            reject(new Error(`${address}: ${err.details || err.message}`));
          } else resolve(Number(reply?.applied ?? 0));
        },
      );
      const cancel = () => call.cancel();
      if (signal.aborted) cancel();
      else signal.addEventListener("abort", cancel, { once: true });
    });

  return {
    maxBatch: 100,
    async deliver(records, signal) {
      let applied: number;
      try {
        applied = await withTimeout(
          settings.timeoutMs + 1000,
          signal,
          `ApplyEvents on ${address}`,
          (inner) => apply(records, inner),
        );
      } catch (err) {
        throw new DeliveryError(`grpc ${errorText(err)}`, 0);
      }
      if (!Number.isSafeInteger(applied) || applied < 0 || applied > records.length) {
        throw new DeliveryError(
          `grpc ${address}: ApplyEvents answered applied=${applied} for ${records.length} events`,
          0,
        );
      }
      if (applied < records.length) {
        throw new DeliveryError(
          `grpc ${address}: the receiver applied ${applied} of ${records.length} events`,
          applied,
        );
      }
    },
    async check(signal) {
      // A refused connection answers at once here; the channel alone would wait it out.
      const url = new URL(settings.endpoint);
      await checkReachable(
        url.hostname.replace(/^\[|\]$/g, ""),
        Number(address.slice(address.lastIndexOf(":") + 1)),
        settings.timeoutMs,
        signal,
      );
      await withTimeout(
        settings.timeoutMs,
        signal,
        `connecting to ${address}`,
        () =>
          new Promise<void>((resolve, reject) => {
            channel().waitForReady(Date.now() + settings.timeoutMs, (err) => {
              if (err) reject(new Error(`cannot connect to ${address}: ${errorText(err)}`));
              else resolve();
            });
          }),
      );
    },
    close() {
      drop();
      return Promise.resolve();
    },
  };
}
