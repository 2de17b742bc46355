/**
 * `dbx upgrade`, `upgrade list`, `upgrade@…`, `--suppress`, `--clear-suppress`,
 * `--print-only` and the background reminder, against a fake releases API on 127.0.0.1:
 * a real upgrade of a stand-in binary (replaced in one step, the old one kept), a checksum
 * mismatch, a binary that does not run, a version below the minimum, error answers, rate
 * limiting, the reminder's cache (at most one check a day, off with DBX_NO_UPGRADE_CHECK=1
 * and in CI), and `dbx --version`.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { waitUntil } from "../_helpers/deadline.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { DAEMON_TEST_OPTS, dbx, ok, type RunOptions } from "../server/lifecycle_helpers.ts";
import { fakeBinary, type FakeReleases, startFakeReleases } from "./_fake_releases.ts";
import { reminderText } from "../../src/upgrade/reminder.ts";
import { compareVersions, parseVersion } from "../../src/upgrade/releases.ts";

async function withFake(fn: (fake: FakeReleases, dir: string) => Promise<void>): Promise<void> {
  const fake = startFakeReleases();
  try {
    await withTempDir((dir) => fn(fake, dir));
  } finally {
    await fake.close();
  }
}

const env = (fake: FakeReleases, extra: Record<string, string> = {}): RunOptions => ({
  env: { DBX_RELEASES_URL: fake.api, ...extra },
});

function fails(r: { code: number; stderr: string }, pattern: RegExp, label: string): void {
  assertEquals(r.code, 1, `${label}: exit ${r.code}: ${r.stderr}`);
  assert(pattern.test(r.stderr), `${label}: ${r.stderr}`);
  assertEquals(r.stderr.trim().split("\n").length, 1, `${label}: one line: ${r.stderr}`);
}

Deno.test("dbx --version prints the version, the Deno version and the build target", async () => {
  const out = ok(await dbx(["--version"]), "--version").trim();
  assertEquals(out, `dbx 0.1.0 (deno ${Deno.version.deno}, ${Deno.build.target})`);
});

Deno.test("versions compare as semver; the reminder text only for newer, unsuppressed releases", () => {
  assert(compareVersions("0.10.0", "0.9.9") > 0);
  assert(compareVersions("v1.0.0-rc.2", "1.0.0-rc.10") < 0);
  assert(compareVersions("1.0.0-rc.1", "1.0.0") < 0);
  assertEquals(parseVersion("1.2"), undefined);
  assertEquals(reminderText({ latest: "0.1.0" }, "0.1.0"), undefined);
  assertEquals(reminderText({ latest: "0.2.0", suppressed: ["0.2.0"] }, "0.1.0"), undefined);
  assert(/v0\.2\.0 \(this is v0\.1\.0\)/.test(reminderText({ latest: "0.2.0" }, "0.1.0")!));
});

Deno.test({
  name: "upgrade list and upgrade@list against the fake API",
  ...DAEMON_TEST_OPTS,
  fn: () =>
    withFake(async (fake, dir) => {
      const json = JSON.parse(
        ok(await dbx(["upgrade", "list", "--json", "--data-dir", dir], env(fake)), "list --json"),
      );
      assertEquals(
        json.map((r: { version: string }) => r.version),
        ["0.4.0-rc.1", "0.3.1", "0.3.0", "0.2.0", "0.1.0", "0.0.9"],
        "drafts and tags that are no version are left out",
      );
      const current = json.find((r: { current: boolean }) => r.current);
      assertEquals(current.version, "0.1.0");
      assertEquals(json.find((r: { latest: boolean }) => r.latest).version, "0.3.1");
      assertEquals(json.find((r: { version: string }) => r.version === "0.0.9").supported, false);
      const limited = JSON.parse(
        ok(await dbx(["upgrade", "list", "--limit", "2", "--json"], env(fake)), "--limit 2"),
      );
      assertEquals(limited.length, 2);
      assert(fake.requests.some((r) => r.includes("per_page=2")), fake.requests.join("\n"));
      const text = ok(await dbx(["upgrade@list", "--data-dir", dir], env(fake)), "upgrade@list");
      assert(/^VERSION\s+PUBLISHED\s+NOTE/m.test(text), text);
      assert(/v0\.1\.0\s+2026-11-01\s+installed/.test(text), text);
      assert(/v0\.0\.9 .*unsupported \(before v0\.1\.0\)/.test(text), text);
      assert(/v0\.4\.0-rc\.1 .*prerelease/.test(text), text);
      const zero = await dbx(["upgrade", "list", "--limit", "0"], env(fake));
      assertEquals(zero.code, 2, "a usage error");
      assert(
        /--limit <n>' argument '0' is invalid. must be a number from 1 to 100/.test(zero.stderr),
      );
    }),
});

Deno.test({
  name: "upgrade replaces a binary in one step, keeping the old one; refusals change nothing",
  ...DAEMON_TEST_OPTS,
  fn: () =>
    withFake(async (fake, dir) => {
      const bin = join(dir, "bin");
      await Deno.mkdir(bin);
      const binary = join(bin, "dbx");
      const original = fakeBinary("0.1.0");
      await Deno.writeFile(binary, original, { mode: 0o755 });
      const unchanged = async (label: string) => {
        assertEquals(await Deno.readFile(binary), original, `${label}: the binary changed`);
        const names = [];
        for await (const e of Deno.readDir(bin)) names.push(e.name);
        assertEquals(names, ["dbx"], `${label}: files left beside the binary`);
      };

      // Below the minimum: refused before asking anything.
      const before = fake.requests.length;
      fails(
        await dbx(["upgrade", "v0.0.9", "--binary", binary], env(fake)),
        /v0\.0\.9 is older than v0\.1\.0, the first release dbx upgrade supports/,
        "below the minimum",
      );
      assertEquals(fake.requests.length, before);
      fails(
        await dbx(["upgrade@0.0.1", "--binary", binary], env(fake)),
        /older than v0\.1\.0/,
        "upgrade@0.0.1",
      );
      fails(
        await dbx(["upgrade", "banana", "--binary", binary], env(fake)),
        /not a version/,
        "bad",
      );
      fails(
        await dbx(["upgrade", "v9.9.9", "--binary", binary], env(fake)),
        /there is no release v9\.9\.9/,
        "unknown version",
      );
      fails(
        await dbx(["upgrade", "v0.3.0", "--binary", binary], env(fake)),
        /checksum mismatch for dbx-.*\.tar\.gz: downloaded SHA-256 [0-9a-f]{64}, published 0{64}/,
        "checksum mismatch",
      );
      await unchanged("checksum mismatch");
      fails(
        await dbx(["upgrade", "v0.3.1", "--binary", binary], env(fake)),
        /the new binary did not report version 0\.3\.1 \(exit 3.*nothing was replaced/,
        "a binary that does not run",
      );
      await unchanged("broken binary");
      fails(
        await dbx(["upgrade", "v0.2.0"], env(fake)),
        /runs under deno .*pass --binary/,
        "under deno without --binary",
      );

      // Error answers of the API.
      for (
        const [mode, pattern] of [
          [
            "ratelimit",
            /rate limited \(it resets at 2030-03-17T\d\d:\d\d:\d\d.\d+Z\); try again later, or set GITHUB_TOKEN/,
          ],
          ["429", /rate limited \(retry after 30 s\)/],
          ["500", /answered 500 Internal Server Error/],
          ["malformed", /answered something that is not JSON/],
        ] as const
      ) {
        fake.mode = mode;
        fails(await dbx(["upgrade", "--binary", binary], env(fake)), pattern, mode);
        fails(await dbx(["upgrade", "list"], env(fake)), pattern, `list (${mode})`);
        await unchanged(mode);
      }
      fake.mode = "ok";
      fails(
        await dbx(["upgrade", "list"], env(fake, { DBX_RELEASES_URL: "ftp://example.invalid" })),
        /DBX_RELEASES_URL is not an http\(s\) URL/,
        "bad URL",
      );

      // --print-only shows the plan and does nothing.
      const plan = ok(
        await dbx(["upgrade", "--print-only", "--binary", binary], env(fake)),
        "print-only",
      );
      assert(/upgrade dbx v0\.1\.0 -> v0\.2\.0/.test(plan), plan);
      assert(/download: http:\/\/127\.0\.0\.1:\d+\/download\/v0\.2\.0\/dbx-/.test(plan), plan);
      assert(/sha256: {3}[0-9a-f]{64} \(from SHA256SUMS\)/.test(plan), plan);
      await unchanged("print-only");

      // The real thing (latest = v0.2.0), through the upgrade@ shortcut.
      const done = ok(await dbx(["upgrade@latest", "--binary", binary], env(fake)), "upgrade");
      assert(/upgraded .*v0\.1\.0 -> v0\.2\.0/.test(done), done);
      assertEquals(await Deno.readFile(`${binary}.old`), original, "the old binary is kept");
      const run = await new Deno.Command(binary, { args: ["--version"], stdout: "piped" }).output();
      assert(new TextDecoder().decode(run.stdout).startsWith("dbx 0.2.0"), "the new one runs");
      assertEquals(((await Deno.stat(binary)).mode ?? 0) & 0o111, 0o111, "executable");
      // Downgrading back to the current version is allowed; the same version is a no-op.
      const same = ok(await dbx(["upgrade", "0.1.0", "--binary", binary], env(fake)), "same");
      assert(/already at v0\.1\.0/.test(same), same);
    }),
});

Deno.test({
  name: "upgrade --suppress and --clear-suppress; the reminder's cache",
  ...DAEMON_TEST_OPTS,
  fn: () =>
    withFake(async (fake, dir) => {
      const cache = join(dir, "upgrade-check.json");
      ok(await dbx(["upgrade", "--suppress", "v0.2.0", "--data-dir", dir], env(fake)), "suppress");
      assertEquals(JSON.parse(await Deno.readTextFile(cache)).suppressed, ["0.2.0"]);
      ok(await dbx(["upgrade", "--suppress", "latest", "--data-dir", dir], env(fake)), "latest");
      assertEquals(JSON.parse(await Deno.readTextFile(cache)).suppressed, ["0.2.0"]);
      const listed = JSON.parse(
        ok(await dbx(["upgrade", "list", "--json", "--data-dir", dir], env(fake)), "list"),
      );
      assertEquals(listed.find((r: { version: string }) => r.version === "0.2.0").suppressed, true);
      ok(await dbx(["upgrade", "--clear-suppress", "--data-dir", dir], env(fake)), "clear");
      assertEquals(JSON.parse(await Deno.readTextFile(cache)).suppressed, []);
      assertEquals(((await Deno.stat(cache)).mode ?? 0) & 0o777, 0o600);
      fails(
        await dbx(["upgrade", "--suppress", "soon", "--data-dir", dir], env(fake)),
        /not a version/,
        "bad suppress",
      );
    }),
});

Deno.test({
  name: "the reminder checks at most once a day in the background, never slowing a command",
  ...DAEMON_TEST_OPTS,
  fn: () =>
    withFake(async (fake, dir) => {
      ok(await dbx(["config", "--dek", btoa("k".repeat(32)), "--data-dir", dir]), "config");
      const cache = join(dir, "upgrade-check.json");
      const unset = ["DBX_NO_UPGRADE_CHECK", "CI"];
      const checks = () => fake.requests.filter((r) => r.endsWith("/releases/latest")).length;

      // Off with DBX_NO_UPGRADE_CHECK=1 and in CI.
      ok(await dbx(["schema", "list", "--data-dir", dir], env(fake)), "no check");
      ok(
        await dbx(["schema", "list", "--data-dir", dir], {
          ...env(fake, { CI: "true" }),
          unsetEnv: ["DBX_NO_UPGRADE_CHECK"],
        }),
        "CI",
      );
      await new Promise((r) => setTimeout(r, 1500));
      assertEquals(checks(), 0);
      await Deno.stat(cache).then(() => assert(false, "no cache without a check"), () => {});

      // A slow API does not slow the command down: the check runs in a detached process.
      fake.mode = "slow";
      const started = Date.now();
      const r = await dbx(["schema", "list", "--data-dir", dir], { ...env(fake), unsetEnv: unset });
      ok(r, "schema list with the check on");
      assertEquals(r.stderr, "", "no reminder on a non-terminal stderr, no noise");
      const took = Date.now() - started;
      const info = await waitUntil(
        20_000,
        "the background check to record the latest release",
        async () => {
          try {
            const c = JSON.parse(await Deno.readTextFile(cache));
            return c.latest ? c : undefined;
          } catch {
            return undefined;
          }
        },
      );
      assertEquals(info.latest, "0.2.0");
      assert(
        Date.now() - started >= 3000 && took < Date.now() - started,
        "the command did not wait",
      );
      assertEquals(checks(), 1);

      // Within the day: no second check.
      fake.mode = "ok";
      ok(
        await dbx(["schema", "list", "--data-dir", dir], { ...env(fake), unsetEnv: unset }),
        "again",
      );
      await new Promise((r) => setTimeout(r, 1500));
      assertEquals(checks(), 1);

      // A day later: checked again; a failing check is recorded and fails nothing.
      const old = JSON.parse(await Deno.readTextFile(cache));
      old.checked_at = new Date(Date.now() - 25 * 3600_000).toISOString();
      await Deno.writeTextFile(cache, JSON.stringify(old));
      fake.mode = "500";
      ok(
        await dbx(["schema", "list", "--data-dir", dir], { ...env(fake), unsetEnv: unset }),
        "day later",
      );
      const failed = await waitUntil(20_000, "the failed check to be recorded", async () => {
        const c = JSON.parse(await Deno.readTextFile(cache));
        return c.error ? c : undefined;
      });
      assert(/answered 500/.test(failed.error), failed.error);
      assertEquals(failed.latest, "0.2.0", "what the last good check found is kept");
      assertEquals(checks(), 2);
    }),
});
