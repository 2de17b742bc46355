/**
 * Installing a release over the running binary: download the platform's archive, check its
 * published SHA-256, take the binary out, make sure it runs (`--version`), then rename it
 * over the old one in one step. The old binary is kept beside it (`<binary>.old`) until the
 * new one has run `--version` in its place; if it does not, the old one is put back.
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { unzipSync } from "fflate";
import { gunzipSync } from "node:zlib";
import { DbxError } from "../errors.ts";
import { TarReader } from "../maintenance/tar.ts";
import {
  apiGet,
  assetName,
  CHECKSUMS_ASSET,
  readLimited,
  type Release,
  type ReleaseAsset,
} from "./releases.ts";

/** Largest archive downloaded. */
const MAX_ARCHIVE_BYTES = 1 << 30;
/** How long the new binary may take to print its version. */
const VERSION_CHECK_MS = 30_000;

/** What an upgrade will do, before it does it. */
export interface UpgradePlan {
  release: Release;
  asset: ReleaseAsset;
  /** The published SHA-256 of the archive. */
  sha256: string;
  /** Where it came from: the release's SHA256SUMS, or the API's asset digest. */
  checksumSource: string;
}

/**
 * The asset of `release` for `target` and its published checksum; a clear error when the
 * release has no build for the target or publishes no checksum for it.
 */
export async function planUpgrade(release: Release, target: string): Promise<UpgradePlan> {
  const name = assetName(target);
  const asset = release.assets.find((a) => a.name === name);
  if (!asset) {
    throw new DbxError(
      "not_found",
      `release ${release.tag} has no build for ${target} (no asset ${name})`,
    );
  }
  const sums = release.assets.find((a) => a.name === CHECKSUMS_ASSET);
  if (sums) {
    const response = await apiGet(sums.url, {
      accept: "application/octet-stream",
      notFound: `the ${CHECKSUMS_ASSET} of release ${release.tag} cannot be downloaded`,
    });
    const text = new TextDecoder().decode(await readLimited(response, 1 << 20, CHECKSUMS_ASSET));
    const sha256 = checksumFor(text, name);
    if (!sha256) {
      throw new DbxError(
        "integrity",
        `the ${CHECKSUMS_ASSET} of release ${release.tag} has no checksum for ${name}`,
      );
    }
    return { release, asset, sha256, checksumSource: CHECKSUMS_ASSET };
  }
  const digest = /^sha256:([0-9a-f]{64})$/i.exec(asset.digest ?? "");
  if (digest) return { release, asset, sha256: digest[1].toLowerCase(), checksumSource: "digest" };
  throw new DbxError(
    "integrity",
    `release ${release.tag} publishes no SHA-256 for ${name}: refusing to install it`,
  );
}

/**
 * The checksum of `name` in a `sha256sum` file (`<hex>  <name>` or `<hex> *<name>`).
 *
 * @example
 * ```ts
 * checksumFor("ab…cd  dbx-x86_64-unknown-linux-gnu.tar.gz\n", "dbx-x86_64-unknown-linux-gnu.tar.gz");
 * ```
 */
export function checksumFor(text: string, name: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.trim());
    if (m && (m[2] === name || basename(m[2]) === name)) return m[1].toLowerCase();
  }
  return undefined;
}

export interface InstallOptions {
  plan: UpgradePlan;
  /** The binary to replace. */
  binary: string;
  /** Version the current binary reports (for the message). */
  current: string;
  onProgress?: (done: number, total: number) => void;
}

export interface InstallResult {
  binary: string;
  previous: string;
  version: string;
  /** The new binary's `--version` line. */
  versionLine: string;
}

