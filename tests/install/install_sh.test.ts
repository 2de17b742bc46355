/**
 * scripts/install.sh against a fake release on 127.0.0.1 (archives whose "binary" is a
 * two-line shell script, clearly not a real dbx): a known platform (this machine) installs
 * dbx and the eventdbx link and says how to reach them on PATH; a pinned version replaces
 * it; an unknown platform (a fake `uname` first on PATH), a platform the release has no
 * archive for, and a checksum mismatch are refused with nothing installed. The script passes
 * shellcheck. scripts/install.ps1 cannot run here (no PowerShell in Debian, and
 * PSScriptAnalyzer needs it): it is parsed with tree-sitter's PowerShell grammar (npm
 * `tree-sitter-powershell`, its WebAssembly build) and checked for the same steps as
 * install.sh.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Language, type Node, Parser } from "web-tree-sitter";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { runWithin } from "../_helpers/deadline.ts";
import { ensureTool } from "../_helpers/system.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { type FakeReleases, startFakeReleases } from "../upgrade/_fake_releases.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/install.sh", import.meta.url));
const PS1 = fileURLToPath(new URL("../../scripts/install.ps1", import.meta.url));
const OPTS = { sanitizeResources: false, sanitizeOps: false };

async function install(
  fake: FakeReleases,
  dir: string,
  args: string[] = [],
  path = Deno.env.get("PATH") ?? "/usr/bin:/bin",
) {
  const out = await runWithin(
    new Deno.Command("sh", {
      args: [SCRIPT, ...args],
      env: {
        PATH: path,
        HOME: dir,
        DBX_DOWNLOAD_URL: fake.downloads,
        DBX_INSTALL_DIR: join(dir, "bin"),
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
    60_000,
    "install.sh",
  );
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

async function installedFiles(dir: string): Promise<string[]> {
  try {
    const names = [];
    for await (const e of Deno.readDir(join(dir, "bin"))) names.push(e.name);
    return names.sort();
  } catch {
    return [];
  }
}

/** A PATH whose first directory has a `uname` that reports another platform. */
async function fakePlatform(dir: string, os: string, arch: string): Promise<string> {
  const shim = join(dir, "shim");
  await Deno.mkdir(shim, { recursive: true });
  await Deno.writeTextFile(
    join(shim, "uname"),
    `#!/bin/sh\ncase "$1" in -s) echo ${os} ;; -m) echo ${arch} ;; *) echo ${os} ;; esac\n`,
    { mode: 0o755 },
  );
  return `${shim}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
}

Deno.test({
  name: "install.sh installs the latest release for this platform, then a pinned version",
  ...OPTS,
  fn: async () => {
    const fake = startFakeReleases();
    try {
      await withTempDir(async (dir) => {
        const r = await install(fake, dir);
        assertEquals(r.code, 0, r.stderr);
        assert(/downloading dbx latest for x86_64-unknown-linux-gnu/.test(r.stdout), r.stdout);
        assert(
          /installed dbx 0\.2\.0 \(fake release binary for tests\) to .*\/bin\/dbx/.test(r.stdout),
          r.stdout,
        );
        assert(/is not on your PATH\. Add it/.test(r.stdout), r.stdout);
        assertEquals(await installedFiles(dir), ["dbx", "eventdbx"]);
        assertEquals(await Deno.readLink(join(dir, "bin", "eventdbx")), "dbx");
        assertEquals(((await Deno.stat(join(dir, "bin", "dbx"))).mode ?? 0) & 0o777, 0o755);
        const alias = await new Deno.Command(join(dir, "bin", "eventdbx"), {
          args: ["--version"],
          stdout: "piped",
        }).output();
        assert(new TextDecoder().decode(alias.stdout).startsWith("dbx 0.2.0"));
        assert(fake.requests.includes("GET /latest/download/dbx-x86_64-unknown-linux-gnu.tar.gz"));

        const pinned = await install(fake, dir, ["--version", "0.1.0"]);
        assertEquals(pinned.code, 0, pinned.stderr);
        assert(/installed dbx 0\.1\.0/.test(pinned.stdout), pinned.stdout);
        assert(fake.requests.includes("GET /download/v0.1.0/SHA256SUMS"));
        assertEquals(await installedFiles(dir), ["dbx", "eventdbx"], "no temp file left");
        // On PATH already: no hint.
        const onPath = await install(fake, dir, [], `${join(dir, "bin")}:${Deno.env.get("PATH")}`);
        assertEquals(onPath.code, 0, onPath.stderr);
        assert(!/not on your PATH/.test(onPath.stdout), onPath.stdout);
      });
    } finally {
      await fake.close();
    }
  },
});

Deno.test({
  name: "install.sh refuses an unknown platform, a missing archive and a checksum mismatch",
  ...OPTS,
  fn: async () => {
    const fake = startFakeReleases();
    try {
      await withTempDir(async (dir) => {
        for (
          const [os, arch] of [["SunOS", "sparc64"], ["Linux", "riscv64"], ["FreeBSD", "amd64"]]
        ) {
          const r = await install(fake, dir, [], await fakePlatform(dir, os, arch));
          assertEquals(r.code, 1, `${os}/${arch}: ${r.stdout}`);
          assert(
            r.stderr.includes(`install.sh: error: unsupported platform: ${os}/${arch}`),
            r.stderr,
          );
          assertEquals(await installedFiles(dir), []);
        }
        const win = await install(
          fake,
          dir,
          [],
          await fakePlatform(dir, "MINGW64_NT-10.0", "x86_64"),
        );
        assertEquals(win.code, 1);
        assert(/on Windows use install\.ps1/.test(win.stderr), win.stderr);
        // A known platform without an archive in this release (v0.1.0 has only this machine's).
        const mac = await install(
          fake,
          dir,
          ["--version", "v0.1.0"],
          await fakePlatform(dir, "Darwin", "arm64"),
        );
        assertEquals(mac.code, 1);
        assert(/cannot download .*dbx-aarch64-apple-darwin\.tar\.gz/.test(mac.stderr), mac.stderr);
        // A release whose SHA256SUMS does not match its archive.
        const bad = await install(fake, dir, ["--version", "v0.3.0"]);
        assertEquals(bad.code, 1);
        assert(
          /checksum mismatch for dbx-x86_64-unknown-linux-gnu\.tar\.gz: got [0-9a-f]{64}, published 0{64} \(nothing was installed\)/
            .test(bad.stderr),
          bad.stderr,
        );
        assertEquals(await installedFiles(dir), []);
        const nope = await install(fake, dir, ["--version", "banana"]);
        assertEquals(nope.code, 1);
        assert(/not a version: banana/.test(nope.stderr), nope.stderr);
      });
    } finally {
      await fake.close();
    }
  },
});

Deno.test("install.sh passes shellcheck", async () => {
  await ensureTool("shellcheck", "shellcheck");
  const out = await runWithin(
    new Deno.Command("shellcheck", {
      args: ["-s", "sh", SCRIPT],
      stdout: "piped",
      stderr: "piped",
    }),
    60_000,
    "shellcheck",
  );
  assertEquals(
    out.code,
    0,
    new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  );
});

Deno.test("install.ps1 takes the same steps as install.sh", async () => {
  const text = await Deno.readTextFile(PS1);
  for (
    const step of [
      "DBX_VERSION",
      "DBX_INSTALL_DIR",
      "DBX_DOWNLOAD_URL",
      "/latest/download",
      "/download/$Version",
      "SHA256SUMS",
      "Get-FileHash -Algorithm SHA256",
      "checksum mismatch",
      "unsupported platform",
      "eventdbx.exe",
      "not on your PATH",
      "x86_64-pc-windows-msvc",
    ]
  ) {
    assert(text.includes(step), `install.ps1 lacks ${step}`);
  }
});

const POWERSHELL_GRAMMAR = fileURLToPath(
  new URL("../../node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm", import.meta.url),
);

/** Every syntax error tree-sitter's PowerShell grammar finds in `source`. */
async function powershellSyntaxErrors(source: string): Promise<string[]> {
  await Parser.init();
  const parser = new Parser();
  try {
    parser.setLanguage(await Language.load(POWERSHELL_GRAMMAR));
    const tree = parser.parse(source);
    assert(tree, "the parser returns a tree");
    const errors: string[] = [];
    const walk = (node: Node) => {
      if (node.isError || node.isMissing) {
        const at = `${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
        errors.push(`${node.isMissing ? "missing " : ""}${node.type} at ${at}: ${node.text}`);
      }
      for (const child of node.children) if (child) walk(child);
    };
    walk(tree.rootNode);
    tree.delete();
    return errors;
  } finally {
    parser.delete();
  }
}

Deno.test("install.ps1 parses as PowerShell (tree-sitter), and a broken copy does not", async () => {
  const text = await Deno.readTextFile(PS1);
  assertEquals(await powershellSyntaxErrors(text), []);
  // The check can fail: an unclosed condition and an unclosed block are both reported.
  const broken = text.replace("if (-not $isWin) {", "if (-not $isWin {");
  assert(broken !== text);
  assert((await powershellSyntaxErrors(broken)).length > 0, "a broken condition is found");
  const unclosed = text.replace(/\}\s*$/, "");
  assert((await powershellSyntaxErrors(unclosed)).length > 0, "a missing brace is found");
});
