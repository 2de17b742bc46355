/**
 * `dbx upgrade [<version>|latest] [--print-only]`, `dbx upgrade@<version>`,
 * `dbx upgrade --suppress <version>`, `dbx upgrade --clear-suppress`,
 * `dbx upgrade list [--limit <n>] [--json]` (`dbx upgrade@list`), and the startup reminder.
 *
 * Releases come from the GitHub releases API (DBX_RELEASES_URL overrides the base URL); the
 * work is in src/upgrade. The reminder reads a cache in the data directory and, at most once
 * a day, starts a detached background process (`dbx __upgrade-check`) that refreshes it, so
 * it never slows a command down or fails one. DBX_NO_UPGRADE_CHECK=1, or CI, turns it off.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { ensurePrivateDir, resolveLocation } from "../../config/mod.ts";
import { DbxError } from "../../errors.ts";
import { selfCommand } from "../../server/daemon.ts";
import { installRelease, planUpgrade } from "../../upgrade/install.ts";
import {
  compareVersions,
  formatVersion,
  GitHubReleases,
  isSupported,
  MIN_SUPPORTED_VERSION,
  parseVersion,
  type Release,
  releasesUrl,
} from "../../upgrade/releases.ts";
import {
  checkDisabled,
  checkDue,
  checkFilePath,
  isSuppressed,
  readCheck,
  reminderText,
  type UpgradeCheck,
  writeCheck,
} from "../../upgrade/reminder.ts";
import {
  type CommonOptions,
  printJson,
  printTable,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";
import { programName, VERSION } from "../run.ts";
import { formatBytes, ProgressLine } from "../progress.ts";

interface UpgradeOptions extends CommonOptions {
  printOnly?: boolean;
  suppress?: string;
  clearSuppress?: boolean;
  binary?: string;
  json?: boolean;
}

interface ListOptions extends CommonOptions {
  limit: number;
  json?: boolean;
}

/**
 * `upgrade@list` and `upgrade@<version>` are shortcuts for `upgrade list` and
 * `upgrade <version>`.
 *
 * @example
 * ```ts
 * expandUpgradeShortcut(["upgrade@v1.2.3", "--print-only"]); // ["upgrade", "v1.2.3", "--print-only"]
 * ```
 */
export function expandUpgradeShortcut(args: string[]): string[] {
  const first = args[0];
  if (!first?.startsWith("upgrade@")) return args;
  const rest = first.slice("upgrade@".length);
  return ["upgrade", ...(rest ? [rest] : []), ...args.slice(1)];
}

function releases(): GitHubReleases {
  return new GitHubReleases(releasesUrl());
}

function dataDirOf(o: CommonOptions): string {
  return resolveLocation({ configPath: o.config, dataDir: o.dataDir }).dataDir;
}

/** The release a `<version>|latest` argument names. */
async function resolveRelease(wanted: string | undefined): Promise<Release> {
  if (wanted === undefined || wanted === "latest") return await releases().latest();
  const v = parseVersion(wanted);
  if (!v) {
    throw new DbxError("invalid_input", `not a version: ${wanted} (e.g. v1.2.3, or latest)`);
  }
  refuseUnsupported(formatVersion(v));
  return await releases().byVersion(wanted);
}

function refuseUnsupported(version: string): void {
  if (!isSupported(version)) {
    throw new DbxError(
      "invalid_input",
      `v${version} is older than v${MIN_SUPPORTED_VERSION}, the first release dbx upgrade ` +
        "supports: upgrades to it are not supported",
    );
  }
}

/** The binary to replace: --binary, or this executable when it is a compiled dbx. */
function binaryPath(o: UpgradeOptions): string {
  if (o.binary) return resolve(o.binary);
  const exec = Deno.execPath();
  if (/^deno(\.exe)?$/i.test(exec.split(/[\\/]/).pop() ?? "")) {
    throw new DbxError(
      "invalid_input",
      `this dbx runs under deno (${exec}), not as an installed binary: pass --binary <path> ` +
        "to upgrade an installed one, or update the source checkout",
    );
  }
  return exec;
}

