/**
 * The upgrade reminder: what the last check found (cached in `<data-dir>/upgrade-check.json`,
 * mode 0600), which releases the user chose to hear no more about (`upgrade --suppress`),
 * and when the next check is due (at most once a day). Reading and deciding is synchronous
 * and local; the check itself runs in a detached background process, so a command is never
 * slowed down or failed by it.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic_file.ts";
import { compareVersions, formatVersion, parseVersion } from "./releases.ts";

/** File name of the cache inside the data directory. */
export const CHECK_FILE = "upgrade-check.json";
/** The least time between two checks. */
export const CHECK_INTERVAL_MS = 24 * 60 * 60 * 1000;
/** Environment variable that turns the reminder (and its check) off. */
export const NO_CHECK_ENV = "DBX_NO_UPGRADE_CHECK";

/** What the cache holds. */
export interface UpgradeCheck {
  /** When the last check began (RFC 3339); the next is due a day later. */
  checked_at?: string;
  /** The newest release it found (a version, no `v`). */
  latest?: string;
  /** Why the last check failed, if it did. */
  error?: string;
  /** Versions the user suppressed the reminder for. */
  suppressed?: string[];
}

/** Path of the cache of a data directory. */
export function checkFilePath(dataDir: string): string {
  return join(dataDir, CHECK_FILE);
}

/** The cache, or an empty one when it is missing or unreadable. */
export function readCheck(dataDir: string): UpgradeCheck {
  try {
    const raw = JSON.parse(Deno.readTextFileSync(checkFilePath(dataDir)));
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return {};
    const out: UpgradeCheck = {};
    if (typeof raw.checked_at === "string") out.checked_at = raw.checked_at;
    if (typeof raw.latest === "string" && parseVersion(raw.latest)) out.latest = raw.latest;
    if (typeof raw.error === "string") out.error = raw.error.slice(0, 500);
    if (Array.isArray(raw.suppressed)) {
      out.suppressed = raw.suppressed.filter((v: unknown) =>
        typeof v === "string" && parseVersion(v)
      );
    }
    return out;
  } catch {
    return {};
  }
}

/** Save the cache (atomically, mode 0600). */
export async function writeCheck(dataDir: string, check: UpgradeCheck): Promise<void> {
  const text = JSON.stringify(check, null, 2) + "\n";
  await writeFileAtomic(checkFilePath(dataDir), new TextEncoder().encode(text), 0o600);
}

/** True when the environment turns the check off: DBX_NO_UPGRADE_CHECK=1, or CI. */
export function checkDisabled(env: (name: string) => string | undefined = Deno.env.get): boolean {
  const truthy = (v: string | undefined) =>
    v !== undefined && v.trim() !== "" && !/^(0|false|no|off)$/i.test(v.trim());
  return truthy(env(NO_CHECK_ENV)) || truthy(env("CI"));
}

/** True when a new check is due. */
export function checkDue(check: UpgradeCheck, now = Date.now()): boolean {
  const at = check.checked_at ? Date.parse(check.checked_at) : NaN;
  return !Number.isFinite(at) || now - at >= CHECK_INTERVAL_MS || at > now + 60_000;
}

/** True when the reminder for `version` was suppressed. */
export function isSuppressed(check: UpgradeCheck, version: string): boolean {
  return (check.suppressed ?? []).some((v) => compareVersions(v, version) === 0);
}

/**
 * The reminder to show for the cache, or undefined: only for a release newer than
 * `current` that the user did not suppress.
 *
 * @example
 * ```ts
 * reminderText({ latest: "0.2.0" }, "0.1.0", "dbx");
 * // "a new dbx release is available: v0.2.0 (this is v0.1.0): run `dbx upgrade` …"
 * ```
 */
export function reminderText(
  check: UpgradeCheck,
  current: string,
  program = "dbx",
): string | undefined {
  const latest = check.latest;
  if (!latest || !parseVersion(latest) || !parseVersion(current)) return undefined;
  if (compareVersions(latest, current) <= 0 || isSuppressed(check, latest)) return undefined;
  const v = formatVersion(parseVersion(latest)!);
  return `a new dbx release is available: v${v} (this is v${current}): run \`${program} upgrade\`` +
    ` (\`${program} upgrade --suppress v${v}\` hides this reminder)`;
}
