/**
 * Plugin bundles built by the tests: a minimal ustar writer (files, directories, symlinks,
 * any name, also hostile ones), gzip and zip from fflate, and the example plugin's
 * launcher.
 */
import { gzipSync, zipSync } from "fflate";
import { fileURLToPath } from "node:url";
import { currentTarget } from "../../src/plugins/process/platform.ts";

/** One entry to write. */
export interface TarEntry {
  path: string;
  kind?: "file" | "dir" | "symlink";
  data?: string | Uint8Array;
  target?: string;
  mode?: number;
}

const enc = new TextEncoder();

function put(block: Uint8Array, at: number, length: number, value: string): void {
  const bytes = enc.encode(value);
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  block.set(bytes, at);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0");
}

/** A tar of `entries`, as given (names are not checked: tests write hostile ones). */
export function tar(entries: TarEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const kind = e.kind ?? "file";
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array();
    const header = new Uint8Array(512);
    put(header, 0, 100, e.path);
    put(header, 100, 8, octal(e.mode ?? (kind === "dir" ? 0o755 : 0o644), 8));
    put(header, 108, 8, octal(0, 8));
    put(header, 116, 8, octal(0, 8));
    put(header, 124, 12, octal(kind === "file" ? data.length : 0, 12));
    put(header, 136, 12, octal(Math.floor(Date.now() / 1000), 12));
    header.fill(0x20, 148, 156);
    header[156] = (kind === "file" ? "0" : kind === "dir" ? "5" : "2").charCodeAt(0);
    if (e.target) put(header, 157, 100, e.target);
    put(header, 257, 6, "ustar");
    put(header, 263, 2, "00");
    let sum = 0;
    for (const b of header) sum += b;
    put(header, 148, 8, octal(sum, 7) + "\0");
    blocks.push(header);
    if (kind === "file") {
      const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
      padded.set(data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** A tar.gz of `entries`. */
export function tarGz(entries: TarEntry[]): Uint8Array {
  return gzipSync(tar(entries));
}

/** A zip of files (path → content). */
export function zip(files: Record<string, string>): Uint8Array {
  return zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, enc.encode(v)])));
}

/** The directory name of this platform inside a bundle, as a Rust target triple. */
export function platformDir(): string {
  const [os, arch] = currentTarget().split("-");
  return os === "linux"
    ? `${arch}-unknown-linux-gnu`
    : os === "darwin"
    ? `${arch}-apple-darwin`
    : `${arch}-pc-windows-msvc`;
}

/** A platform this machine is not. */
export function otherPlatformDir(): string {
  return currentTarget().startsWith("windows")
    ? "x86_64-unknown-linux-gnu"
    : "x86_64-pc-windows-msvc";
}

const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const EXAMPLE_PLUGIN = `${REPO}scripts/example-plugin/main.ts`;

/** A launcher that runs the example plugin with this Deno (the bundle's `--bin`). */
export function exampleLauncher(): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return "#!/bin/sh\n" +
    `exec ${q(Deno.execPath())} run --quiet --allow-read --allow-write --allow-env ` +
    `--config ${q(`${REPO}deno.json`)} ${q(EXAMPLE_PLUGIN)} "$@"\n`;
}

/** The example plugin's bundle: its launcher `run.sh` under this platform's directory. */
export function exampleBundle(): Uint8Array {
  const dir = platformDir();
  return tarGz([
    { path: `example-1.0.0/`, kind: "dir" },
    { path: `example-1.0.0/${dir}/`, kind: "dir" },
    { path: `example-1.0.0/${dir}/run.sh`, data: exampleLauncher(), mode: 0o755 },
    { path: `example-1.0.0/${dir}/README.txt`, data: "the example plugin\n" },
    { path: `example-1.0.0/${otherPlatformDir()}/run.cmd`, data: "rem other platform\n" },
  ]);
}
