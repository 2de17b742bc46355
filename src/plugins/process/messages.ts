/**
 * The messages of the process plugin protocol (`proto/plugin.capnp`) as plain data, to and
 * from Cap'n Proto stream messages, and a reader that takes them one by one off a byte
 * stream (a plugin's stdout, or EventDBX's pipe on the plugin's side). The segment table
 * is checked before a message is parsed (`streamMessageLength`), so a plugin writing
 * garbage gets a protocol error, not a huge allocation.
 */
import * as capnp from "capnp-es";
import { streamMessageLength } from "../../control_protocol/messages.ts";
import type { EventRecord } from "../../engine/types.ts";
import { DbxError } from "../../errors.ts";
import { Ack, PluginMessage, PluginMessage_Payload_Which as Which } from "./schema.ts";

/** The protocol version of this server's messages. */
export const PLUGIN_PROTOCOL_VERSION = 1;
/** Largest acknowledgement read from a plugin. */
export const MAX_ACK_BYTES = 64 << 10;
/** Largest message a plugin should expect from EventDBX (events are at most this). */
export const MAX_MESSAGE_BYTES = 64 << 20;

/** The first message to a plugin. */
export interface HelloData {
  protocolVersion: number;
  instance: string;
  plugin: string;
  version: string;
}

/** One event as a plugin gets it: the record, the aggregate's state after it, its schema. */
export interface EventDeliveryData {
  record: EventRecord;
  state: Record<string, unknown>;
  /** The schema of the record's aggregate type, if it has one. */
  schema?: unknown;
}

/** A decoded message to a plugin. */
export type PluginMessageData =
  | { sequence: bigint; kind: "hello"; hello: HelloData }
  | {
    sequence: bigint;
    kind: "event";
    record: EventRecord;
    state: Record<string, unknown>;
    stateVersion: number;
    schemaJson: string;
  };

/** A plugin's acknowledgement. */
export interface AckData {
  sequence: bigint;
  ok: boolean;
  error?: string;
}

function malformed(what: string): DbxError {
  return new DbxError("invalid_input", `malformed plugin message: ${what}`, {
    reason: "malformed",
  });
}

function open(bytes: Uint8Array, max: number): capnp.Message {
  const length = streamMessageLength(bytes, max);
  if (length !== bytes.length) throw malformed("the segment table does not match its bytes");
  return new capnp.Message(bytes, false, false);
}

/**
 * Encode the hello (sequence 0).
 *
 * @example
 * ```ts
 * const bytes = encodeHello({ protocolVersion: 1, instance: "x", plugin: "p", version: "1.0.0" });
 * decodePluginMessage(bytes).kind; // "hello"
 * ```
 */
export function encodeHello(hello: HelloData): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(PluginMessage);
  root.sequence = 0n;
  const h = root.payload._initHello();
  h.protocolVersion = hello.protocolVersion;
  h.instance = hello.instance;
  h.plugin = hello.plugin;
  h.version = hello.version;
  return new Uint8Array(message.toArrayBuffer());
}

/**
 * Encode one event delivery.
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../../engine/types.ts";
 * declare const record: EventRecord;
 * const bytes = encodeEvent(1n, { record, state: { name: "Jane" } });
 * ```
 */
export function encodeEvent(sequence: bigint, delivery: EventDeliveryData): Uint8Array {
  const { record } = delivery;
  const message = new capnp.Message();
  const root = message.initRoot(PluginMessage);
  root.sequence = sequence;
  const event = root.payload._initEvent();
  const r = event._initRecord();
  r.aggregateType = record.aggregate_type;
  r.aggregateId = record.aggregate_id;
  r.eventType = record.event_type;
  r.version = BigInt(record.version);
  r.position = BigInt(record.position);
  r.eventId = record.metadata.event_id;
  r.createdAt = record.metadata.created_at;
  r.payloadJson = JSON.stringify(record.payload);
  r.metadataJson = JSON.stringify(record.metadata);
  r.hash = record.hash;
  r.merkleRoot = record.merkle_root;
  r.recordJson = JSON.stringify(record);
  const s = event._initState();
  s.version = BigInt(record.version);
  s.stateJson = JSON.stringify(delivery.state);
  event.schemaJson = delivery.schema === undefined ? "" : JSON.stringify(delivery.schema);
  return new Uint8Array(message.toArrayBuffer());
}

