/**
 * The control protocol's messages as plain data, to and from Cap'n Proto bytes (the
 * generated `schema.ts`). Decoding is where hostile input arrives, so it is careful beyond
 * what the generated readers check:
 *
 * - the segment table is checked before anything is parsed (count, sizes, exact length): a
 *   header claiming four billion segments is refused in constant time;
 * - every read is bounds-checked by capnp-es (pointers outside a segment, far pointers to
 *   missing segments, wrong pointer kinds all throw) and any throw becomes one DbxError
 *   "invalid_input" with `details.reason = "malformed"`;
 * - a traversal budget bounds the bytes of text read from one message (overlapping pointers
 *   could otherwise make a 64 KiB message read gigabytes), and lists are capped in length
 *   (a list of zero-size structs can claim half a billion elements in one word);
 * - short structs (older or smaller schemas) read as defaults; null and empty text are both
 *   "" where the protocol does not tell them apart.
 */
import * as capnp from "capnp-es";
import { DbxError, isDbxError } from "../errors.ts";
import {
  type ControlError,
  ControlHello,
  ControlHelloResponse,
  ControlRequest,
  ControlRequest_Payload_Which as RequestTag,
  ControlResponse,
  ControlResponse_Payload_Which as ResponseTag,
  type PublishTarget,
} from "./schema.ts";

/** The protocol version this server and its client speak. */
export const CONTROL_PROTOCOL_VERSION = 1;
/** Most segments a message may have (real messages have one to three). */
export const MAX_SEGMENTS = 64;
/** Most publish targets and selected fields one request may carry. */
export const MAX_PUBLISH_TARGETS = 64;
export const MAX_SELECT_FIELDS = 1024;
/** Most arguments of one remote command. */
export const MAX_COMMAND_ARGS = 256;

/** The hello, as plain data. */
export interface HelloData {
  protocolVersion: number;
  token: string;
  tenantId: string;
  noNoise: boolean;
}

/** The answer to a hello. */
export interface HelloResponseData {
  accepted: boolean;
  message: string;
  noNoise: boolean;
}

/** One publish target of an append (plugins; the JS client sends none by default). */
export interface PublishTargetData {
  plugin: string;
  mode?: string;
  priority?: string;
}

/** The fields every event-writing request shares. */
export interface EventRequestData {
  token: string;
  aggregateType: string;
  aggregateId: string;
  eventType: string;
  /** payloadJson (append, create) or patchJson (patch). */
  json: string;
  note?: string;
  metadataJson?: string;
  publishTargets: PublishTargetData[];
}

/** A request, as plain data (`kind` is the union member). */
export type RequestBody =
  | {
    kind: "listAggregates";
    cursor?: string;
    take?: number;
    filter?: string;
    sort?: string;
    includeArchived: boolean;
    archivedOnly: boolean;
    token: string;
  }
  | { kind: "getAggregate"; aggregateType: string; aggregateId: string; token: string }
  | {
    kind: "listEvents";
    aggregateType: string;
    aggregateId: string;
    cursor?: string;
    take?: number;
    filter?: string;
    token: string;
  }
  | ({ kind: "appendEvent" | "patchEvent" | "createAggregate" } & EventRequestData)
  | { kind: "verifyAggregate"; aggregateType: string; aggregateId: string }
  | {
    kind: "selectAggregate";
    aggregateType: string;
    aggregateId: string;
    fields: string[];
    token: string;
  }
  | {
    kind: "setAggregateArchive";
    token: string;
    aggregateType: string;
    aggregateId: string;
    archived: boolean;
    note?: string;
  }
  | { kind: "runCommand"; args: string[]; token: string }
  /** A member of the union this server does not serve (schemas, tenants, snapshots …). */
  | { kind: "notServed"; tag: number };

/** A request with its id. */
export interface RequestData {
  id: bigint;
  body: RequestBody;
}

/** A response, as plain data. */
export type ResponseBody =
  | { kind: "listAggregates"; aggregatesJson: string; nextCursor?: string }
  | { kind: "getAggregate"; found: boolean; aggregateJson: string }
  | { kind: "listEvents"; eventsJson: string; nextCursor?: string }
  | { kind: "appendEvent"; eventJson: string }
  | { kind: "verifyAggregate"; merkleRoot: string }
  | { kind: "selectAggregate"; found: boolean; selectionJson: string }
  | { kind: "error"; code: string; message: string }
  | { kind: "createAggregate"; aggregateJson: string }
  | { kind: "setAggregateArchive"; aggregateJson: string }
  | { kind: "runCommand"; exitCode: number; stdout: string; stderr: string };

