/**
 * The gRPC surface over the one API: `eventdbx.api.EventService` (proto/api.proto), the
 * standard health service and server reflection, on a `@grpc/grpc-js` server. Handlers are
 * thin adapters: name the caller from the `authorization` metadata, decode the request,
 * call one API operation, encode the result; a failure is a gRPC status from the one table
 * in status.ts.
 *
 * Requests are decoded by the handlers, not by grpc-js: bytes that are no valid message
 * then answer INVALID_ARGUMENT (grpc-js itself would say INTERNAL), after the token was
 * checked, as REST checks the token before blaming the body.
 */
import { eventMessage } from "../protobuf/event_message.ts";
import {
  Metadata,
  type sendUnaryData,
  Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  status as Status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { constants as http2Constants } from "node:http2";
import type { Api, Subscription } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import type { OperationName } from "../api/operations.ts";
import { DbxError, isDbxError } from "../errors.ts";
import { callerOf } from "./auth.ts";
import {
  aggregateMessage,
  aggregateRefInput,
  appendInput,
  getAggregateInput,
  listAggregatesInput,
  listEventsInput,
  verifyMessage,
} from "./messages.ts";
import { EVENT_SERVICE, loadProtos, type Method } from "./proto.ts";
import { grpcStatus } from "./status.ts";

// grpc-js answers an HTTP/2 request that is not gRPC with this status, which Deno's
// node:http2 does not define (the answer would be an empty 200 instead of 415).
(http2Constants as { HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE?: number })
  .HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE ??= 415;

/** Largest request message unless configured (the same as REST's largest body). */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 << 20;

export interface GrpcServiceOptions {
  api: Api;
  /** Largest request message in bytes (larger ones answer RESOURCE_EXHAUSTED). */
  maxMessageBytes?: number;
  /** A connection with no call for this long is closed (the gate leaves HTTP/2 alone). */
  idleTimeoutMs?: number;
  /** Longest wait between checks of a subscription's token (default 5 s). */
  recheckMs?: number;
}

/** A gRPC server over an API, not yet bound. */
export interface GrpcService {
  readonly server: Server;
  /**
   * Stop: end open subscriptions (UNAVAILABLE, the client resumes elsewhere), refuse new
   * calls, let in-flight calls finish for up to `graceMs`, then cut what is left. True when
   * everything finished in time.
   */
  shutdown(graceMs: number): Promise<boolean>;
}

type UnaryCall = ServerUnaryCall<Buffer, unknown>;
type StreamCall = ServerWritableStream<Buffer, unknown>;
type Reply = sendUnaryData<unknown>;

/** Whether the API refuses this caller (so that a bad token wins over bad input). */
async function refusedCaller(api: Api, caller: Caller): Promise<DbxError | undefined> {
  try {
    await api.call(caller, "describeCaller", {});
    return undefined;
  } catch (err) {
    return isDbxError(err, "unauthorized") ? err : undefined;
  }
}

/**
 * Build the gRPC server over `api`.
 *
 * @example
 * ```ts
 * import { ServerCredentials } from "@grpc/grpc-js";
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const grpc = createGrpcService({ api });
 * grpc.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), () => {});
 * await grpc.shutdown(10_000);
 * ```
 */
export function createGrpcService(options: GrpcServiceOptions): GrpcService {
  const { api } = options;
  const protos = loadProtos();
  const recheckMs = options.recheckMs ?? 5_000;
  const server = new Server({
    "grpc.max_receive_message_length": options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    "grpc.max_connection_idle_ms": options.idleTimeoutMs ?? 60_000,
    "grpc.max_concurrent_streams": 1024,
    // Channelz (grpc-js's per-call statistics for its admin service) is not served here, and
    // tracking it costs every call.
    "grpc.enable_channelz": 0,
  });
  // Ends every subscription at shutdown (they never end on their own).
  const stopping = new AbortController();

  /** The EventService with requests handed over as bytes (decoded by the handlers). */
  const events: Record<string, Method> = {};
  const decoders = new Map<string, Method["requestDeserialize"]>();
  for (const [name, method] of Object.entries(protos.events as Record<string, Method>)) {
    decoders.set(name, method.requestDeserialize);
    events[name] = { ...method, requestDeserialize: (bytes: Buffer) => bytes };
  }

  /** The request of method `name` decoded; DbxError "invalid_input" for bytes that are not one. */
  const decode = <T>(name: string, bytes: Buffer): T => {
    try {
      return decoders.get(name)!(bytes) as T;
    } catch {
      throw new DbxError(
        "invalid_input",
        `the request is not a valid ${EVENT_SERVICE}.${name} message`,
      );
    }
  };

  const fail = (method: string, err: unknown) => {
    const status = grpcStatus(err);
    if (status.serverFault) {
      const detail = err instanceof DbxError
        ? `${err.code}: ${err.message}`
        : (err as Error)?.stack ?? err;
      console.error(`error: gRPC ${method} failed:`, detail);
    }
    return { code: status.code, details: status.details, metadata: status.metadata };
  };

  /**
   * A unary method: caller → decoded request → `handle` (the API call) → reply. Input the
   * surface itself refuses (bytes, JSON text) answers only once the token is known good.
   */
  const unary = <T>(
    name: string,
    handle: (caller: Caller, request: T) => Promise<unknown>,
  ) =>
  async (call: UnaryCall, reply: Reply) => {
    let caller: Caller | undefined;
    try {
      caller = callerOf(call.metadata);
      let request: T;
      try {
        request = decode<T>(name, call.request);
        reply(null, await handle(caller, request));
        return;
      } catch (err) {
        if (!isDbxError(err, "invalid_input")) throw err;
        throw (await refusedCaller(api, caller)) ?? err;
      }
    } catch (err) {
      reply(fail(name, err));
    }
  };

  /** Run `name` for `caller`: the input was made for this call alone. */
  const run = <N extends OperationName>(caller: Caller, name: N, input: unknown) =>
    api.call(caller, name, input as never, { owned: true });

  const handlers: UntypedServiceImplementation = {
    Health: (call: UnaryCall, reply: Reply) => {
      try {
        decode("Health", call.request);
        reply(null, { status: "ok" });
      } catch (err) {
        reply(fail("Health", err));
      }
    },
    AppendEvent: unary(
      "AppendEvent",
      async (caller, request: Parameters<typeof appendInput>[0]) => {
        const { event, created } = await run(caller, "appendEvent", appendInput(request));
        return { event: eventMessage(event), created };
      },
    ),
    AppendEvents: unary(
      "AppendEvents",
      async (caller, request: { events?: Parameters<typeof appendInput>[0][] }) => {
        const input = (request.events ?? []).map((e, i) => appendInput(e, `event ${i + 1}`));
        const result = await run(caller, "appendEvents", { events: input });
        return { events: result.events.map(eventMessage), created: result.created };
      },
    ),
    ListAggregates: unary("ListAggregates", async (caller, request) => {
      const page = await run(caller, "listAggregates", listAggregatesInput(request as object));
      return {
        aggregates: page.items.map(aggregateMessage),
        ...(page.next === undefined ? {} : { next: page.next }),
      };
    }),
    GetAggregate: unary("GetAggregate", async (caller, request) => {
      const record = await run(caller, "getAggregate", getAggregateInput(request as object));
      return { aggregate: aggregateMessage(record) };
    }),
    ListEvents: unary("ListEvents", async (caller, request) => {
      const page = await run(caller, "listEvents", listEventsInput(request as object));
      return {
        events: page.items.map(eventMessage),
        ...(page.next === undefined ? {} : { next: page.next }),
      };
    }),
    VerifyAggregate: unary("VerifyAggregate", async (caller, request) => {
      const result = await run(caller, "verifyAggregate", aggregateRefInput(request as object));
      return verifyMessage(result);
    }),
    SubscribeEvents: (call: StreamCall) => subscribeEvents(call),
  };

  /** SubscribeEvents: the API's subscription (the engine's feed) written to the stream. */
  const subscribeEvents = async (call: StreamCall) => {
    const name = "SubscribeEvents";
    let subscription: Subscription | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const end = () => {
      ended = true;
      subscription?.close();
      wake?.();
    };
    call.on("cancelled", end);
    stopping.signal.addEventListener("abort", end, { once: true });
    const finish = (err?: unknown) => {
      stopping.signal.removeEventListener("abort", end);
      if (call.cancelled) return;
      if (err !== undefined) call.emit("error", fail(name, err));
      else if (stopping.signal.aborted) {
        call.emit("error", fail(name, new DbxError("unavailable", "the server is shutting down")));
      } else call.end();
    };
    try {
      const caller = callerOf(call.metadata);
      let request: { after?: number };
      try {
        request = decode(name, call.request);
      } catch (err) {
        throw (await refusedCaller(api, caller)) ?? err;
      }
      if (stopping.signal.aborted) throw new DbxError("unavailable", "the server is shutting down");
      subscription = await api.subscribe(
        caller,
        request.after === undefined ? {} : { after: request.after },
      );
      if (ended) subscription.close();
      // The response headers say "subscribed": every event committed from now on follows.
      else call.sendMetadata(new Metadata());
      while (!ended) {
        const records = await subscription.next(recheckMs);
        if (records === null) break;
        for (const record of records) {
          if (ended) break;
          if (!call.write(eventMessage(record))) {
            // The client reads slower than events come: wait for it (nothing more is pulled).
            const drained = Promise.withResolvers<void>();
            wake = drained.resolve;
            call.once("drain", drained.resolve);
            await drained.promise;
            call.removeListener("drain", drained.resolve);
            wake = undefined;
          }
        }
      }
      finish();
    } catch (err) {
      subscription?.close();
      finish(err);
    }
  };

  server.addService(events as ServiceDefinition, handlers);
  addHealthService(server, protos.health, stopping.signal);
  new ReflectionService(protos.package).addToServer(server);

  let closing: Promise<boolean> | undefined;
  return {
    server,
    shutdown(graceMs) {
      closing ??= (async () => {
        stopping.abort();
        const done = new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true)));
        let timer: ReturnType<typeof setTimeout> | undefined;
        const expired = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), graceMs);
        });
        const drained = await Promise.race([done, expired]);
        clearTimeout(timer);
        if (!drained) server.forceShutdown();
        return drained;
      })();
      return closing;
    },
  };
}

