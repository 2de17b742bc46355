/**
 * Installed process plugins: `<data_dir>/plugins/<plugin>/<version>/<target>/` holds the
 * bundle's files for this platform, and `<target>.json` next to it says which file is the
 * binary (with the bundle's sha256). Installing checks the whole bundle before it writes
 * anything, unpacks into a temporary directory beside the final one and renames it into
 * place, so a refused bundle leaves nothing behind and a running plugin never sees half
 * an install.
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { DbxError, isDbxError } from "../../errors.ts";
import { checkLabel } from "../../util/label.ts";
import { readJsonFile, writeJsonFile } from "../../util/json_file.ts";
import { checkPluginVersion } from "../plugin.ts";
import { type BundleEntry, readBundle } from "./archive.ts";
import { currentPlatform, currentTarget, parsePlatform, targetName } from "./platform.ts";

/** Largest bundle accepted (bytes, packed). */
export const MAX_BUNDLE_BYTES = 256 << 20;

/** What an install wrote. */
export interface InstalledPlugin {
  plugin: string;
  version: string;
  target: string;
  /** The binary, relative to `path`. */
  bin: string;
  /** The directory of the installed files. */
  path: string;
  sha256: string;
  files: number;
  installed_at: string;
  /** True when an installed version was replaced (`force`). */
  replaced: boolean;
}

/** How to install one bundle. */
export interface InstallRequest {
  plugin: string;
  version: string;
  bytes: Uint8Array;
  /** The binary's path inside the bundle's platform directory (default: the plugin id). */
  bin?: string;
  /** Expected sha256 of `bytes`, hex. */
  checksum?: string;
  force?: boolean;
}

function refused(message: string, reason: string): DbxError {
  return new DbxError("invalid_input", message, { reason });
}

/** The directory of a plugin's version. */
export function versionDir(dataDir: string, plugin: string, version: string): string {
  return join(dataDir, "plugins", plugin, version);
}

/**
 * The sha256 of `bytes`, in hex.
 *
 * @example
 * ```ts
 * await sha256Hex(new Uint8Array()); // "e3b0c442…b855"
 * ```
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Check a checksum as `--checksum` takes it: 64 hex digits, optionally after `sha256:`.
 *
 * @example
 * ```ts
 * checkChecksum("sha256:" + "AB".repeat(32)); // "abab…ab"
 * ```
 */
export function checkChecksum(value: unknown): string {
  if (typeof value !== "string") throw refused("checksum must be a string", "invalid_checksum");
  const hex = value.trim().replace(/^sha256:/i, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw refused("checksum must be a sha256 of 64 hex digits", "invalid_checksum");
  }
  return hex;
}

/**
 * A path inside the bundle as safe relative segments; refused when it is absolute, holds
 * `..`, a backslash, a drive letter or a control character.
 */
function segments(path: string, what: string): string[] {
  // deno-lint-ignore no-control-regex
  if (path === "" || /[\u0000-\u001f\u007f\\]/.test(path)) {
    throw refused(`${what} ${JSON.stringify(path)} is not a valid path`, "unsafe_entry");
  }
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) {
    throw refused(`${what} ${JSON.stringify(path)} is an absolute path`, "unsafe_entry");
  }
  const parts = path.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.includes("..")) {
    throw refused(
      `${what} ${JSON.stringify(path)} escapes the plugin directory (..)`,
      "unsafe_entry",
    );
  }
  return parts;
}

interface Placed {
  entry: BundleEntry;
  /** Segments relative to the target directory. */
  parts: string[];
}

/** Top-level directories that name a platform, with the platform's target name. */
function platformDirs(placed: Placed[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of new Set(placed.map((p) => p.parts[0]))) {
    const isDir = placed.some((p) => p.parts[0] === name && p.parts.length > 1) ||
      placed.some((p) => p.parts.length === 1 && p.parts[0] === name && p.entry.kind === "dir");
    const platform = isDir ? parsePlatform(name) : undefined;
    if (platform) out.set(name, targetName(platform));
  }
  return out;
}

