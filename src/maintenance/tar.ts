/**
 * A small ustar (POSIX.1-1988) writer and a strict streaming reader, enough for the archives
 * this program makes itself: backups and release archives. The writer emits regular files
 * only (optionally executable); the reader accepts regular files only and refuses, with a
 * clear message, anything a hostile archive could use to write outside its target: absolute
 * paths, `..`, drive letters, backslashes, links, devices, long-name extensions, bad
 * checksums, sizes that do not fit, and an archive that ends before its end-of-archive
 * blocks.
 */
import { DbxError } from "../errors.ts";

/** Size of one tar block. */
export const BLOCK = 512;
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
const ZERO_BLOCKS = new Uint8Array(BLOCK * 2);

/** One member as the writer is given it. */
export interface TarEntry {
  name: string;
  size: number;
  /** Permission bits (default 0o600). */
  mode?: number;
  /** Modification time (default now). */
  mtime?: Date;
}

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL terminator.
  const digits = value.toString(8);
  if (digits.length > width - 1) throw new RangeError(`${value} does not fit a tar field`);
  return digits.padStart(width - 1, "0") + "\0";
}

function putString(block: Uint8Array, at: number, width: number, text: string): void {
  const bytes = enc.encode(text);
  if (bytes.length > width) throw new RangeError(`"${text}" does not fit a tar field`);
  block.set(bytes, at);
}

/**
 * The 512-byte ustar header of a regular file.
 *
 * @example
 * ```ts
 * const header = tarHeader({ name: "manifest.json", size: 42 });
 * header.length; // 512
 * ```
 */