function json<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw malformed(`${what} is not JSON`);
  }
}

/**
 * Decode a message to a plugin (what a plugin written with this module does).
 *
 * @example
 * ```ts
 * const bytes = encodeHello({ protocolVersion: 1, instance: "x", plugin: "p", version: "1.0.0" });
 * decodePluginMessage(bytes).sequence; // 0n
 * ```
 */
export function decodePluginMessage(bytes: Uint8Array): PluginMessageData {
  try {
    const root = open(bytes, MAX_MESSAGE_BYTES).getRoot(PluginMessage);
    const sequence = root.sequence;
    const payload = root.payload;
    switch (payload.which()) {
      case Which.HELLO: {
        const h = payload.hello;
        return {
          sequence,
          kind: "hello",
          hello: {
            protocolVersion: h.protocolVersion,
            instance: h.instance,
            plugin: h.plugin,
            version: h.version,
          },
        };
      }
      case Which.EVENT: {
        const e = payload.event;
        return {
          sequence,
          kind: "event",
          record: json<EventRecord>(e.record.recordJson, "recordJson"),
          state: json<Record<string, unknown>>(e.state.stateJson, "stateJson"),
          stateVersion: Number(e.state.version),
          schemaJson: e.schemaJson,
        };
      }
      default:
        throw malformed(`unknown payload ${payload.which()}`);
    }
  } catch (err) {
    if (err instanceof DbxError) throw err;
    throw malformed((err as Error).message);
  }
}

/**
 * Encode an acknowledgement (what a plugin sends back).
 *
 * @example
 * ```ts
 * decodeAck(encodeAck({ sequence: 3n, ok: true })).sequence; // 3n
 * ```
 */
export function encodeAck(ack: AckData): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(Ack);
  root.sequence = ack.sequence;
  root.ok = ack.ok;
  if (ack.error !== undefined) root.error = ack.error;
  return new Uint8Array(message.toArrayBuffer());
}

/**
 * Decode an acknowledgement; its error text is cut at 500 characters.
 *
 * @example
 * ```ts
 * decodeAck(encodeAck({ sequence: 1n, ok: false, error: "disk full" })).error; // "disk full"
 * ```
 */
export function decodeAck(bytes: Uint8Array): AckData {
  try {
    const root = open(bytes, MAX_ACK_BYTES).getRoot(Ack);
    const out: AckData = { sequence: root.sequence, ok: root.ok };
    const error = root.error.slice(0, 500);
    if (error !== "") out.error = error;
    return out;
  } catch (err) {
    if (err instanceof DbxError) throw err;
    throw malformed((err as Error).message);
  }
}

/**
 * Stream messages read one at a time from a byte stream.
 *
 * @example
 * ```ts
 * const reader = new MessageReader(Deno.stdin.readable, 1 << 20);
 * const bytes = await reader.next(); // undefined at the end of the stream
 * ```
 */
export class MessageReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = new Uint8Array(0);
  readonly #max: number;

  constructor(stream: ReadableStream<Uint8Array>, maxBytes: number) {
    this.#reader = stream.getReader();
    this.#max = maxBytes;
  }

  /** The next whole message, or undefined once the stream ended between messages. */
  async next(): Promise<Uint8Array | undefined> {
    while (true) {
      const length = streamMessageLength(this.#buffer, this.#max);
      if (length !== undefined && this.#buffer.length >= length) {
        const message = this.#buffer.slice(0, length);
        this.#buffer = this.#buffer.subarray(length);
        return message;
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        if (this.#buffer.length === 0) return undefined;
        throw malformed("the stream ended inside a message");
      }
      const joined = new Uint8Array(this.#buffer.length + value.length);
      joined.set(this.#buffer);
      joined.set(value, this.#buffer.length);
      this.#buffer = joined;
    }
  }

  /** Stop reading (the stream is cancelled). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
