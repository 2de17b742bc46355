/**
 * The entries of a plugin bundle: a zip, a tar, or a gzip-compressed tar, read in memory.
 * Nothing here touches the file system; `install.ts` decides what may be written where.
 * Every structural problem (a truncated header, a bad checksum, a CRC that does not match,
 * an entry kind a bundle has no use for) is one DbxError "invalid_input" naming the entry.
 */
import { gunzipSync, inflateSync } from "fflate";
import { DbxError } from "../../errors.ts";

/** One entry of a bundle, with its path as the archive spells it. */
export interface BundleEntry {
  path: string;
  kind: "file" | "dir" | "symlink";
  /** A file's bytes. */
  data?: Uint8Array;
  /** A symlink's target, as stored. */
  target?: string;
  /** Unix permission bits as stored (0 when the archive has none). */
  mode: number;
}

/** What a bundle may hold at most. */
export interface ArchiveLimits {
  /** Entries. */
  maxEntries: number;
  /** Bytes of all files together, unpacked. */
  maxUnpackedBytes: number;
}

/** Ten thousand entries and 1 GiB unpacked. */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntries: 10_000,
  maxUnpackedBytes: 1 << 30,
};

function corrupt(message: string): DbxError {
  return new DbxError("invalid_input", `the bundle is not a valid archive: ${message}`, {
    reason: "corrupt_archive",
  });
}

const dec = new TextDecoder("utf-8", { fatal: true });

function text(bytes: Uint8Array, what: string): string {
  try {
    return dec.decode(bytes);
  } catch {
    throw corrupt(`${what} is not UTF-8`);
  }
}

/** The archive format of `bytes`, by its first bytes. */
export function archiveFormat(bytes: Uint8Array): "zip" | "gzip" | "tar" | undefined {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) return "zip";
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return "gzip";
  if (bytes.length >= 512 && text(bytes.subarray(257, 262), "tar magic") === "ustar") {
    return "tar";
  }
  return undefined;
}

/**
 * Read every entry of a bundle.
 *
 * @example
 * ```ts
 * import { zipSync } from "fflate";
 * const zip = zipSync({ "plugin": new TextEncoder().encode("#!/bin/sh\n") });
 * readBundle(zip).map((e) => e.path); // ["plugin"]
 * ```
 */
export function readBundle(
  bytes: Uint8Array,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
): BundleEntry[] {
  const format = archiveFormat(bytes);
  if (format === "zip") return readZip(bytes, limits);
  if (format === "tar") return readTar(bytes, limits);
  if (format === "gzip") {
    let tar: Uint8Array;
    try {
      tar = gunzipSync(bytes);
    } catch (err) {
      throw corrupt(`gzip: ${(err as Error).message}`);
    }
    if (archiveFormat(tar) !== "tar") throw corrupt("the gzip stream does not hold a tar");
    return readTar(tar, limits);
  }
  throw corrupt("it is neither a zip, a tar nor a tar.gz");
}

class Budget {
  entries = 0;
  bytes = 0;
  constructor(readonly limits: ArchiveLimits) {}
  add(size: number): void {
    if (++this.entries > this.limits.maxEntries) {
      throw new DbxError("too_large", `the bundle has more than ${this.limits.maxEntries} entries`);
    }
    this.bytes += size;
    if (this.bytes > this.limits.maxUnpackedBytes) {
      throw new DbxError(
        "too_large",
        `the bundle unpacks to more than ${this.limits.maxUnpackedBytes} bytes`,
      );
    }
  }
}

// --- tar (POSIX ustar, with pax and GNU long names) ---

function field(block: Uint8Array, at: number, length: number): Uint8Array {
  const raw = block.subarray(at, at + length);
  const nul = raw.indexOf(0);
  return nul < 0 ? raw : raw.subarray(0, nul);
}

function octal(block: Uint8Array, at: number, length: number, what: string): number {
  if (block[at] & 0x80) throw corrupt(`${what} uses the base-256 form (too large)`);
  const s = new TextDecoder().decode(field(block, at, length)).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw corrupt(`${what} is not an octal number`);
  return parseInt(s, 8);
}

/** The records of a pax extended header (`<length> <key>=<value>\n`). */
function paxRecords(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) throw corrupt("a pax header is malformed");
    const length = Number(new TextDecoder().decode(data.subarray(at, space)));
    if (!Number.isInteger(length) || length <= space - at || at + length > data.length) {
      throw corrupt("a pax header is malformed");
    }
    const record = text(data.subarray(space + 1, at + length - 1), "a pax header");
    const eq = record.indexOf("=");
    if (eq <= 0) throw corrupt("a pax header is malformed");
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return out;
}

