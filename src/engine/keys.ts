/**
 * Key layout in the one RocksDB keyspace. A one-byte prefix names the family;
 * names are joined by 0x00, which names can never contain; numbers are 8-byte
 * big-endian so that byte order is numeric order.
 *
 *   M<name>                          meta (last position, DEK check)
 *   H<type>\0<id>                    aggregate head (plaintext JSON)
 *   S<type>\0<id>                    aggregate state (sealed)
 *   E<type>\0<id>\0<version>         event
 *   P<position>                      global order -> <type>\0<id>\0<version>
 *   I<type>\0<id>\0<event_id>        idempotency -> version
 *   N<type>\0<id>\0<version>         snapshot (sealed)
 *   C<counter>                       write-limit counter
 */
import { Buffer } from "node:buffer";

const enc = new TextEncoder();
const dec = new TextDecoder();

export const PREFIX = {
  meta: 0x4d, // M
  head: 0x48, // H
  state: 0x53, // S
  event: 0x45, // E
  position: 0x50, // P
  idempotency: 0x49, // I
  snapshot: 0x4e, // N
  counter: 0x43, // C
} as const;

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

export function readU64(bytes: Uint8Array, offset = 0): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getBigUint64(offset));
}

export function encodeU64(n: number): Uint8Array {
  return u64(n);
}

function join(prefix: number, ...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat([Buffer.of(prefix), ...parts]);
}

const SEP = Uint8Array.of(0);

/** `<type>\0<id>`: identifies an aggregate inside other keys. */
export function aggregatePart(type: string, id: string): Uint8Array {
  return Buffer.concat([enc.encode(type), SEP, enc.encode(id)]);
}

export const metaKey = (name: string) => join(PREFIX.meta, enc.encode(name));
export const headKey = (type: string, id: string) => join(PREFIX.head, aggregatePart(type, id));
export const stateKey = (type: string, id: string) => join(PREFIX.state, aggregatePart(type, id));
export const eventKey = (type: string, id: string, version: number) =>
  join(PREFIX.event, aggregatePart(type, id), SEP, u64(version));
export const positionKey = (position: number) => join(PREFIX.position, u64(position));
export const idempotencyKey = (type: string, id: string, eventId: string) =>
  join(PREFIX.idempotency, aggregatePart(type, id), SEP, enc.encode(eventId));
export const snapshotKey = (type: string, id: string, version: number) =>
  join(PREFIX.snapshot, aggregatePart(type, id), SEP, u64(version));
export const counterKey = (name: string) => join(PREFIX.counter, enc.encode(name));

/** Smallest key after every key that starts with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Uint8Array.of(0xff, 0xff, 0xff, 0xff);
}

/** Keys of all events of one aggregate: [start, end). */
export function eventRange(type: string, id: string): { gte: Uint8Array; lt: Uint8Array } {
  const prefix = join(PREFIX.event, aggregatePart(type, id), SEP);
  return { gte: prefix, lt: prefixEnd(prefix) };
}

/** Keys of all snapshots of one aggregate: [start, end). */
export function snapshotRange(type: string, id: string): { gte: Uint8Array; lt: Uint8Array } {
  const prefix = join(PREFIX.snapshot, aggregatePart(type, id), SEP);
  return { gte: prefix, lt: prefixEnd(prefix) };
}

/** Heads of every aggregate, or of one type: [start, end). */
export function headRange(type?: string): { gte: Uint8Array; lt: Uint8Array } {
  const prefix = type === undefined
    ? Uint8Array.of(PREFIX.head)
    : join(PREFIX.head, enc.encode(type), SEP);
  return { gte: prefix, lt: prefixEnd(prefix) };
}

/** Split `<type>\0<id>` (optionally followed by `\0<u64>`). */
export function parseAggregatePart(
  bytes: Uint8Array,
): { type: string; id: string; version?: number } {
  const first = bytes.indexOf(0);
  const type = dec.decode(bytes.subarray(0, first));
  const rest = bytes.subarray(first + 1);
  // Ids contain no NUL, so the last 9 bytes are `\0<u64>` when a version follows.
  if (rest.length >= 9 && rest[rest.length - 9] === 0) {
    return {
      type,
      id: dec.decode(rest.subarray(0, rest.length - 9)),
      version: readU64(rest, rest.length - 8),
    };
  }
  return { type, id: dec.decode(rest) };
}