export function tarHeader(entry: TarEntry): Uint8Array {
  checkMemberName(entry.name);
  const nameBytes = enc.encode(entry.name);
  let name = entry.name;
  let prefix = "";
  if (nameBytes.length > 100) {
    // ustar splits a long path at a slash: prefix (155) / name (100).
    const cut = entry.name.lastIndexOf("/", 155);
    if (cut <= 0 || enc.encode(entry.name.slice(cut + 1)).length > 100) {
      throw new RangeError(`member name ${entry.name} is too long for ustar`);
    }
    prefix = entry.name.slice(0, cut);
    name = entry.name.slice(cut + 1);
  }
  const block = new Uint8Array(BLOCK);
  putString(block, 0, 100, name);
  putString(block, 100, 8, octal(entry.mode ?? 0o600, 8));
  putString(block, 108, 8, octal(0, 8));
  putString(block, 116, 8, octal(0, 8));
  putString(block, 124, 12, octal(entry.size, 12));
  const mtime = Math.floor((entry.mtime ?? new Date()).getTime() / 1000);
  putString(block, 136, 12, octal(Math.max(0, mtime), 12));
  block.fill(0x20, 148, 156); // checksum counted as spaces
  block[156] = 0x30; // '0': regular file
  putString(block, 257, 6, "ustar\0");
  putString(block, 263, 2, "00");
  putString(block, 345, 155, prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i];
  putString(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

/** Zero bytes that pad a member of `size` bytes to a whole block. */
export function tarPadding(size: number): Uint8Array {
  const rest = size % BLOCK;
  return rest === 0 ? new Uint8Array(0) : new Uint8Array(BLOCK - rest);
}

/** The two zero blocks that end an archive. */
export function tarEnd(): Uint8Array {
  return ZERO_BLOCKS;
}

/**
 * One whole member (header, data, padding) as bytes.
 *
 * @example
 * ```ts
 * const bytes = tarMember({ name: "dbx", mode: 0o755 }, new TextEncoder().encode("#!/bin/sh\n"));
 * ```
 */
export function tarMember(entry: Omit<TarEntry, "size">, data: Uint8Array): Uint8Array {
  const header = tarHeader({ ...entry, size: data.length });
  const pad = tarPadding(data.length);
  const out = new Uint8Array(header.length + data.length + pad.length);
  out.set(header, 0);
  out.set(data, header.length);
  return out;
}

/**
 * Refuse a member name that could escape the directory it is extracted into, or that is
 * not a plain relative path: absolute paths, `..` or `.` parts, empty parts, backslashes,
 * drive letters, control characters.
 *
 * @example
 * ```ts
 * checkMemberName("store/000001.kv"); // ok
 * checkMemberName("../etc/passwd");   // throws DbxError("invalid_input")
 * ```
 */
export function checkMemberName(name: string): void {
  const bad = (why: string) =>
    new DbxError("invalid_input", `unsafe path in the archive: ${JSON.stringify(name)} ${why}`);
  if (name === "") throw bad("is empty");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw bad("contains control characters");
  if (name.startsWith("/")) throw bad("is an absolute path");
  if (name.includes("\\")) throw bad("contains a backslash");
  if (/^[A-Za-z]:/.test(name)) throw bad("starts with a drive letter");
  for (const part of name.split("/")) {
    if (part === "..") throw bad("leaves the target directory (..)");
    if (part === "." || part === "") throw bad("is not a plain relative path");
  }
}

/** A member header as read. */
export interface TarMemberHeader {
  name: string;
  size: number;
  mode: number;
}

function readString(block: Uint8Array, at: number, width: number): string {
  const field = block.subarray(at, at + width);
  const end = field.indexOf(0);
  try {
    return dec.decode(end === -1 ? field : field.subarray(0, end));
  } catch {
    throw corrupt("a member name is not UTF-8");
  }
}

function readOctal(block: Uint8Array, at: number, width: number, what: string): number {
  if (block[at] & 0x80) throw corrupt(`the ${what} of a member uses an unsupported encoding`);
  const text = readString(block, at, width).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw corrupt(`the ${what} of a member is not a number`);
  const n = parseInt(text, 8);
  if (!Number.isSafeInteger(n)) throw corrupt(`the ${what} of a member is too large`);
  return n;
}

function corrupt(why: string): DbxError {
  return new DbxError("corrupt", `the archive is damaged or not a tar.gz archive: ${why}`);
}

const TYPE_NAMES: Record<string, string> = {
  "1": "a hard link",
  "2": "a symbolic link",
  "3": "a character device",
  "4": "a block device",
  "5": "a directory",
  "6": "a FIFO",
  "7": "a contiguous file",
  "x": "a pax extended header",
  "g": "a pax global header",
  "L": "a GNU long name",
  "K": "a GNU long link name",
};

/**
 * Parse and check one header block; undefined for a zero block (the end of the archive).
 *
 * @example
 * ```ts
 * parseTarHeader(tarHeader({ name: "a.txt", size: 3 })); // { name: "a.txt", size: 3, mode: 0o600 }
 * ```
 */
export function parseTarHeader(block: Uint8Array): TarMemberHeader | undefined {
  if (block.every((b) => b === 0)) return undefined;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  const stored = readOctal(block, 148, 8, "checksum");
  if (stored !== sum) throw corrupt("a member header's checksum does not match");
  const magic = readString(block, 257, 6);
  if (magic !== "ustar" && magic !== "ustar ") throw corrupt("a member header is not ustar");
  const prefix = readString(block, 345, 155);
  const base = readString(block, 0, 100);
  const name = prefix ? `${prefix}/${base}` : base;
  const type = String.fromCharCode(block[156]);
  if (type !== "0" && type !== "\0") {
    const link = readString(block, 157, 100);
    const what = TYPE_NAMES[type] ?? `an entry of type ${JSON.stringify(type)}`;
    const target = link ? ` to ${JSON.stringify(link)}` : "";
    throw new DbxError(
      "invalid_input",
      `the archive holds ${what} (${
        JSON.stringify(name)
      }${target}): only regular files are allowed`,
    );
  }
  checkMemberName(name);
  return {
    name,
    size: readOctal(block, 124, 12, "size"),
    mode: readOctal(block, 100, 8, "mode") & 0o7777,
  };
}

/** What the reader does with each member: its header, then its data in pieces. */
export interface TarSink {
  /** A member begins. */
  begin(header: TarMemberHeader): void | Promise<void>;
  /** Some of its data (a view valid only during the call). */
  data(bytes: Uint8Array): void | Promise<void>;
  /** It ended. */
  end(header: TarMemberHeader): void | Promise<void>;
}

/**
 * A push parser: feed it the decompressed archive in pieces of any size, then `finish()`,
 * which throws when the archive ended early (a truncated archive).
 *
 * @example
 * ```ts
 * const names: string[] = [];
 * const reader = new TarReader({ begin: (h) => void names.push(h.name), data() {}, end() {} });
 * await reader.push(tarMember({ name: "a.txt" }, new Uint8Array(3)));
 * await reader.push(tarEnd());
 * reader.finish(); // names: ["a.txt"]
 * ```
 */
export class TarReader {
  readonly #sink: TarSink;
  #header = new Uint8Array(BLOCK);
  #headerFill = 0;
  #member: TarMemberHeader | undefined;
  #left = 0;
  #pad = 0;
  #zeroBlocks = 0;
  #ended = false;

  constructor(sink: TarSink) {
    this.#sink = sink;
  }

  /** True once both end-of-archive blocks were read. */
  get ended(): boolean {
    return this.#ended;
  }

  async push(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (this.#ended) {
        // Anything but zero padding after the end of the archive is not ours.
        for (; at < bytes.length; at++) {
          if (bytes[at] !== 0) throw corrupt("data follows the end of the archive");
        }
        return;
      }
      if (this.#member) {
        const n = Math.min(this.#left, bytes.length - at);
        if (n > 0) await this.#sink.data(bytes.subarray(at, at + n));
        at += n;
        this.#left -= n;
        if (this.#left === 0) {
          const member = this.#member;
          this.#member = undefined;
          this.#pad = (BLOCK - (member.size % BLOCK)) % BLOCK;
          await this.#sink.end(member);
        }
        continue;
      }
      if (this.#pad > 0) {
        const n = Math.min(this.#pad, bytes.length - at);
        at += n;
        this.#pad -= n;
        continue;
      }
      const n = Math.min(BLOCK - this.#headerFill, bytes.length - at);
      this.#header.set(bytes.subarray(at, at + n), this.#headerFill);
      this.#headerFill += n;
      at += n;
      if (this.#headerFill < BLOCK) continue;
      this.#headerFill = 0;
      const header = parseTarHeader(this.#header);
      if (!header) {
        if (++this.#zeroBlocks === 2) this.#ended = true;
        continue;
      }
      if (this.#zeroBlocks > 0) throw corrupt("a member follows an end-of-archive block");
      await this.#sink.begin(header);
      if (header.size === 0) {
        await this.#sink.end(header);
        continue;
      }
      this.#member = header;
      this.#left = header.size;
    }
  }

  /** The input ended: throws unless the archive was complete. */
  finish(): void {
    if (!this.#ended) {
      throw new DbxError(
        "corrupt",
        "the archive is truncated: it ends before its end-of-archive marker",
      );
    }
  }
}
