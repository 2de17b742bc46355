/**
 * Key layout in the one RocksDB keyspace. A one-byte prefix names the family;
 * names are joined by 0x00, which names can never contain; numbers are 8-byte
 * big-endian so that byte order is numeric order.
 *
 *   M<name>                          meta (last position, DEK check)
 *   H<type>\0<id>                    aggregate head (plaintext JSON) and sealed state
 *   E<type>\0<id>\0<version>         event
 *   P<position>                      run of events committed by one write, from <position>
 *   I<type>\0<id>\0<event_id>        idempotency (caller-chosen ids) -> version
 *   N<type>\0<id>\0<version>         snapshot (sealed)
 *   C<counter>                       write-limit counter
 */
const enc = new TextEncoder();
const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

export const PREFIX = {
  meta: 0x4d, // M
  head: 0x48, // H
  event: 0x45, // E
  position: 0x50, // P
  idempotency: 0x49, // I
  snapshot: 0x4e, // N
  counter: 0x43, // C
} as const;

/** Write `n` (a safe integer) big-endian into `out[at..at+8]`. */
export function writeU64(out: Uint8Array, at: number, n: number): void {
  // Numbers here are safe integers (< 2^53): split into two 32-bit halves.
  const high = Math.floor(n / 0x1_0000_0000);
  const low = n >>> 0;
  out[at] = high >>> 24;
  out[at + 1] = (high >>> 16) & 0xff;
  out[at + 2] = (high >>> 8) & 0xff;
  out[at + 3] = high & 0xff;
  out[at + 4] = low >>> 24;
  out[at + 5] = (low >>> 16) & 0xff;
  out[at + 6] = (low >>> 8) & 0xff;
  out[at + 7] = low & 0xff;
}

export function readU64(bytes: Uint8Array, offset = 0): number {
  const high = ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
  const low = ((bytes[offset + 4] << 24) | (bytes[offset + 5] << 16) | (bytes[offset + 6] << 8) |
    bytes[offset + 7]) >>> 0;
  return high * 0x1_0000_0000 + low;
}

export function encodeU64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  writeU64(out, 0, n);
  return out;
}

/** prefix || part (|| 0x00 || tail) in one allocation. */
function join(prefix: number, part: Uint8Array, tail?: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + part.length + (tail ? 1 + tail.length : 0));
  out[0] = prefix;
  out.set(part, 1);
  if (tail) out.set(tail, 2 + part.length);
  return out;
}

/** prefix || part || 0x00 || u64(n) in one allocation. */
function joinU64(prefix: number, part: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(1 + part.length + 9);
  out[0] = prefix;
  out.set(part, 1);
  writeU64(out, 2 + part.length, n);
  return out;
}

/** `<type>\0<id>`: identifies an aggregate inside other keys. */
export function aggregatePart(type: string, id: string): Uint8Array {
  return enc.encode(`${type}\u0000${id}`);
}

export const metaKey = (name: string) => join(PREFIX.meta, enc.encode(name));
export const headKey = (type: string, id: string) => join(PREFIX.head, aggregatePart(type, id));
export const eventKey = (type: string, id: string, version: number) =>
  joinU64(PREFIX.event, aggregatePart(type, id), version);
export const positionKey = (position: number) => {
  const out = new Uint8Array(9);
  out[0] = PREFIX.position;
  writeU64(out, 1, position);
  return out;
};
export const idempotencyKey = (type: string, id: string, eventId: string) =>
  join(PREFIX.idempotency, aggregatePart(type, id), enc.encode(eventId));
export const snapshotKey = (type: string, id: string, version: number) =>
  joinU64(PREFIX.snapshot, aggregatePart(type, id), version);
export const counterKey = (name: string) => join(PREFIX.counter, enc.encode(name));

/** Key builders for one aggregate whose `<type>\0<id>` part is already encoded. */
export const partKeys = {
  head: (part: Uint8Array) => join(PREFIX.head, part),
  event: (part: Uint8Array, version: number) => joinU64(PREFIX.event, part, version),
  snapshot: (part: Uint8Array, version: number) => joinU64(PREFIX.snapshot, part, version),
  idempotency: (part: Uint8Array, eventId: string) =>
    join(PREFIX.idempotency, part, enc.encode(eventId)),
};

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
  const prefix = join(PREFIX.event, aggregatePart(type, id), EMPTY);
  return { gte: prefix, lt: prefixEnd(prefix) };
}

/** Keys of all snapshots of one aggregate: [start, end). */
export function snapshotRange(type: string, id: string): { gte: Uint8Array; lt: Uint8Array } {
  const prefix = join(PREFIX.snapshot, aggregatePart(type, id), EMPTY);
  return { gte: prefix, lt: prefixEnd(prefix) };
}

/** Heads of every aggregate, or of one type: [start, end). */
export function headRange(type?: string): { gte: Uint8Array; lt: Uint8Array } {
  const prefix = type === undefined
    ? Uint8Array.of(PREFIX.head)
    : join(PREFIX.head, enc.encode(type), EMPTY);
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
