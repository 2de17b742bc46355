/**
 * `dbx plugin install`: bundles (tar.gz, tar, zip; per-platform or flat) unpacked under
 * `plugins/<plugin>/<version>/<target>/` with files 0600, directories 0700 and the binary
 * 0700; an installed version is a conflict unless `--force`; and every class of bad bundle
 * (checksum mismatch, path traversal, absolute path, symlink out, wrong platform, corrupt
 * archive, missing binary) refused with a clear one-line error and nothing left behind.
 */
import { join } from "node:path";
import { runDbx, runDbxOk } from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { isDbxError } from "../../src/errors.ts";
import { readBundle } from "../../src/plugins/process/archive.ts";
import { installBundle, sha256Hex } from "../../src/plugins/process/install.ts";
import { currentTarget } from "../../src/plugins/process/platform.ts";
import { assert, assertEquals } from "./_setup.ts";
import { otherPlatformDir, platformDir, tar, tarGz, zip } from "./_bundles.ts";

const mode = async (path: string) => ((await Deno.lstat(path)).mode ?? 0) & 0o777;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Every path under `dir`, relative, sorted. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  if (!(await exists(dir))) return out;
  for await (const e of Deno.readDir(dir)) {
    out.push(prefix + e.name);
    if (e.isDirectory) out.push(...await tree(join(dir, e.name), `${prefix}${e.name}/`));
  }
  return out.sort();
}