/** A response with the id of its request. */
export interface ResponseData {
  id: bigint;
  body: ResponseBody;
}

function malformed(what: string): DbxError {
  return new DbxError("invalid_input", `malformed Cap'n Proto message: ${what}`, {
    reason: "malformed",
  });
}

/**
 * The length of the unframed Cap'n Proto stream message at the start of `bytes` (segment
 * table plus segments), or undefined when more bytes are needed to tell. Throws DbxError
 * "invalid_input" for a table no acceptable message has, and "too_large" past `maxBytes`.
 *
 * @example
 * ```ts
 * // One segment of 2 words: 8 bytes of table, 16 of segment.
 * streamMessageLength(new Uint8Array([0, 0, 0, 0, 2, 0, 0, 0]), 1024); // 24
 * ```
 */
export function streamMessageLength(bytes: Uint8Array, maxBytes: number): number | undefined {
  if (bytes.length < 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const segments = view.getUint32(0, true) + 1;
  if (segments > MAX_SEGMENTS) {
    throw malformed(`${segments} segments (at most ${MAX_SEGMENTS})`);
  }
  const tableBytes = 4 + segments * 4 + (segments % 2 === 0 ? 4 : 0);
  if (tableBytes > maxBytes) throw new DbxError("too_large", "message is too large");
  if (bytes.length < tableBytes) return undefined;
  let total = tableBytes;
  for (let i = 0; i < segments; i++) {
    total += view.getUint32(4 + i * 4, true) * 8;
    if (total > maxBytes) {
      throw new DbxError("too_large", `message is larger than ${maxBytes} bytes`, {
        limit: maxBytes,
      });
    }
  }
  return total;
}

/** Open a stream message whose table was checked; its bytes must be exactly the message. */
function openMessage(bytes: Uint8Array): capnp.Message {
  let length: number | undefined;
  try {
    length = streamMessageLength(bytes, bytes.length);
  } catch (err) {
    // Past the bytes at hand is not "too large": the table lies about the message.
    if (!isDbxError(err, "too_large")) throw err;
    throw malformed(`the segment table claims more than the ${bytes.length} bytes given`);
  }
  if (length === undefined) throw malformed("truncated segment table");
  if (length !== bytes.length) {
    throw malformed(`the segments hold ${length} bytes, the message has ${bytes.length}`);
  }
  if (length === 8 || view32(bytes, 4) === 0) throw malformed("the first segment is empty");
  return new capnp.Message(bytes, false, false);
}

function view32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);
}

/** Reads texts and lists within a budget of bytes (the traversal limit of one message). */
class Budget {
  #left: number;

  constructor(messageBytes: number) {
    // Honest messages read each byte about once; leave room for the text headers.
    this.#left = messageBytes * 2 + 4096;
  }

  text(read: () => string): string {
    const value = read();
    this.#left -= value.length + 8;
    if (this.#left < 0) throw malformed("traversal limit exceeded (overlapping pointers?)");
    return value;
  }

  optionalText(has: boolean, read: () => string): string | undefined {
    return has ? this.text(read) : undefined;
  }

  list<T>(list: capnp.List<T>, max: number, what: string): T[] {
    const length = list.length;
    if (length > max) throw malformed(`${what} has ${length} elements (at most ${max})`);
    this.#left -= length * 8;
    if (this.#left < 0) throw malformed("traversal limit exceeded");
    const out: T[] = [];
    for (let i = 0; i < length; i++) out.push(list.get(i));
    return out;
  }
}

/** Run a decoder; anything capnp-es throws becomes one "malformed" error. */
function decoding<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isDbxError(err)) throw err;
    throw malformed((err as Error)?.message?.replace(/^CAPNP-TS\d+\s*/, "") ?? "unreadable");
  }
}

/**
 * Decode a hello.
 *
 * @example
 * ```ts
 * const bytes = encodeHello({ protocolVersion: 1, token: "t", tenantId: "", noNoise: false });
 * decodeHello(bytes).token; // "t"
 * ```
 */
