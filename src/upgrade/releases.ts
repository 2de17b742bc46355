/**
 * Releases of dbx, from the GitHub releases API of the project's repository (the base URL
 * overridable with DBX_RELEASES_URL, so that tests run against a local fake API), and the
 * names of the archives every release publishes (one per build target, plus SHA256SUMS).
 */
import { DbxError } from "../errors.ts";

/** The project's repository on GitHub. */
export const REPOSITORY = "eventdbx/dbx";
/** The releases API of the repository. */
export const DEFAULT_RELEASES_URL = `https://api.github.com/repos/${REPOSITORY}/releases`;
/** Environment variable that replaces {@link DEFAULT_RELEASES_URL}. */
export const RELEASES_URL_ENV = "DBX_RELEASES_URL";

/**
 * The first version `dbx upgrade` can install: the first release with this upgrade
 * mechanism and this archive layout (dbx-<target>.tar.gz, SHA256SUMS). Older versions are
 * refused.
 */
export const MIN_SUPPORTED_VERSION = "0.1.0";

/** Build targets every release carries (Deno's target names). */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** Name of the checksum file of a release (`sha256sum` format). */
export const CHECKSUMS_ASSET = "SHA256SUMS";

/**
 * The archive holding the binary for `target`.
 *
 * @example
 * ```ts
 * assetName("x86_64-unknown-linux-gnu"); // "dbx-x86_64-unknown-linux-gnu.tar.gz"
 * assetName("x86_64-pc-windows-msvc"); // "dbx-x86_64-pc-windows-msvc.zip"
 * ```
 */
export function assetName(target: string): string {
  return target.includes("windows") ? `dbx-${target}.zip` : `dbx-${target}.tar.gz`;
}

/** A version as numbers, with its prerelease part. */
export interface Version {
  major: number;
  minor: number;
  patch: number;
  prerelease: string;
}

/**
 * Parse `1.2.3`, `v1.2.3` or `1.2.3-rc.1`; undefined for anything else.
 *
 * @example
 * ```ts
 * parseVersion("v1.13.2"); // { major: 1, minor: 13, patch: 2, prerelease: "" }
 * ```
 */
export function parseVersion(text: string): Version | undefined {
  const m = /^v?(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]{1,64}))?$/.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), prerelease: m[4] ?? "" };
}

/** `1.2.3` or `1.2.3-rc.1`. */
export function formatVersion(v: Version): string {
  return `${v.major}.${v.minor}.${v.patch}${v.prerelease ? `-${v.prerelease}` : ""}`;
}

/**
 * Order two versions (semver: a prerelease sorts before its release).
 *
 * @example
 * ```ts
 * compareVersions("0.2.0", "0.10.0"); // < 0
 * compareVersions("1.0.0-rc.1", "1.0.0"); // < 0
 * ```
 */
export function compareVersions(a: string | Version, b: string | Version): number {
  const x = typeof a === "string" ? parseVersion(a) : a;
  const y = typeof b === "string" ? parseVersion(b) : b;
  if (!x || !y) throw new DbxError("invalid_input", `not a version: ${!x ? a : b}`);
  for (const k of ["major", "minor", "patch"] as const) {
    if (x[k] !== y[k]) return x[k] - y[k];
  }
  if (x.prerelease === y.prerelease) return 0;
  if (!x.prerelease) return 1;
  if (!y.prerelease) return -1;
  const pa = x.prerelease.split(".");
  const pb = y.prerelease.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i] === undefined) return -1;
    if (pb[i] === undefined) return 1;
    const na = /^\d+$/.test(pa[i]) ? Number(pa[i]) : NaN;
    const nb = /^\d+$/.test(pb[i]) ? Number(pb[i]) : NaN;
    if (!Number.isNaN(na) && !Number.isNaN(nb)) {
      if (na !== nb) return na - nb;
    } else if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return 0;
}