/**
 * The entries for this platform, relative to the target directory: a bundle with
 * platform directories at its top (or inside one wrapping directory) gives this
 * platform's; a bundle without any is taken as built for this platform.
 */
function choosePlatform(entries: BundleEntry[]): Placed[] {
  let placed = entries.map((entry) => ({ entry, parts: segments(entry.path, "bundle entry") }))
    .filter((p) => p.parts.length > 0);
  let platforms = platformDirs(placed);
  // One directory around the platform directories (`example-1.0.0/…`) is only packaging.
  const top = new Set(placed.map((p) => p.parts[0]));
  if (
    platforms.size === 0 && top.size === 1 &&
    placed.every((p) => p.parts.length > 1 || p.entry.kind === "dir")
  ) {
    const inner = placed.map((p) => ({ ...p, parts: p.parts.slice(1) }))
      .filter((p) => p.parts.length > 0);
    const found = platformDirs(inner);
    if (found.size > 0) {
      placed = inner;
      platforms = found;
    }
  }
  if (platforms.size === 0) return placed;
  const here = currentPlatform();
  const mine = [...platforms].filter(([, t]) => here && t === targetName(here));
  if (mine.length === 0) {
    throw refused(
      `the bundle holds builds for ${[...new Set(platforms.values())].join(", ")} only; ` +
        `this machine is ${currentTarget()}`,
      "wrong_platform",
    );
  }
  if (mine.length > 1) {
    throw refused(
      `the bundle holds more than one build for ${currentTarget()} (${
        mine.map(([n]) => n).join(", ")
      })`,
      "wrong_platform",
    );
  }
  const dir = mine[0][0];
  return placed.filter((p) => p.parts[0] === dir && p.parts.length > 1)
    .map((p) => ({ ...p, parts: p.parts.slice(1) }));
}

