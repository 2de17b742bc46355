/**
 * Helpers for the backup and restore suites: small data directories built through the real
 * CLI and engine, archives taken apart and put back together (with a tar writer of its own,
 * independent of the one under test, that can also write the hostile entries the reader
 * must refuse), and byte-exact snapshots of a directory tree.
 */
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { Engine } from "../../src/engine/engine.ts";
import { dbx, ok } from "../server/lifecycle_helpers.ts";

export { dbx, ok };

/** A data directory with `aggregates` aggregates of `events` events each, and a schema. */
export async function makeDataDir(dir: string, aggregates = 3, events = 4): Promise<void> {
  ok(
    await dbx([
      "config",
      "--dek",
      btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))),
      "--data-dir",
      dir,
    ]),
    "config",
  );
  ok(
    await dbx(["schema", "create", "patient", "--events", "added,updated", "--data-dir", dir]),
    "schema create",
  );
  ok(
    await dbx(["token", "generate", "--group", "ops", "--user", "ann", "--data-dir", dir]),
    "token",
  );
  const { config } = await loadConfig({ dataDir: dir }, { create: false });
  const engine = await Engine.open({ dataDir: dir, dek: dekBytes(config) });
  try {
    for (let v = 0; v < events; v++) {
      await engine.appendBatch(
        Array.from({ length: aggregates }, (_, a) => ({
          aggregate_type: "patient",
          aggregate_id: `p-${a}`,
          event_type: v === 0 ? "added" : "updated",
          payload: { name: `n${a}`, visit: v, nested: { tags: ["a", "b"], n: v } },
        })),
      );
    }
    await engine.snapshot("patient", "p-0", { comment: "test snapshot" });
  } finally {
    await engine.close();
  }
}

/** One tar member as the tests handle it. */
export interface Member {
  name: string;
  data: Uint8Array;
  /** ustar type flag (default "0", a regular file). */
  type?: string;
  /** Link target for link types. */
  link?: string;
}

/** Read a tar.gz archive into its members (regular files only; others keep their type). */
export function readTarGz(bytes: Uint8Array): Member[] {
  const tar = new Uint8Array(gunzipSync(bytes));
  const out: Member[] = [];
  let at = 0;
  const text = (from: number, len: number) => {
    const field = tar.subarray(from, from + len);
    const end = field.indexOf(0);
    return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
  };
  while (at + 512 <= tar.length) {
    const block = tar.subarray(at, at + 512);
    if (block.every((b) => b === 0)) break;
    const prefix = text(at + 345, 155);
    const base = text(at, 100);
    const size = parseInt(text(at + 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(block[156]);
    const data = tar.slice(at + 512, at + 512 + size);
    out.push({ name: prefix ? `${prefix}/${base}` : base, data, type, link: text(at + 157, 100) });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

function rawHeader(member: Member): Uint8Array {
  const block = new Uint8Array(512);
  const put = (at: number, s: string) => block.set(new TextEncoder().encode(s), at);
  put(0, member.name.slice(0, 100));
  put(100, "0000600\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, member.data.length.toString(8).padStart(11, "0") + "\0");
  put(136, Math.floor(Date.now() / 1000).toString(8).padStart(11, "0") + "\0");
  block.fill(0x20, 148, 156);
  block[156] = (member.type ?? "0").charCodeAt(0);
  if (member.link) put(157, member.link.slice(0, 100));
  put(257, "ustar\0");
  put(263, "00");
  let sum = 0;
  for (const b of block) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

/** Build a tar.gz from members (any names and types: hostile ones too). */
export function writeTarGz(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    parts.push(rawHeader(m), m.data, new Uint8Array((512 - (m.data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const tar = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    tar.set(p, at);
    at += p.length;
  }
  return new Uint8Array(gzipSync(tar));
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Rewrite the manifest's entry for `name` to match `data` (a consistent forgery). */
export function fixManifest(members: Member[]): Member[] {
  const manifest = members.find((m) => m.name === "manifest.json")!;
  const parsed = JSON.parse(new TextDecoder().decode(manifest.data));
  for (const entry of parsed.members) {
    const m = members.find((x) => x.name === entry.name);
    if (m) {
      entry.size = m.data.length;
      entry.sha256 = sha256Hex(m.data);
    }
  }
  manifest.data = new TextEncoder().encode(JSON.stringify(parsed));
  return members;
}

/** Every file and directory under `dir` with its mode, size and SHA-256 (byte-exact). */
export async function snapshotTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    const entries = [];
    for await (const e of Deno.readDir(d)) entries.push(e);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const full = join(d, e.name);
      const info = await Deno.lstat(full);
      const rel = relative(dir, full);
      if (e.isDirectory) {
        out[rel + "/"] = `dir ${(info.mode ?? 0) & 0o777}`;
        await walk(full);
      } else {
        out[rel] = `file ${(info.mode ?? 0) & 0o777} ${info.size} ${
          sha256Hex(await Deno.readFile(full))
        }`;
      }
    }
  };
  await walk(dir);
  return out;
}

/** Every key/value pair of a data directory's store, and its other files, as hex text. */
export async function logicalContent(dir: string): Promise<string[]> {
  const { openRocksStorage } = await import("../../src/store/rocksdb.ts");
  const storage = await openRocksStorage(join(dir, "store"), { readOnly: true });
  const out: string[] = [];
  try {
    for await (const [k, v] of storage.range({})) out.push(`${sha256Hex(k)} ${sha256Hex(v)}`);
  } finally {
    await storage.close();
  }
  for (const name of ["config.toml", "schemas.json", "tokens.json", "node.key"]) {
    try {
      out.push(`${name} ${sha256Hex(await Deno.readFile(join(dir, name)))}`);
    } catch {
      out.push(`${name} missing`);
    }
  }
  return out;
}