export function decodeHello(bytes: Uint8Array): HelloData {
  return decoding(() => {
    const budget = new Budget(bytes.length);
    const hello = openMessage(bytes).getRoot(ControlHello);
    return {
      protocolVersion: hello.protocolVersion,
      token: budget.text(() => hello.token),
      tenantId: budget.text(() => hello.tenantId),
      noNoise: hello.noNoise,
    };
  });
}

/** Encode a hello (the client's first message). */
export function encodeHello(data: HelloData): Uint8Array {
  const message = new capnp.Message();
  const hello = message.initRoot(ControlHello);
  hello.protocolVersion = data.protocolVersion;
  hello.token = data.token;
  hello.tenantId = data.tenantId;
  hello.noNoise = data.noNoise;
  return new Uint8Array(message.toArrayBuffer());
}

/** Encode the answer to a hello. */
export function encodeHelloResponse(data: HelloResponseData): Uint8Array {
  const message = new capnp.Message();
  const response = message.initRoot(ControlHelloResponse);
  response.accepted = data.accepted;
  response.message = data.message;
  response.noNoise = data.noNoise;
  return new Uint8Array(message.toArrayBuffer());
}

/** Decode the answer to a hello (the client side). */
export function decodeHelloResponse(bytes: Uint8Array): HelloResponseData {
  return decoding(() => {
    const budget = new Budget(bytes.length);
    const response = openMessage(bytes).getRoot(ControlHelloResponse);
    return {
      accepted: response.accepted,
      message: budget.text(() => response.message),
      noNoise: response.noNoise,
    };
  });
}

function take(has: boolean, value: bigint): number | undefined {
  if (!has) return undefined;
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DbxError("invalid_input", "take exceeds platform limits");
  }
  return Number(value);
}

function targets(budget: Budget, list: capnp.List<PublishTarget>): PublishTargetData[] {
  return budget.list(list, MAX_PUBLISH_TARGETS, "publishTargets").map((t) => {
    const out: PublishTargetData = { plugin: budget.text(() => t.plugin) };
    if (t.hasMode) out.mode = budget.text(() => t.mode);
    if (t.hasPriority) out.priority = budget.text(() => t.priority);
    return out;
  });
}

/**
 * Decode a request. A message whose id could be read but whose body could not throws a
 * DbxError with `details.id` (a decimal string) so the error can answer that id.
 *
 * @example
 * ```ts
 * const bytes = encodeRequest({
 *   id: 1n,
 *   body: { kind: "verifyAggregate", aggregateType: "order", aggregateId: "o-1" },
 * });
 * decodeRequest(bytes).body.kind; // "verifyAggregate"
 * ```
 */
export function decodeRequest(bytes: Uint8Array): RequestData {
  let id: bigint | undefined;
  try {
    return decoding(() => {
      const budget = new Budget(bytes.length);
      const root = openMessage(bytes).getRoot(ControlRequest);
      id = root.id;
      return { id, body: decodeBody(root, budget) };
    });
  } catch (err) {
    if (id !== undefined && isDbxError(err)) {
      throw new DbxError(err.code, err.message, { ...err.details, id: id.toString() });
    }
    throw err;
  }
}