/** Refuse symlinks whose target leaves the target directory (or is absolute). */
function checkLinks(placed: Placed[]): void {
  for (const { entry, parts } of placed) {
    if (entry.kind !== "symlink") continue;
    const target = entry.target ?? "";
    if (target === "" || target.startsWith("/") || /^[A-Za-z]:/.test(target)) {
      throw refused(
        `bundle entry ${entry.path} is a symlink to ${JSON.stringify(target)} outside the ` +
          "plugin directory",
        "unsafe_entry",
      );
    }
    const depth: string[] = parts.slice(0, -1);
    for (const s of target.split("/")) {
      if (s === "" || s === ".") continue;
      if (s === "..") {
        if (depth.length === 0) {
          throw refused(
            `bundle entry ${entry.path} is a symlink to ${
              JSON.stringify(target)
            } outside the plugin directory`,
            "unsafe_entry",
          );
        }
        depth.pop();
      } else depth.push(s);
    }
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch { /* not there */ }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Remove `dir` and its parents up to (not including) `stop` while they are empty. */
async function pruneEmpty(dir: string, stop: string): Promise<void> {
  for (let d = dir; resolve(d) !== resolve(stop) && d.startsWith(stop); d = dirname(d)) {
    try {
      await Deno.remove(d); // fails unless empty
    } catch {
      return;
    }
  }
}

/**
 * Install a bundle for this platform.
 *
 * @example
 * ```ts
 * const bytes = await Deno.readFile("example-1.0.0.tar.gz");
 * const installed = await installBundle("/tmp/db", {
 *   plugin: "example",
 *   version: "1.0.0",
 *   bytes,
 *   bin: "run.sh",
 * });
 * installed.path; // "/tmp/db/plugins/example/1.0.0/linux-x86_64"
 * ```
 */
export async function installBundle(
  dataDir: string,
  request: InstallRequest,
): Promise<InstalledPlugin> {
  const plugin = checkLabel("plugin", request.plugin);
  const version = checkPluginVersion(request.version);
  if (request.bytes.length > MAX_BUNDLE_BYTES) {
    throw new DbxError("too_large", `a bundle is at most ${MAX_BUNDLE_BYTES} bytes`);
  }
  const sha256 = await sha256Hex(request.bytes);
  if (request.checksum !== undefined) {
    const expected = checkChecksum(request.checksum);
    if (expected !== sha256) {
      throw refused(
        `checksum mismatch: the bundle's sha256 is ${sha256}, expected ${expected}`,
        "checksum_mismatch",
      );
    }
  }
  const placed = choosePlatform(readBundle(request.bytes));
  checkLinks(placed);
  const seen = new Map<string, BundleEntry["kind"]>();
  for (const { entry, parts } of placed) {
    const key = parts.join("/");
    const before = seen.get(key);
    if (before !== undefined && !(before === "dir" && entry.kind === "dir")) {
      throw refused(`bundle entry ${entry.path} is given twice`, "unsafe_entry");
    }
    seen.set(key, entry.kind);
  }
  const binParts = segments(request.bin ?? plugin, "--bin");
  const bin = binParts.join("/");
  const binEntry = placed.find((p) => p.parts.join("/") === bin)?.entry;
  if (!binEntry || binEntry.kind !== "file") {
    throw refused(
      request.bin === undefined
        ? `the bundle has no file ${plugin} for ${currentTarget()}; name its binary with --bin`
        : `the bundle has no file ${bin} for ${currentTarget()} (--bin)`,
      "missing_binary",
    );
  }

  const target = currentTarget();
  const root = join(dataDir, "plugins");
  const versionPath = versionDir(dataDir, plugin, version);
  const finalPath = join(versionPath, target);
  const manifestPath = join(versionPath, `${target}.json`);
  const replaced = await exists(finalPath);
  if (replaced && !request.force) {
    throw new DbxError(
      "conflict",
      `plugin ${plugin} ${version} is installed already (${finalPath}); --force replaces it`,
    );
  }
  const existedBefore = await exists(versionPath);
  await Deno.mkdir(versionPath, { recursive: true, mode: 0o700 });
  const staging = join(versionPath, `.installing-${target}-${crypto.randomUUID()}`);
  const old = join(versionPath, `.replaced-${target}-${crypto.randomUUID()}`);
  try {
    await Deno.mkdir(staging, { mode: 0o700 });
    for (const { entry, parts } of placed) {
      const path = join(staging, ...parts);
      await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      if (entry.kind === "dir") {
        await Deno.mkdir(path, { recursive: true, mode: 0o700 });
        await Deno.chmod(path, 0o700);
      } else if (entry.kind === "symlink") {
        await Deno.symlink(entry.target!, path);
      } else {
        const mode = parts.join("/") === bin ? 0o700 : 0o600;
        await Deno.writeFile(path, entry.data!, { mode, createNew: true });
        await Deno.chmod(path, mode); // the umask may have taken bits off
      }
    }
    // A symlink created earlier in the list cannot have redirected a write outside:
    // every link points inside, checked above. Check the binary resolves inside too.
    const real = await Deno.realPath(join(staging, ...binParts));
    if (!real.startsWith((await Deno.realPath(staging)) + "/")) {
      throw refused(`--bin ${bin} leads outside the plugin directory`, "unsafe_entry");
    }
    await Deno.chmod(real, 0o700);
    if (replaced) await Deno.rename(finalPath, old);
    await Deno.rename(staging, finalPath);
    const installed: InstalledPlugin = {
      plugin,
      version,
      target,
      bin,
      path: finalPath,
      sha256,
      files: placed.filter((p) => p.entry.kind === "file").length,
      installed_at: new Date().toISOString(),
      replaced,
    };
    const { path: _p, replaced: _r, ...manifest } = installed;
    await writeJsonFile(manifestPath, manifest);
    await removeQuietly(old);
    return installed;
  } catch (err) {
    await removeQuietly(staging);
    if (replaced && !(await exists(finalPath)) && (await exists(old))) {
      await Deno.rename(old, finalPath).catch(() => {});
    }
    if (!existedBefore) await pruneEmpty(versionPath, root);
    throw err;
  }
}

/** The installed binary of a plugin version, for this platform. */
export interface InstalledBinary {
  /** Absolute path of the binary. */
  path: string;
  /** Its directory (the default working directory). */
  dir: string;
}

/**
 * Where the binary of an installed plugin version is; DbxError "not_found" when that
 * version is not installed for this platform.
 *
 * @example
 * ```ts
 * const { path } = await installedBinary("/tmp/db", "example", "1.0.0");
 * ```
 */
export async function installedBinary(
  dataDir: string,
  plugin: string,
  version: string,
): Promise<InstalledBinary> {
  const target = currentTarget();
  const dir = resolve(versionDir(dataDir, plugin, version), target);
  const manifestPath = join(versionDir(dataDir, plugin, version), `${target}.json`);
  const notInstalled = () =>
    new DbxError(
      "not_found",
      `plugin ${plugin} ${version} is not installed for ${target}; ` +
        `install it with dbx plugin install ${plugin} ${version} --source <bundle>`,
    );
  let manifest: unknown;
  try {
    manifest = await readJsonFile(manifestPath);
  } catch (err) {
    if (isDbxError(err, "not_found")) throw notInstalled();
    throw err;
  }
  if (manifest === undefined) throw notInstalled();
  const bin = (manifest as { bin?: unknown }).bin;
  if (typeof bin !== "string") {
    throw new DbxError("corrupt", `${manifestPath} does not name the plugin's binary`);
  }
  const path = join(dir, ...segments(bin, "the binary"));
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error("not a file");
    if (Deno.build.os !== "windows" && ((info.mode ?? 0) & 0o100) === 0) {
      throw new DbxError("unavailable", `the plugin binary ${path} is not executable`);
    }
  } catch (err) {
    if (err instanceof DbxError) throw err;
    throw new DbxError("not_found", `the plugin binary ${path} is missing; install it again`);
  }
  return { path, dir };
}

/** Longest wait for a bundle fetched from a URL. */
export const FETCH_TIMEOUT_MS = 120_000;

/**
 * Check a bundle's source: an absolute path or an http(s) URL.
 *
 * @example
 * ```ts
 * checkSource("/tmp/example-1.0.0.tar.gz"); // "/tmp/example-1.0.0.tar.gz"
 * ```
 */
export function checkSource(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > 4096) {
    throw new DbxError("invalid_input", "source must be a path or an http(s) URL");
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new DbxError("invalid_input", "source is not a valid URL");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new DbxError("invalid_input", "a source URL must be http:// or https://");
    }
    return url.href;
  }
  if (value.includes("\u0000")) throw new DbxError("invalid_input", "source is not a valid path");
  if (!isAbsolute(value)) {
    throw new DbxError("invalid_input", "source must be an absolute path or an http(s) URL");
  }
  return value;
}