/** True when `version` is at least the first version `dbx upgrade` supports. */
export function isSupported(version: string): boolean {
  return compareVersions(version, MIN_SUPPORTED_VERSION) >= 0;
}

/** An asset of a release. */
export interface ReleaseAsset {
  name: string;
  url: string;
  size: number;
  /** `sha256:<hex>` when the API publishes it. */
  digest?: string;
}

/** A release as this program uses it. */
export interface Release {
  tag: string;
  version: string;
  prerelease: boolean;
  published_at: string;
  assets: ReleaseAsset[];
}

/** What talks to the releases API (fetch, for tests a fake). */
export interface ReleaseSource {
  /** Releases, newest first (drafts and tags that are no version left out). */
  list(limit: number): Promise<Release[]>;
  /** The newest release that is not a prerelease. */
  latest(): Promise<Release>;
  /** The release of one version (`v` prefix optional). */
  byVersion(version: string): Promise<Release>;
}

/** Largest JSON answer read from the API. */
const MAX_JSON_BYTES = 8 << 20;
/** How long one request may take. */
export const REQUEST_TIMEOUT_MS = 15_000;

/** The releases base URL: DBX_RELEASES_URL, else the project's repository. */
export function releasesUrl(env: (name: string) => string | undefined = Deno.env.get): string {
  const fromEnv = env(RELEASES_URL_ENV)?.trim();
  const url = fromEnv || DEFAULT_RELEASES_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new Error();
  } catch {
    throw new DbxError("invalid_input", `${RELEASES_URL_ENV} is not an http(s) URL: ${url}`);
  }
  return url.replace(/\/+$/, "");
}

/** Headers for the API: GitHub's JSON, and a token for GitHub itself when one is set. */
function headers(url: string, accept = "application/vnd.github+json"): Headers {
  const h = new Headers({ accept, "user-agent": "dbx-upgrade" });
  const token = Deno.env.get("GITHUB_TOKEN")?.trim();
  const host = new URL(url).hostname;
  if (token && (host === "api.github.com" || host === "github.com")) {
    h.set("authorization", `Bearer ${token}`);
  }
  return h;
}

/**
 * GET `url`, mapping every failure to a one-line DbxError: unreachable, timed out, rate
 * limited (GitHub's 403/429 with its rate-limit headers), not found, server errors.
 *
 * @example
 * ```ts
 * const response = await apiGet("https://api.github.com/repos/eventdbx/dbx/releases/latest");
 * ```
 */
export async function apiGet(
  url: string,
  options: { accept?: string; notFound?: string; timeoutMs?: number } = {},
): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: headers(url, options.accept),
      signal: AbortSignal.timeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS),
      redirect: "follow",
    });
  } catch (err) {
    const e = err as Error;
    if (e?.name === "TimeoutError" || e?.name === "AbortError") {
      throw new DbxError(
        "unavailable",
        `the releases server did not answer within ${
          Math.round((options.timeoutMs ?? REQUEST_TIMEOUT_MS) / 1000)
        } s (${url})`,
      );
    }
    throw new DbxError("unavailable", `cannot reach ${url}: ${e?.message ?? String(err)}`);
  }
  if (response.ok) return response;
  await response.body?.cancel().catch(() => {});
  const remaining = response.headers.get("x-ratelimit-remaining");
  const retryAfter = response.headers.get("retry-after");
  if (response.status === 429 || (response.status === 403 && (remaining === "0" || retryAfter))) {
    const reset = Number(response.headers.get("x-ratelimit-reset"));
    const when = Number.isFinite(reset) && reset > 0
      ? ` (it resets at ${new Date(reset * 1000).toISOString()})`
      : retryAfter && /^\d+$/.test(retryAfter)
      ? ` (retry after ${retryAfter} s)`
      : "";
    throw new DbxError(
      "unavailable",
      `the releases API is rate limited${when}; try again later, or set GITHUB_TOKEN`,
    );
  }
  if (response.status === 404) {
    throw new DbxError("not_found", options.notFound ?? `nothing found at ${url}`);
  }
  throw new DbxError(
    "unavailable",
    `the releases API answered ${response.status} ${response.statusText} (${url})`,
  );
}