function decodeBody(root: ControlRequest, budget: Budget): RequestBody {
  const payload = root.payload;
  const tag = payload.which();
  const text = (read: () => string) => budget.text(read);
  switch (tag) {
    case RequestTag.LIST_AGGREGATES: {
      const r = payload.listAggregates;
      return {
        kind: "listAggregates",
        cursor: budget.optionalText(r.hasCursor, () => r.cursor),
        take: take(r.hasTake, r.take),
        filter: budget.optionalText(r.hasFilter, () => r.filter),
        sort: budget.optionalText(r.hasSort, () => r.sort),
        includeArchived: r.includeArchived,
        archivedOnly: r.archivedOnly,
        token: text(() => r.token),
      };
    }
    case RequestTag.GET_AGGREGATE: {
      const r = payload.getAggregate;
      return {
        kind: "getAggregate",
        aggregateType: text(() => r.aggregateType),
        aggregateId: text(() => r.aggregateId),
        token: text(() => r.token),
      };
    }
    case RequestTag.LIST_EVENTS: {
      const r = payload.listEvents;
      return {
        kind: "listEvents",
        aggregateType: text(() => r.aggregateType),
        aggregateId: text(() => r.aggregateId),
        cursor: budget.optionalText(r.hasCursor, () => r.cursor),
        take: take(r.hasTake, r.take),
        filter: budget.optionalText(r.hasFilter, () => r.filter),
        token: text(() => r.token),
      };
    }
    case RequestTag.APPEND_EVENT:
    case RequestTag.CREATE_AGGREGATE: {
      const r = tag === RequestTag.APPEND_EVENT ? payload.appendEvent : payload.createAggregate;
      return {
        kind: tag === RequestTag.APPEND_EVENT ? "appendEvent" : "createAggregate",
        token: text(() => r.token),
        aggregateType: text(() => r.aggregateType),
        aggregateId: text(() => r.aggregateId),
        eventType: text(() => r.eventType),
        json: text(() => r.payloadJson),
        note: budget.optionalText(r.hasNote, () => r.note),
        metadataJson: budget.optionalText(r.hasMetadata, () => r.metadataJson),
        publishTargets: r.hasPublishTargets ? targets(budget, r.publishTargets) : [],
      };
    }
    case RequestTag.PATCH_EVENT: {
      const r = payload.patchEvent;
      return {
        kind: "patchEvent",
        token: text(() => r.token),
        aggregateType: text(() => r.aggregateType),
        aggregateId: text(() => r.aggregateId),
        eventType: text(() => r.eventType),
        json: text(() => r.patchJson),
        note: budget.optionalText(r.hasNote, () => r.note),
        metadataJson: budget.optionalText(r.hasMetadata, () => r.metadataJson),
        publishTargets: r.hasPublishTargets ? targets(budget, r.publishTargets) : [],
      };
    }
    case RequestTag.VERIFY_AGGREGATE: {
      const r = payload.verifyAggregate;
      return {
        kind: "verifyAggregate",
        aggregateType: text(() => r.aggregateType),
        aggregateId: text(() => r.aggregateId),
      };
    }
    case RequestTag.SELECT_AGGREGATE: {
      const r = payload.selectAggregate;
      return {
        kind: "selectAggregate",
        aggregateType: text(() => r.aggregateType),
        aggregateId: text(() => r.aggregateId),
        fields: budget.list(r.fields, MAX_SELECT_FIELDS, "fields").map((f) => text(() => f)),
        token: text(() => r.token),
      };
    }
    case RequestTag.SET_AGGREGATE_ARCHIVE: {
      const r = payload.setAggregateArchive;
      return {
        kind: "setAggregateArchive",
        token: text(() => r.token),
        aggregateType: text(() => r.aggregateType),
        aggregateId: text(() => r.aggregateId),
        archived: r.archived,
        note: budget.optionalText(r.hasNote, () => r.note),
      };
    }
    case RequestTag.RUN_COMMAND: {
      const r = payload.runCommand;
      return {
        kind: "runCommand",
        args: budget.list(r.args, MAX_COMMAND_ARGS, "args").map((a) => text(() => a)),
        token: text(() => r.token),
      };
    }
    default:
      if (tag >= RequestTag.LIST_SCHEMAS && tag <= RequestTag.READ_OUTBOX) {
        return { kind: "notServed", tag };
      }
      throw malformed(`unknown request union tag ${tag}`);
  }
}

/**
 * Encode a request (the client side: `dbx --remote` and the tests).
 *
 * @example
 * ```ts
 * encodeRequest({ id: 1n, body: { kind: "runCommand", args: ["aggregate", "list"], token: "" } });
 * ```
 */