/**
 * The bytes of a bundle: a local file, or what an http(s) URL answers (at most
 * MAX_BUNDLE_BYTES either way).
 *
 * @example
 * ```ts
 * const bytes = await readSource("/tmp/example-1.0.0.tar.gz");
 * ```
 */
export async function readSource(source: string): Promise<Uint8Array> {
  const tooLarge = () => new DbxError("too_large", `a bundle is at most ${MAX_BUNDLE_BYTES} bytes`);
  if (!/^https?:\/\//.test(source)) {
    try {
      const info = await Deno.stat(source);
      if (!info.isFile) throw new DbxError("invalid_input", `${source} is not a file`);
      if (info.size > MAX_BUNDLE_BYTES) throw tooLarge();
      return await Deno.readFile(source);
    } catch (err) {
      if (err instanceof DbxError) throw err;
      if (err instanceof Deno.errors.NotFound) {
        throw new DbxError("not_found", `no bundle at ${source}`);
      }
      throw new DbxError("unavailable", `cannot read ${source}: ${(err as Error).message}`);
    }
  }
  let response: Response;
  try {
    response = await fetch(source, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (err) {
    throw new DbxError("unavailable", `cannot fetch ${source}: ${(err as Error).message}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DbxError("unavailable", `fetching ${source} answered ${response.status}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
    total += chunk.length;
    if (total > MAX_BUNDLE_BYTES) {
      await response.body?.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