/** The body of a response, refusing one larger than `limit` bytes. */
export async function readLimited(response: Response, limit: number, what: string) {
  const length = Number(response.headers.get("content-length"));
  if (Number.isFinite(length) && length > limit) {
    await response.body?.cancel().catch(() => {});
    throw new DbxError("too_large", `${what} is larger than ${limit} bytes`);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of response.body ?? []) {
    total += part.length;
    if (total > limit) throw new DbxError("too_large", `${what} is larger than ${limit} bytes`);
    parts.push(part);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function getJson(url: string, notFound?: string): Promise<unknown> {
  const response = await apiGet(url, { notFound });
  const bytes = await readLimited(response, MAX_JSON_BYTES, "the releases API's answer");
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new DbxError(
      "unavailable",
      `the releases API answered something that is not JSON (${url})`,
    );
  }
}

/** A release object of the API, or undefined when it is a draft or not a dbx version. */
export function toRelease(raw: unknown): Release | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.tag_name !== "string" || r.draft === true) return undefined;
  const version = parseVersion(r.tag_name);
  if (!version) return undefined;
  const assets: ReleaseAsset[] = [];
  for (const a of Array.isArray(r.assets) ? r.assets : []) {
    if (typeof a !== "object" || a === null) continue;
    const asset = a as Record<string, unknown>;
    if (typeof asset.name !== "string" || typeof asset.browser_download_url !== "string") continue;
    assets.push({
      name: asset.name,
      url: asset.browser_download_url,
      size: typeof asset.size === "number" ? asset.size : 0,
      ...(typeof asset.digest === "string" ? { digest: asset.digest } : {}),
    });
  }
  return {
    tag: r.tag_name,
    version: formatVersion(version),
    prerelease: r.prerelease === true || version.prerelease !== "",
    published_at: typeof r.published_at === "string" ? r.published_at : "",
    assets,
  };
}

function malformed(url: string): DbxError {
  return new DbxError("unavailable", `the releases API answered an unexpected document (${url})`);
}

/**
 * The releases API over HTTP.
 *
 * @example
 * ```ts
 * const releases = new GitHubReleases(releasesUrl());
 * const latest = await releases.latest();
 * ```
 */
export class GitHubReleases implements ReleaseSource {
  readonly base: string;

  constructor(base: string) {
    this.base = base;
  }

  async list(limit: number): Promise<Release[]> {
    const perPage = Math.min(100, Math.max(1, limit));
    const url = `${this.base}?per_page=${perPage}`;
    const raw = await getJson(url, `no releases found at ${this.base}`);
    if (!Array.isArray(raw)) throw malformed(url);
    return raw.map(toRelease).filter((r): r is Release => r !== undefined).slice(0, limit);
  }

  async latest(): Promise<Release> {
    const url = `${this.base}/latest`;
    const release = toRelease(await getJson(url, `no release has been published at ${this.base}`));
    if (!release) throw malformed(url);
    return release;
  }

  async byVersion(version: string): Promise<Release> {
    const v = parseVersion(version);
    if (!v) throw new DbxError("invalid_input", `not a version: ${version} (e.g. v1.2.3)`);
    const plain = formatVersion(v);
    for (const tag of [`v${plain}`, plain]) {
      try {
        const url = `${this.base}/tags/${encodeURIComponent(tag)}`;
        const release = toRelease(await getJson(url));
        if (!release) throw malformed(url);
        return release;
      } catch (err) {
        if (!(err instanceof DbxError && err.code === "not_found")) throw err;
      }
    }
    throw new DbxError("not_found", `there is no release v${plain}`);
  }
}