/**
 * `grpc.health.v1.Health`: SERVING for the server ("") and the EventService until shutdown
 * begins, NOT_SERVING after; NOT_FOUND (Watch: SERVICE_UNKNOWN) for other names. Probes need
 * no token.
 */
function addHealthService(server: Server, health: ServiceDefinition, stopping: AbortSignal) {
  const known = new Set(["", EVENT_SERVICE]);
  const now = () => stopping.aborted ? "NOT_SERVING" : "SERVING";
  server.addService(health, {
    Check: (call: ServerUnaryCall<{ service?: string }, unknown>, reply: Reply) => {
      const service = call.request.service ?? "";
      if (!known.has(service)) {
        reply({ code: Status.NOT_FOUND, details: `unknown service ${JSON.stringify(service)}` });
        return;
      }
      reply(null, { status: now() });
    },
    Watch: (call: ServerWritableStream<{ service?: string }, unknown>) => {
      const service = call.request.service ?? "";
      const isKnown = known.has(service);
      call.write({ status: isKnown ? now() : "SERVICE_UNKNOWN" });
      // The stream stays open for later changes; the only change is the shutdown, which
      // also ends it (an open watch must not hold the shutdown up).
      const changed = () => {
        if (call.cancelled) return;
        if (isKnown) call.write({ status: "NOT_SERVING" });
        call.end();
      };
      if (stopping.aborted) {
        call.end();
        return;
      }
      stopping.addEventListener("abort", changed, { once: true });
      call.on("cancelled", () => stopping.removeEventListener("abort", changed));
    },
  });
}