/** `dbx plugin install` must fail with a one-line error matching `pattern`, leaving nothing. */
async function refused(
  dir: string,
  bundle: Uint8Array,
  extra: string[],
  pattern: RegExp,
): Promise<void> {
  const file = join(dir, `bundle-${crypto.randomUUID()}.tar.gz`);
  await Deno.writeFile(file, bundle);
  const data = join(dir, "data");
  const r = await runDbx(data, ["plugin", "install", "demo", "1.0.0", "--source", file, ...extra]);
  assert(r.code !== 0, `install should fail: ${r.stdout}`);
  assert(pattern.test(r.stderr), `unexpected error: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith("created configuration"));
  assertEquals(lines.length, 1, `one line: ${r.stderr}`);
  assertEquals(await tree(join(data, "plugins")), [], "nothing left behind");
  assert(!(await exists(join(dir, "escaped"))), "nothing written outside");
}

Deno.test("bundle: tar.gz with platform directories installs this platform's build", async () => {
  await withTempDir(async (dir) => {
    const here = platformDir();
    const bundle = tarGz([
      { path: "demo-1.0.0/", kind: "dir" },
      { path: `demo-1.0.0/${here}/`, kind: "dir" },
      { path: `demo-1.0.0/${here}/bin/`, kind: "dir" },
      { path: `demo-1.0.0/${here}/bin/demo`, data: "#!/bin/sh\necho hi\n", mode: 0o755 },
      { path: `demo-1.0.0/${here}/share/notes.txt`, data: "notes", mode: 0o777 },
      { path: `demo-1.0.0/${here}/share/link`, kind: "symlink", target: "notes.txt" },
      { path: `demo-1.0.0/${otherPlatformDir()}/demo.exe`, data: "MZ" },
    ]);
    const file = join(dir, "demo.tar.gz");
    await Deno.writeFile(file, bundle);
    const data = join(dir, "data");
    const sum = await sha256Hex(bundle);
    const out = JSON.parse(
      await runDbxOk(data, [
        "plugin",
        "install",
        "demo",
        "1.0.0",
        "--source",
        file,
        "--bin",
        "bin/demo",
        "--checksum",
        sum.toUpperCase(),
        "--json",
      ]),
    );
    const target = join(data, "plugins", "demo", "1.0.0", currentTarget());
    assertEquals(out.target, currentTarget());
    assertEquals(out.sha256, sum);
    assertEquals(out.bin, "bin/demo");
    assertEquals(out.path, target);
    assertEquals(out.replaced, false);
    assertEquals(await tree(join(data, "plugins")), [
      "demo",
      "demo/1.0.0",
      `demo/1.0.0/${currentTarget()}`,
      `demo/1.0.0/${currentTarget()}.json`,
      `demo/1.0.0/${currentTarget()}/bin`,
      `demo/1.0.0/${currentTarget()}/bin/demo`,
      `demo/1.0.0/${currentTarget()}/share`,
      `demo/1.0.0/${currentTarget()}/share/link`,
      `demo/1.0.0/${currentTarget()}/share/notes.txt`,
    ]);
    assertEquals(await mode(join(target, "bin", "demo")), 0o700);
    assertEquals(await mode(join(target, "share", "notes.txt")), 0o600);
    assertEquals(await mode(join(target, "bin")), 0o700);
    assertEquals(await mode(target), 0o700);
    assertEquals(
      await mode(join(data, "plugins", "demo", "1.0.0", `${currentTarget()}.json`)),
      0o600,
    );
    assertEquals(await Deno.readLink(join(target, "share", "link")), "notes.txt");

    // Installed already: a conflict, unless --force (which replaces it whole).
    const again = await runDbx(data, [
      "plugin",
      "install",
      "demo",
      "1.0.0",
      "--source",
      file,
      "--bin",
      "bin/demo",
    ]);
    assertEquals(again.code === 0, false);
    assert(/installed already.*--force/.test(again.stderr), again.stderr);
    const v2 = join(dir, "demo2.zip");
    await Deno.writeFile(v2, zip({ "bin/demo": "#!/bin/sh\necho v2\n" }));
    const forced = await runDbxOk(data, [
      "plugin",
      "install",
      "demo",
      "1.0.0",
      "--source",
      v2,
      "--bin",
      "bin/demo",
      "--force",
    ]);
    assert(forced.includes("reinstalled plugin demo 1.0.0"), forced);
    assertEquals(await Deno.readTextFile(join(target, "bin", "demo")), "#!/bin/sh\necho v2\n");
    assert(!(await exists(join(target, "share"))), "the old files are gone");
    assertEquals(await mode(join(target, "bin", "demo")), 0o700);
    assertEquals(
      (await tree(join(data, "plugins", "demo", "1.0.0"))).filter((p) => p.startsWith(".")),
      [],
      "no staging directories left",
    );
  });
});

Deno.test("bundle: flat tar and zip bundles, binary named after the plugin", async () => {
  await withTempDir(async (dir) => {
    const a = await installBundle(dir, {
      plugin: "flat",
      version: "0.1.0",
      bytes: tar([{ path: "flat", data: "#!/bin/sh\n" }, { path: "lib/x.so", data: "x" }]),
    });
    assertEquals(a.bin, "flat");
    assertEquals(a.files, 2);
    assertEquals(await mode(join(a.path, "flat")), 0o700);
    const b = await installBundle(dir, {
      plugin: "zipped",
      version: "2.0.0-rc.1",
      bytes: zip({ [`${platformDir()}/zipped`]: "#!/bin/sh\n", [`${platformDir()}/a/b.txt`]: "b" }),
    });
    assertEquals(await Deno.readTextFile(join(b.path, "a", "b.txt")), "b");
    assertEquals(await mode(join(b.path, "a", "b.txt")), 0o600);
    assertEquals(await mode(join(b.path, "a")), 0o700);
    assertEquals(readBundle(zip({ "x/y": "1" })).map((e) => e.path), ["x/y"]);
  });
});

Deno.test("bundle: a checksum mismatch is refused", async () => {
  await withTempDir(async (dir) => {
    const bundle = tarGz([{ path: "demo", data: "#!/bin/sh\n" }]);
    await refused(dir, bundle, ["--checksum", "0".repeat(64)], /checksum mismatch.*expected 0{64}/);
    await refused(dir, bundle, ["--checksum", "abc"], /sha256 of 64 hex digits/);
  });
});

Deno.test("bundle: entries escaping the target directory are refused", async () => {
  await withTempDir(async (dir) => {
    const ok = { path: "demo", data: "#!/bin/sh\n" };
    await refused(
      dir,
      tarGz([ok, { path: "../../../escaped", data: "x" }]),
      [],
      /escapes the plugin directory/,
    );
    await refused(
      dir,
      tarGz([ok, { path: `sub/../../escaped`, data: "x" }]),
      [],
      /escapes the plugin directory/,
    );
    await refused(dir, tarGz([ok, { path: "/tmp/escaped", data: "x" }]), [], /absolute path/);
    await refused(
      dir,
      tarGz([ok, { path: "out", kind: "symlink", target: "/etc" }]),
      [],
      /symlink to "\/etc" outside/,
    );
    await refused(
      dir,
      tarGz([ok, { path: "sub/out", kind: "symlink", target: "../../escaped" }]),
      [],
      /symlink to .* outside/,
    );
    await refused(
      dir,
      zip({ "demo": "#!/bin/sh\n", "../escaped": "x" }),
      [],
      /escapes the plugin directory/,
    );
    await refused(dir, tarGz([ok]), ["--bin", "../demo"], /escapes the plugin directory/);
  });
});

Deno.test("bundle: a bundle for other platforms only is refused", async () => {
  await withTempDir(async (dir) => {
    await refused(
      dir,
      tarGz([
        { path: `${otherPlatformDir()}/demo`, data: "MZ" },
        { path: `${otherPlatformDir()}/README`, data: "x" },
      ]),
      [],
      new RegExp(`holds builds for .* only; this machine is ${currentTarget()}`),
    );
  });
});

Deno.test("bundle: corrupt and unknown archives are refused", async () => {
  await withTempDir(async (dir) => {
    const good = tarGz([{ path: "demo", data: "#!/bin/sh\n".repeat(100) }]);
    await refused(dir, good.subarray(0, good.length - 20), [], /not a valid archive/);
    await refused(dir, new TextEncoder().encode("just text"), [], /neither a zip, a tar/);
    const plain = tar([{ path: "demo", data: "#!/bin/sh\n" }]);
    plain[0] ^= 0xff; // the header checksum no longer matches
    await refused(dir, plain, [], /checksum mismatch at byte 0/);
    const z = zip({ "demo": "#!/bin/sh\n".repeat(50) });
    await refused(dir, z.subarray(0, z.length - 30), [], /not a valid archive/);
    try {
      readBundle(z.subarray(0, 40));
      throw new Error("a truncated zip was read");
    } catch (err) {
      assert(isDbxError(err, "invalid_input"), String(err));
    }
  });
});

Deno.test("bundle: a missing binary is refused", async () => {
  await withTempDir(async (dir) => {
    const bundle = tarGz([{ path: "other", data: "#!/bin/sh\n" }]);
    await refused(dir, bundle, [], /no file demo for .*; name its binary with --bin/);
    await refused(dir, bundle, ["--bin", "bin/run"], /no file bin\/run .*\(--bin\)/);
    const r = await runDbx(join(dir, "data"), [
      "plugin",
      "install",
      "demo",
      "1.0.0",
      "--source",
      join(dir, "nope.tar.gz"),
    ]);
    assert(r.code !== 0 && /no bundle at/.test(r.stderr), r.stderr);
    const v = await runDbx(join(dir, "data"), [
      "plugin",
      "install",
      "demo",
      "one",
      "--source",
      join(dir, "nope.tar.gz"),
    ]);
    assert(v.code !== 0 && /semantic version/.test(v.stderr), v.stderr);
  });
});

Deno.test("bundle: an http(s) source is fetched; a failing URL is a clear error", async () => {
  await withTempDir(async (dir) => {
    const bundle = tarGz([{ path: "demo", data: "#!/bin/sh\n" }]);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) =>
        new URL(req.url).pathname === "/demo.tar.gz"
          ? new Response(bundle as Uint8Array<ArrayBuffer>)
          : new Response("no", { status: 404 }),
    );
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const data = join(dir, "data");
      const out = JSON.parse(
        await runDbxOk(data, [
          "plugin",
          "install",
          "demo",
          "1.0.0",
          "--source",
          `${base}/demo.tar.gz`,
          "--checksum",
          await sha256Hex(bundle),
          "--json",
        ]),
      );
      assertEquals(out.bin, "demo");
      assertEquals(await mode(join(out.path, "demo")), 0o700);
      const r = await runDbx(data, [
        "plugin",
        "install",
        "demo",
        "2.0.0",
        "--source",
        `${base}/missing.tar.gz`,
      ]);
      assert(r.code !== 0 && /answered 404/.test(r.stderr), r.stderr);
      const f = await runDbx(data, ["plugin", "install", "demo", "2.0.0", "--source", "ftp://x/y"]);
      assert(f.code !== 0 && /must be http:\/\/ or https:\/\//.test(f.stderr), f.stderr);
    } finally {
      await server.shutdown();
    }
  });
});