export function encodeRequest(data: RequestData): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(ControlRequest);
  root.id = data.id;
  const payload = root.payload;
  const b = data.body;
  switch (b.kind) {
    case "listAggregates": {
      const r = payload._initListAggregates();
      if (b.cursor !== undefined) [r.hasCursor, r.cursor] = [true, b.cursor];
      if (b.take !== undefined) [r.hasTake, r.take] = [true, BigInt(b.take)];
      if (b.filter !== undefined) [r.hasFilter, r.filter] = [true, b.filter];
      if (b.sort !== undefined) [r.hasSort, r.sort] = [true, b.sort];
      r.includeArchived = b.includeArchived;
      r.archivedOnly = b.archivedOnly;
      r.token = b.token;
      break;
    }
    case "getAggregate": {
      const r = payload._initGetAggregate();
      [r.aggregateType, r.aggregateId, r.token] = [b.aggregateType, b.aggregateId, b.token];
      break;
    }
    case "listEvents": {
      const r = payload._initListEvents();
      [r.aggregateType, r.aggregateId, r.token] = [b.aggregateType, b.aggregateId, b.token];
      if (b.cursor !== undefined) [r.hasCursor, r.cursor] = [true, b.cursor];
      if (b.take !== undefined) [r.hasTake, r.take] = [true, BigInt(b.take)];
      if (b.filter !== undefined) [r.hasFilter, r.filter] = [true, b.filter];
      break;
    }
    case "appendEvent":
    case "createAggregate":
    case "patchEvent": {
      const r = b.kind === "appendEvent"
        ? payload._initAppendEvent()
        : b.kind === "createAggregate"
        ? payload._initCreateAggregate()
        : payload._initPatchEvent();
      r.token = b.token;
      r.aggregateType = b.aggregateType;
      r.aggregateId = b.aggregateId;
      r.eventType = b.eventType;
      if ("patchJson" in r) r.patchJson = b.json;
      else r.payloadJson = b.json;
      if (b.note !== undefined) [r.hasNote, r.note] = [true, b.note];
      if (b.metadataJson !== undefined) [r.hasMetadata, r.metadataJson] = [true, b.metadataJson];
      if (b.publishTargets.length > 0) {
        r.hasPublishTargets = true;
        const list = r._initPublishTargets(b.publishTargets.length);
        b.publishTargets.forEach((t, i) => {
          const target = list.get(i);
          target.plugin = t.plugin;
          if (t.mode !== undefined) [target.hasMode, target.mode] = [true, t.mode];
          if (t.priority !== undefined) [target.hasPriority, target.priority] = [true, t.priority];
        });
      }
      break;
    }
    case "verifyAggregate": {
      const r = payload._initVerifyAggregate();
      [r.aggregateType, r.aggregateId] = [b.aggregateType, b.aggregateId];
      break;
    }
    case "selectAggregate": {
      const r = payload._initSelectAggregate();
      [r.aggregateType, r.aggregateId, r.token] = [b.aggregateType, b.aggregateId, b.token];
      const fields = r._initFields(b.fields.length);
      b.fields.forEach((f, i) => fields.set(i, f));
      break;
    }
    case "setAggregateArchive": {
      const r = payload._initSetAggregateArchive();
      [r.token, r.aggregateType, r.aggregateId] = [b.token, b.aggregateType, b.aggregateId];
      r.archived = b.archived;
      if (b.note !== undefined) [r.hasNote, r.note] = [true, b.note];
      break;
    }
    case "runCommand": {
      const r = payload._initRunCommand();
      const args = r._initArgs(b.args.length);
      b.args.forEach((a, i) => args.set(i, a));
      r.token = b.token;
      break;
    }
    case "notServed":
      throw new DbxError("invalid_input", "cannot encode a request this server does not serve");
  }
  return new Uint8Array(message.toArrayBuffer());
}

/**
 * Encode a response.
 *
 * @example
 * ```ts
 * encodeResponse({ id: 1n, body: { kind: "error", code: "aggregate_not_found", message: "…" } });
 * ```
 */