/** Download, check, unpack, test and swap in the release's binary. */
export async function installRelease(options: InstallOptions): Promise<InstallResult> {
  const { plan, binary } = options;
  const dir = dirname(binary);
  const stamp = `${Deno.pid}-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
  const staged = join(dir, `.${basename(binary)}.upgrade-${stamp}`);
  const previous = `${binary}.old`;
  try {
    const archive = await download(plan, options.onProgress);
    const exe = await extractBinary(archive, plan.asset.name);
    await Deno.writeFile(staged, exe, { mode: 0o755, createNew: true });
    if (Deno.build.os !== "windows") await Deno.chmod(staged, 0o755);
    const line = await runVersion(staged, plan.release.version);
    // Keep the old binary until the new one has run in its place.
    await Deno.remove(previous).catch(() => {});
    if (Deno.build.os === "windows") {
      await Deno.rename(binary, previous); // a running .exe can be renamed, not replaced
      await Deno.rename(staged, binary);
    } else {
      await Deno.link(binary, previous);
      await Deno.rename(staged, binary); // one step: the path always names a whole binary
    }
    try {
      await runVersion(binary, plan.release.version);
    } catch (err) {
      await Deno.rename(previous, binary).catch(() => {});
      throw err;
    }
    return { binary, previous, version: plan.release.version, versionLine: line };
  } finally {
    await Deno.remove(staged).catch(() => {});
  }
}

async function download(
  plan: UpgradePlan,
  onProgress?: (done: number, total: number) => void,
): Promise<Uint8Array> {
  const response = await apiGet(plan.asset.url, {
    accept: "application/octet-stream",
    notFound: `${plan.asset.name} of release ${plan.release.tag} cannot be downloaded`,
    timeoutMs: 10 * 60_000,
  });
  const total = Number(response.headers.get("content-length")) || plan.asset.size;
  if (total > MAX_ARCHIVE_BYTES) {
    await response.body?.cancel().catch(() => {});
    throw new DbxError("too_large", `${plan.asset.name} is larger than ${MAX_ARCHIVE_BYTES} bytes`);
  }
  const hash = createHash("sha256");
  const parts: Uint8Array[] = [];
  let done = 0;
  for await (const part of response.body ?? []) {
    done += part.length;
    if (done > MAX_ARCHIVE_BYTES) {
      throw new DbxError(
        "too_large",
        `${plan.asset.name} is larger than ${MAX_ARCHIVE_BYTES} bytes`,
      );
    }
    hash.update(part);
    parts.push(part);
    onProgress?.(done, total);
  }
  const got = hash.digest("hex");
  if (got !== plan.sha256) {
    throw new DbxError(
      "integrity",
      `checksum mismatch for ${plan.asset.name}: downloaded SHA-256 ${got}, published ` +
        `${plan.sha256} (${plan.checksumSource}); nothing was installed`,
    );
  }
  const out = new Uint8Array(done);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The `dbx` (or `dbx.exe`) inside a release archive. */
export async function extractBinary(archive: Uint8Array, name: string): Promise<Uint8Array> {
  const wanted = (path: string) => {
    const base = path.split("/").pop();
    return base === "dbx" || base === "dbx.exe";
  };
  if (name.endsWith(".zip")) {
    let files: Record<string, Uint8Array>;
    try {
      files = unzipSync(archive, { filter: (f) => wanted(f.name) });
    } catch (err) {
      throw new DbxError(
        "corrupt",
        `${name} is not a valid zip archive: ${(err as Error).message}`,
      );
    }
    const found = Object.values(files)[0];
    if (!found) throw new DbxError("corrupt", `${name} holds no dbx.exe`);
    return found;
  }
  let tar: Uint8Array;
  try {
    tar = gunzipSync(archive);
  } catch (err) {
    throw new DbxError(
      "corrupt",
      `${name} is not a valid tar.gz archive: ${(err as Error).message}`,
    );
  }
  let found: Uint8Array | undefined;
  let current: Uint8Array[] | undefined;
  const reader = new TarReader({
    begin: (h) => {
      current = wanted(h.name) ? [] : undefined;
    },
    data: (bytes) => {
      current?.push(Uint8Array.from(bytes));
    },
    end: () => {
      if (current && !found) {
        const size = current.reduce((n, p) => n + p.length, 0);
        found = new Uint8Array(size);
        let at = 0;
        for (const p of current) {
          found.set(p, at);
          at += p.length;
        }
      }
      current = undefined;
    },
  });
  await reader.push(tar);
  reader.finish();
  if (!found) throw new DbxError("corrupt", `${name} holds no dbx binary`);
  return found;
}

/** Run `<binary> --version`; it must succeed and name `version`. */
async function runVersion(binary: string, version: string): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    const child = new Deno.Command(binary, {
      args: ["--version"],
      env: { DBX_NO_UPGRADE_CHECK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, VERSION_CHECK_MS);
    try {
      output = await child.output();
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    throw new DbxError(
      "unavailable",
      `the new binary does not run (${(err as Error).message}); nothing was replaced`,
    );
  }
  const text = new TextDecoder().decode(output.stdout).trim();
  const line = text.split("\n")[0] ?? "";
  if (!output.success || !new RegExp(`\\b${version.replace(/\./g, "\\.")}\\b`).test(line)) {
    throw new DbxError(
      "unavailable",
      `the new binary did not report version ${version} (exit ${output.code}: ${
        line || new TextDecoder().decode(output.stderr).trim().split("\n")[0]
      }); nothing was replaced`,
    );
  }
  return line;
}