function readTar(bytes: Uint8Array, limits: ArchiveLimits): BundleEntry[] {
  const budget = new Budget(limits);
  const out: BundleEntry[] = [];
  let at = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  while (true) {
    if (at + 512 > bytes.length) {
      // Two zero blocks end a tar; some writers stop at the last entry instead.
      if (at === bytes.length) break;
      throw corrupt("truncated tar header");
    }
    const block = bytes.subarray(at, at + 512);
    if (block.every((b) => b === 0)) break;
    const stored = octal(block, 148, 8, "the header checksum");
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
    if (sum !== stored) throw corrupt(`tar header checksum mismatch at byte ${at}`);
    const type = String.fromCharCode(block[156] || 0x30);
    const paxSize = pax.get("size");
    const size = paxSize !== undefined ? Number(paxSize) : octal(block, 124, 12, "a size");
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt("an entry size is invalid");
    const dataAt = at + 512;
    if (dataAt + size > bytes.length) throw corrupt("truncated tar entry");
    const data = bytes.subarray(dataAt, dataAt + size);
    at = dataAt + Math.ceil(size / 512) * 512;

    if (type === "x") {
      pax = paxRecords(data);
      continue;
    }
    if (type === "g") continue; // global pax header: nothing a bundle needs
    if (type === "L" || type === "K") {
      const value = text(field(data, 0, data.length), "a GNU long name");
      if (type === "L") longName = value;
      else longLink = value;
      continue;
    }
    const prefix = text(field(block, 345, 155), "a tar name prefix");
    const name = text(field(block, 0, 100), "a tar name");
    const path = pax.get("path") ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    const link = pax.get("linkpath") ?? longLink ??
      text(field(block, 157, 100), "a tar link name");
    const mode = octal(block, 100, 8, "a mode") & 0o7777;
    pax = new Map();
    longName = longLink = undefined;
    budget.add(type === "0" || type === "7" ? size : 0);
    switch (type) {
      case "0":
      case "7":
        out.push({ path, kind: "file", data: data.slice(), mode });
        break;
      case "5":
        out.push({ path, kind: "dir", mode });
        break;
      case "2":
        out.push({ path, kind: "symlink", target: link, mode });
        break;
      case "1":
        throw new DbxError("invalid_input", `bundle entry ${path} is a hard link`, {
          reason: "unsafe_entry",
        });
      default:
        throw new DbxError(
          "invalid_input",
          `bundle entry ${path} is a device, fifo or other special file (tar type ${type})`,
          { reason: "unsafe_entry" },
        );
    }
  }
  return out;
}

// --- zip ---

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function readZip(bytes: Uint8Array, limits: ArchiveLimits): BundleEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => {
    if (at + 2 > bytes.length) throw corrupt("truncated zip");
    return view.getUint16(at, true);
  };
  const u32 = (at: number) => {
    if (at + 4 > bytes.length) throw corrupt("truncated zip");
    return view.getUint32(at, true);
  };
  // The end-of-central-directory record is in the last 22 + 65535 bytes.
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw corrupt("no zip central directory (truncated?)");
  const count = u16(end + 10);
  const dirSize = u32(end + 12);
  const dirAt = u32(end + 16);
  if (count === 0xffff || dirAt === 0xffffffff) throw corrupt("zip64 archives are not supported");
  if (dirAt + dirSize > end) throw corrupt("the zip central directory is out of bounds");
  const budget = new Budget(limits);
  const out: BundleEntry[] = [];
  let at = dirAt;
  for (let i = 0; i < count; i++) {
    if (u32(at) !== 0x02014b50) throw corrupt("a zip central directory entry is malformed");
    const madeBy = u16(at + 4) >> 8;
    const flags = u16(at + 8);
    const method = u16(at + 10);
    const crc = u32(at + 16);
    const compressed = u32(at + 20);
    const size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    const external = u32(at + 38);
    const localAt = u32(at + 42);
    if (at + 46 + nameLength > bytes.length) throw corrupt("truncated zip");
    const path = text(bytes.subarray(at + 46, at + 46 + nameLength), "a zip entry name");
    at += 46 + nameLength + extraLength + commentLength;

    if (flags & 1) throw corrupt(`zip entry ${path} is encrypted`);
    if (compressed === 0xffffffff || size === 0xffffffff || localAt === 0xffffffff) {
      throw corrupt("zip64 archives are not supported");
    }
    // Unix-made entries keep their type and permissions in the high half.
    const unixMode = madeBy === 3 ? external >>> 16 : 0;
    const type = unixMode & 0o170000;
    budget.add(size);
    if (u32(localAt) !== 0x04034b50) throw corrupt(`zip entry ${path} has no local header`);
    const dataAt = localAt + 30 + u16(localAt + 26) + u16(localAt + 28);
    if (dataAt + compressed > bytes.length) throw corrupt(`zip entry ${path} is truncated`);
    const raw = bytes.subarray(dataAt, dataAt + compressed);
    let data: Uint8Array;
    if (method === 0) data = raw.slice();
    else if (method === 8) {
      try {
        data = inflateSync(raw, { out: new Uint8Array(size) });
      } catch (err) {
        throw corrupt(`zip entry ${path}: ${(err as Error).message}`);
      }
    } else throw corrupt(`zip entry ${path} uses compression method ${method}`);
    if (data.length !== size || crc32(data) !== crc) {
      throw corrupt(`zip entry ${path} fails its CRC check`);
    }
    if (path.endsWith("/") || type === 0o040000) {
      out.push({ path: path.replace(/\/+$/, ""), kind: "dir", mode: unixMode & 0o7777 });
    } else if (type === 0o120000) {
      out.push({ path, kind: "symlink", target: text(data, "a symlink target"), mode: 0 });
    } else if (type === 0 || type === 0o100000) {
      out.push({ path, kind: "file", data, mode: unixMode & 0o7777 });
    } else {
      throw new DbxError("invalid_input", `bundle entry ${path} is a special file`, {
        reason: "unsafe_entry",
      });
    }
  }
  return out;
}