export function encodeResponse(data: ResponseData): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(ControlResponse);
  root.id = data.id;
  const payload = root.payload;
  const b = data.body;
  switch (b.kind) {
    case "listAggregates": {
      const r = payload._initListAggregates();
      r.aggregatesJson = b.aggregatesJson;
      if (b.nextCursor !== undefined) [r.hasNextCursor, r.nextCursor] = [true, b.nextCursor];
      break;
    }
    case "getAggregate": {
      const r = payload._initGetAggregate();
      r.found = b.found;
      r.aggregateJson = b.aggregateJson;
      break;
    }
    case "listEvents": {
      const r = payload._initListEvents();
      r.eventsJson = b.eventsJson;
      if (b.nextCursor !== undefined) [r.hasNextCursor, r.nextCursor] = [true, b.nextCursor];
      break;
    }
    case "appendEvent":
      payload._initAppendEvent().eventJson = b.eventJson;
      break;
    case "verifyAggregate":
      payload._initVerifyAggregate().merkleRoot = b.merkleRoot;
      break;
    case "selectAggregate": {
      const r = payload._initSelectAggregate();
      r.found = b.found;
      r.selectionJson = b.selectionJson;
      break;
    }
    case "error": {
      const r: ControlError = payload._initError();
      r.code = b.code;
      r.message = b.message;
      break;
    }
    case "createAggregate":
      payload._initCreateAggregate().aggregateJson = b.aggregateJson;
      break;
    case "setAggregateArchive":
      payload._initSetAggregateArchive().aggregateJson = b.aggregateJson;
      break;
    case "runCommand": {
      const r = payload._initRunCommand();
      r.exitCode = b.exitCode;
      r.stdout = b.stdout;
      r.stderr = b.stderr;
      break;
    }
  }
  return new Uint8Array(message.toArrayBuffer());
}

/**
 * Decode a response (the client side).
 *
 * @example
 * ```ts
 * const bytes = encodeResponse({ id: 7n, body: { kind: "verifyAggregate", merkleRoot: "ab" } });
 * decodeResponse(bytes); // { id: 7n, body: { kind: "verifyAggregate", merkleRoot: "ab" } }
 * ```
 */
export function decodeResponse(bytes: Uint8Array): ResponseData {
  return decoding(() => {
    const budget = new Budget(bytes.length);
    const root = openMessage(bytes).getRoot(ControlResponse);
    const payload = root.payload;
    const text = (read: () => string) => budget.text(read);
    const id = root.id;
    switch (payload.which()) {
      case ResponseTag.LIST_AGGREGATES: {
        const r = payload.listAggregates;
        return {
          id,
          body: {
            kind: "listAggregates",
            aggregatesJson: text(() => r.aggregatesJson),
            nextCursor: budget.optionalText(r.hasNextCursor, () => r.nextCursor),
          },
        };
      }
      case ResponseTag.GET_AGGREGATE: {
        const r = payload.getAggregate;
        return {
          id,
          body: {
            kind: "getAggregate",
            found: r.found,
            aggregateJson: text(() => r.aggregateJson),
          },
        };
      }
      case ResponseTag.LIST_EVENTS: {
        const r = payload.listEvents;
        return {
          id,
          body: {
            kind: "listEvents",
            eventsJson: text(() => r.eventsJson),
            nextCursor: budget.optionalText(r.hasNextCursor, () => r.nextCursor),
          },
        };
      }
      case ResponseTag.APPEND_EVENT:
        return {
          id,
          body: { kind: "appendEvent", eventJson: text(() => payload.appendEvent.eventJson) },
        };
      case ResponseTag.VERIFY_AGGREGATE:
        return {
          id,
          body: {
            kind: "verifyAggregate",
            merkleRoot: text(() => payload.verifyAggregate.merkleRoot),
          },
        };
      case ResponseTag.SELECT_AGGREGATE: {
        const r = payload.selectAggregate;
        return {
          id,
          body: {
            kind: "selectAggregate",
            found: r.found,
            selectionJson: text(() => r.selectionJson),
          },
        };
      }
      case ResponseTag.ERROR: {
        const r = payload.error;
        return {
          id,
          body: { kind: "error", code: text(() => r.code), message: text(() => r.message) },
        };
      }
      case ResponseTag.CREATE_AGGREGATE:
        return {
          id,
          body: {
            kind: "createAggregate",
            aggregateJson: text(() => payload.createAggregate.aggregateJson),
          },
        };
      case ResponseTag.SET_AGGREGATE_ARCHIVE:
        return {
          id,
          body: {
            kind: "setAggregateArchive",
            aggregateJson: text(() => payload.setAggregateArchive.aggregateJson),
          },
        };
      case ResponseTag.RUN_COMMAND: {
        const r = payload.runCommand;
        return {
          id,
          body: {
            kind: "runCommand",
            exitCode: r.exitCode,
            stdout: text(() => r.stdout),
            stderr: text(() => r.stderr),
          },
        };
      }
      default:
        throw malformed(`unexpected response union tag ${payload.which()}`);
    }
  });
}