async function upgrade(version: string | undefined, o: UpgradeOptions): Promise<void> {
  if (o.clearSuppress || o.suppress !== undefined) {
    await changeSuppression(o);
    return;
  }
  const release = await resolveRelease(version);
  refuseUnsupported(release.version);
  const current = VERSION;
  const target = Deno.build.target;
  if (compareVersions(release.version, current) === 0 && !o.printOnly) {
    console.log(`dbx is already at v${current}`);
    return;
  }
  const plan = await planUpgrade(release, target);
  const binary = o.printOnly ? (o.binary ? resolve(o.binary) : Deno.execPath()) : binaryPath(o);
  const direction = compareVersions(release.version, current) < 0 ? "downgrade" : "upgrade";
  if (o.printOnly) {
    const installer = release.assets.find((a) => a.name === "install.sh");
    if (o.json) {
      printJson({
        from: current,
        to: release.version,
        tag: release.tag,
        target,
        url: plan.asset.url,
        sha256: plan.sha256,
        checksum_source: plan.checksumSource,
        binary,
      });
      return;
    }
    console.log(`${direction} dbx v${current} -> ${release.tag} (${target})`);
    console.log(`download: ${plan.asset.url}`);
    console.log(`sha256:   ${plan.sha256} (from ${plan.checksumSource})`);
    console.log(`replace:  ${binary} (the previous binary is kept as ${binary}.old)`);
    console.log(`command:  ${programName()} upgrade ${release.tag}`);
    if (installer) {
      console.log(`or:       curl -fsSL ${installer.url} | sh -s -- --version ${release.tag}`);
    }
    return;
  }
  const progress = new ProgressLine();
  let result;
  try {
    result = await installRelease({
      plan,
      binary,
      current,
      onProgress: (done, total) =>
        progress.update(
          `downloading ${plan.asset.name}: ${formatBytes(done)}` +
            (total ? ` of ${formatBytes(total)}` : ""),
        ),
    });
  } finally {
    progress.clear();
  }
  console.log(
    `${direction}d ${binary}: v${current} -> v${result.version} (${result.versionLine}); ` +
      `the previous binary is kept as ${result.previous}`,
  );
}

async function changeSuppression(o: UpgradeOptions): Promise<void> {
  const dataDir = dataDirOf(o);
  await ensurePrivateDir(dataDir);
  const check = readCheck(dataDir);
  if (o.clearSuppress) {
    await writeCheck(dataDir, { ...check, suppressed: [] });
    console.log("upgrade reminders are on again for every release");
    return;
  }
  let version = o.suppress!;
  if (version === "latest") version = (await releases().latest()).version;
  const v = parseVersion(version);
  if (!v) throw new DbxError("invalid_input", `not a version: ${version} (e.g. v1.2.3, or latest)`);
  const plain = formatVersion(v);
  if (!isSuppressed(check, plain)) {
    check.suppressed = [...(check.suppressed ?? []), plain];
  }
  await writeCheck(dataDir, check);
  console.log(`the upgrade reminder for v${plain} is suppressed`);
}

async function list(o: ListOptions): Promise<void> {
  const found = await releases().list(o.limit);
  const check = existsSync(dataDirOf(o)) ? readCheck(dataDirOf(o)) : {};
  const latest = found.find((r) => !r.prerelease)?.version;
  const rows = found.map((r) => ({
    version: r.version,
    tag: r.tag,
    published_at: r.published_at,
    prerelease: r.prerelease,
    current: compareVersions(r.version, VERSION) === 0,
    latest: r.version === latest,
    supported: isSupported(r.version),
    suppressed: isSuppressed(check, r.version),
  }));
  if (o.json) {
    printJson(rows);
    return;
  }
  if (rows.length === 0) {
    console.log("no releases published yet");
    return;
  }
  printTable(
    ["VERSION", "PUBLISHED", "NOTE"],
    rows.map((r) => [
      r.tag,
      r.published_at ? r.published_at.slice(0, 10) : "-",
      [
        r.current ? "installed" : "",
        r.latest ? "latest" : "",
        r.prerelease ? "prerelease" : "",
        r.suppressed ? "reminder suppressed" : "",
        r.supported ? "" : `unsupported (before v${MIN_SUPPORTED_VERSION})`,
      ].filter(Boolean).join(", "),
    ]),
  );
}

