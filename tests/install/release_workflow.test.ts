/**
 * The release workflow (.github/workflows/release.yml) parses, builds every target that
 * `dbx upgrade` and the installers look for on a native runner, smoke-tests each binary,
 * and publishes the archives, SHA256SUMS and both installers from the only job that may
 * write to the repository.
 */
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { assetName, CHECKSUMS_ASSET, TARGETS } from "../../src/upgrade/releases.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

const WORKFLOW = fileURLToPath(new URL("../../.github/workflows/release.yml", import.meta.url));

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
  "runs-on": string;
  permissions?: Record<string, string>;
  strategy?: { matrix: { include: Record<string, string>[] } };
  steps: Step[];
}
interface Workflow {
  on: { push?: { tags?: string[] } };
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
}

async function workflow(): Promise<Workflow> {
  // `uniqueKeys` and strict parsing: a duplicated key or a syntax error throws here.
  return parse(await Deno.readTextFile(WORKFLOW), { strict: true, uniqueKeys: true });
}

Deno.test("release.yml builds every release target natively on a version tag", async () => {
  const w = await workflow();
  assertEquals(w.on.push?.tags, ["v*"]);
  const build = w.jobs.build;
  const include = build.strategy!.matrix.include;
  assertEquals(include.map((row) => row.target).sort(), [...TARGETS].sort());
  const native: Record<string, RegExp> = {
    "x86_64-unknown-linux-gnu": /^ubuntu-[\d.]+$/,
    "aarch64-unknown-linux-gnu": /^ubuntu-[\d.]+-arm$/,
    "x86_64-apple-darwin": /^macos-\d+-intel$|^macos-13$/,
    "aarch64-apple-darwin": /^macos-(1[4-9]|[2-9]\d)$/,
    "x86_64-pc-windows-msvc": /^windows-/,
  };
  for (const row of include) {
    assert(native[row.target].test(row.os), `${row.target} builds on ${row.os}`);
    assertEquals(`dbx-${row.target}.${row.archive}`, assetName(row.target));
    assertEquals(row.exe, row.target.includes("windows") ? "dbx.exe" : "dbx");
  }
  assertEquals(build["runs-on"], "${{ matrix.os }}");
  const runs = build.steps.map((s) => s.run ?? "").join("\n");
  assert(/deno@[\d.]+ task compile --target \$\{\{ matrix.target \}\} --archive/.test(runs));
  // Every runner runs the binary it built, from its archive.
  assert(/"\$bin" --version \| grep -F "\$\{\{ matrix.target \}\}"/.test(runs), runs);
  assert(/"\$bin" backup /.test(runs) && /"\$bin" restore /.test(runs), runs);
  const upload = build.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
  assertEquals(upload?.with?.path, "dist/dbx-${{ matrix.target }}.${{ matrix.archive }}");
});

Deno.test("release.yml publishes archives, SHA256SUMS and installers, writing from one job", async () => {
  const w = await workflow();
  assertEquals(w.permissions, { contents: "read" });
  for (const [name, job] of Object.entries(w.jobs)) {
    if (name === "release") continue;
    assert(job.permissions === undefined, `${name} keeps the read-only default`);
  }
  const release = w.jobs.release;
  assertEquals(release.permissions, { contents: "write" });
  assertEquals(release.needs, "build");
  const runs = release.steps.map((s) => s.run ?? "").join("\n");
  assert(runs.includes("cp scripts/install.sh scripts/install.ps1 dist/"), runs);
  assert(runs.includes(`sha256sum dbx-*.tar.gz dbx-*.zip > ${CHECKSUMS_ASSET}`), runs);
  assert(runs.includes(`test "$count" -eq ${TARGETS.length}`), runs);
  const publish = release.steps.find((s) => s.uses?.startsWith("softprops/action-gh-release@"));
  assert(publish, "a publishing step");
  assertEquals(publish.if, "startsWith(github.ref, 'refs/tags/v')");
  const files = String(publish.with?.files).trim().split("\n");
  assertEquals(files, [
    "dist/dbx-*.tar.gz",
    "dist/dbx-*.zip",
    `dist/${CHECKSUMS_ASSET}`,
    "dist/install.sh",
    "dist/install.ps1",
  ]);
  // The tests gate the builds.
  assertEquals(w.jobs.build.needs, "test");
  assert(w.jobs.test.steps.some((s) => s.run === "bash .ci/run"), "the test job runs .ci/run");
});