/** The background check: ask for the latest release, record it. Never prints. */
async function backgroundCheck(o: CommonOptions): Promise<void> {
  const dataDir = dataDirOf(o);
  const update = async (fields: UpgradeCheck) => {
    const check = readCheck(dataDir);
    delete check.error;
    await writeCheck(dataDir, { ...check, ...fields });
  };
  try {
    const latest = await releases().latest();
    await update({ latest: latest.version });
  } catch (err) {
    await update({ error: (err as Error).message ?? String(err) }).catch(() => {});
  }
}

/** Commands that never remind: the upgrade itself and the server process. */
function remindsFor(args: string[]): boolean {
  const first = args[0];
  if (first === undefined || first.startsWith("-")) return false;
  if (first === "upgrade" || first === "__upgrade-check") return false;
  if ((first === "start" || first === "restart") && args.includes("--foreground")) return false;
  return !args.includes("--help") && !args.includes("-h");
}

/** The data directory an argument list names (for the reminder's cache), if it exists. */
function reminderDataDir(args: string[]): string | undefined {
  const value = (name: string) => {
    const i = args.indexOf(name);
    if (i !== -1) return args[i + 1];
    return args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  };
  const dataDir = resolveLocation({ dataDir: value("--data-dir"), configPath: value("--config") })
    .dataDir;
  return existsSync(dataDir) ? dataDir : undefined;
}

/**
 * At the start of a command: show the reminder (on a terminal) when the cache knows a newer
 * release, and start the background check when one is due. Synchronous apart from the
 * detached child; never throws.
 *
 * @example
 * ```ts
 * remindOfUpgrade(["aggregate", "list"]);
 * ```
 */
export function remindOfUpgrade(args: string[]): void {
  try {
    if (checkDisabled() || !remindsFor(args)) return;
    const dataDir = reminderDataDir(args);
    if (!dataDir) return;
    const check = readCheck(dataDir);
    const text = reminderText(check, VERSION, programName());
    if (text && Deno.stderr.isTerminal()) console.error(text);
    if (!checkDue(check)) return;
    // Claim the check first: another command starting meanwhile does not start a second one.
    const claimed = { ...check, checked_at: new Date().toISOString() };
    const path = checkFilePath(dataDir);
    const temp = `${path}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(temp, JSON.stringify(claimed, null, 2) + "\n", { mode: 0o600 });
    Deno.renameSync(temp, path);
    const self = selfCommand(["__upgrade-check", "--data-dir", dataDir]);
    const child = spawn(self.command, self.args, {
      detached: true,
      stdio: "ignore",
      windowsHide: true,
    });
    child.on("error", () => {});
    child.unref();
  } catch {
    // A reminder never gets in the way of the command.
  }
}

function parseLimit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100) {
    throw new InvalidArgumentError("must be a number from 1 to 100");
  }
  return Number(value);
}

/** Register `dbx upgrade` and its hidden background check. */
export function registerUpgrade(program: Command): void {
  const cmd = withJsonOption(
    withCommonOptions(
      program.command("upgrade").description(
        "switch to another release of dbx (default: the latest); also `upgrade@<version>`",
      ),
    ),
  )
    .argument("[version]", "release to install: latest, or a version such as v1.2.3")
    .option("--print-only", "show what would be downloaded and replaced, and do nothing")
    .option("--suppress <version>", "hide the upgrade reminder for this release (or latest)")
    .option("--clear-suppress", "show upgrade reminders for every release again")
    .option("--binary <path>", "the dbx binary to replace (default: this executable)")
    .action(upgrade);
  withJsonOption(
    withCommonOptions(
      cmd.command("list").description(
        "list the most recent releases (also `upgrade@list`)",
      ),
    ),
  )
    .option("--limit <n>", "how many releases (1-100)", parseLimit, 20)
    .action(list);
  withCommonOptions(program.command("__upgrade-check", { hidden: true }))
    .description("refresh the upgrade reminder's cache (run in the background)")
    .action(backgroundCheck);
}
