/**
 * `deno task compile` (scripts/compile.ts) either builds a real dbx, or, where Deno cannot
 * download its compile runtime (as on these machines), fails with one clear message and
 * leaves no binary behind: never a fake one.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { runWithin } from "../_helpers/deadline.ts";
import { withTempDir } from "../_helpers/temp.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/compile.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

Deno.test("deno task compile builds a real binary or says clearly why it cannot", async () => {
  await withTempDir(async (out) => {
    const target = "x86_64-unknown-linux-gnu";
    const r = await runWithin(
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          CONFIG,
          SCRIPT,
          "--target",
          target,
          "--no-check",
          "--archive",
          "--out",
          out,
        ],
        stdout: "piped",
        stderr: "piped",
      }),
      300_000,
      "compile",
    );
    const stderr = new TextDecoder().decode(r.stderr);
    const files: string[] = [];
    for await (const e of Deno.readDir(out)) files.push(e.name);
    if (r.code === 0) {
      // A machine that can download the runtime: the binary is real and reports itself.
      const exe = join(out, target, "dbx");
      const v = await new Deno.Command(exe, { args: ["--version"], stdout: "piped" }).output();
      assert(new TextDecoder().decode(v.stdout).startsWith("dbx "), "the binary runs");
      assert(files.includes(`dbx-${target}.tar.gz`) && files.includes("SHA256SUMS"), files.join());
      return;
    }
    assertEquals(r.code, 1);
    assert(
      /compile: error: deno compile could not download Deno's compile runtime \(denort\) for x86_64-unknown-linux-gnu.*No binary was written/
        .test(stderr),
      stderr,
    );
    assert(!/\n\s+\d+: /.test(stderr), `no stack trace: ${stderr}`);
    assertEquals(files, [], "nothing was written");
  });
});

Deno.test("deno task compile refuses a target it has no RocksDB addon for, naming the fix", async () => {
  await withTempDir(async (out) => {
    const r = await runWithin(
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          CONFIG,
          SCRIPT,
          "--target",
          "aarch64-unknown-linux-gnu",
          "--out",
          out,
        ],
        stdout: "piped",
        stderr: "piped",
      }),
      120_000,
      "compile arm64",
    );
    const stderr = new TextDecoder().decode(r.stderr);
    if (r.code === 0) return; // an arm64 addon was built on this machine
    assertEquals(r.code, 1);
    assert(
      /no RocksDB addon for aarch64-unknown-linux-gnu|could not download/.test(stderr),
      stderr,
    );
    const unknown = await runWithin(
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", CONFIG, SCRIPT, "--target", "riscv64-unknown-linux-gnu"],
        stdout: "piped",
        stderr: "piped",
      }),
      60_000,
      "compile riscv",
    );
    assertEquals(unknown.code, 1);
    assert(
      /unknown target riscv64-unknown-linux-gnu/.test(new TextDecoder().decode(unknown.stderr)),
    );
  });
});

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Every .ts file under `dir` (relative to the project root, with forward slashes). */
async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** `target` (relative to the file `from`), as a path relative to the project root. */
function resolveFrom(from: string, target: string): string {
  const url = new URL(target, new URL(from, "file:///root/"));
  return decodeURIComponent(url.pathname.slice("/root/".length));
}

Deno.test("deno task compile embeds every module src/ loads by URL and every file it reads", async () => {
  const { compileIncludes, WORKERS, ASSETS } = await import("../../scripts/compile.ts");
  const { PLAYGROUND_FILES } = await import("../../src/graphql/playground.ts");
  const { API_PROTO, HEALTH_PROTO } = await import("../../src/grpc/proto.ts");
  const includes = compileIncludes("x86_64-unknown-linux-gnu");
  const byUrl = new Set<string>();
  const workerSites: string[] = [];
  const problems: string[] = [];
  for (const file of [...await sourceFiles("src"), "main.ts"]) {
    const text = await Deno.readTextFile(join(ROOT, file));
    // A URL built from a literal next to the module: a worker's main module, a module handed
    // to a worker, or a folder/file read at run time.
    for (const m of text.matchAll(/new URL\(\s*["'`]([^"'`]+)["'`],\s*import\.meta\.url\s*\)/g)) {
      const target = resolveFrom(file, m[1]);
      if (/\.[mc]?[jt]s$/.test(target)) byUrl.add(target);
      else if (
        target !== "" && !ASSETS.some((a: string) => target === a || target.startsWith(`${a}/`))
      ) problems.push(`${file} reads ${target} at run time, which compile.ts does not embed`);
    }
    for (const m of text.matchAll(/import\.meta\.resolve\(\s*["'`]([^"'`]+)["'`]/g)) {
      byUrl.add(resolveFrom(file, m[1]));
    }
    for (const m of text.matchAll(/new Worker\(\s*([^,)]+)/g)) {
      workerSites.push(`${file}: ${m[1].trim()}`);
      const direct = /^new URL\(\s*["'`]([^"'`]+)["'`]/.exec(m[1].trim());
      if (direct) byUrl.add(resolveFrom(file, direct[1]));
    }
    // deno compile sees `import("./x.ts")` but not an import of a computed specifier.
    for (const m of text.matchAll(/(?<![\w.])import\(\s*([^\s"'`)])/g)) {
      problems.push(`${file} imports a computed specifier (${m[1]}…): compile cannot see it`);
    }
  }
  assert(workerSites.length >= 7, `the scan finds the workers: ${workerSites.join("; ")}`);
  for (const module of byUrl) {
    if (!includes.includes(module)) {
      problems.push(`${module} is loaded by URL at run time but missing from WORKERS`);
    }
  }
  for (const module of WORKERS) {
    if (!byUrl.has(module)) problems.push(`WORKERS names ${module}, which nothing loads by URL`);
  }
  for (const path of includes) {
    try {
      await Deno.stat(join(ROOT, path));
    } catch {
      problems.push(`compile.ts includes ${path}, which does not exist`);
    }
  }
  for (const file of PLAYGROUND_FILES) {
    if (!includes.includes(file)) problems.push(`playground file ${file} not embedded`);
  }
  for (const proto of [API_PROTO, HEALTH_PROTO, "control.capnp"]) {
    await Deno.stat(join(ROOT, "proto", proto));
  }
  assert(includes.includes("proto"), "the proto folder is embedded");
  assertEquals(problems, []);
  // The ones named in the issue, so that the scan itself cannot silently find nothing.
  for (
    const module of [
      "src/grpc/worker.ts",
      "src/socket/worker.ts",
      "src/config/argon2_worker.ts",
      "src/cli/remote_runner.ts",
      "src/engine/verify_worker.ts",
      "src/server/http_worker.ts",
      "src/server/gate_worker.ts",
    ]
  ) assert(byUrl.has(module), `${module} found by the scan`);
});

Deno.test("the packages deno task compile leaves out are used by no module of dbx", async () => {
  const { ADDONS, compileExcludes, DEV_ONLY_PACKAGES } = await import("../../scripts/compile.ts");
  const config = JSON.parse(await Deno.readTextFile(CONFIG)) as { imports: Record<string, string> };
  const problems: string[] = [];
  for (const file of [...await sourceFiles("src"), "main.ts"]) {
    const text = await Deno.readTextFile(join(ROOT, file));
    const specifiers = [
      ...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g),
    ].map((m) => m[1]);
    for (const specifier of specifiers) {
      for (const name of DEV_ONLY_PACKAGES) {
        const mapped = config.imports[name] ?? `npm:${name}`;
        const bare = specifier.replace(/^npm:/, "").replace(/@\d[^/]*/, "");
        if (
          specifier === name || specifier.startsWith(`${name}/`) ||
          specifier.startsWith(mapped) || bare === name || bare.startsWith(`${name}/`)
        ) problems.push(`${file} imports ${specifier}, which compile.ts leaves out`);
      }
    }
  }
  assertEquals(problems, []);
  // Never the addon of the target being built.
  const root = await Deno.realPath(ROOT);
  for (const [target, addon] of Object.entries(ADDONS)) {
    const excludes = compileExcludes(target);
    let real: string;
    try {
      real = (await Deno.realPath(join(ROOT, addon))).slice(root.length + 1);
    } catch {
      continue; // not on this machine (linux arm64 is built on its runner)
    }
    assert(
      !excludes.some((e: string) => real === e || real.startsWith(`${e}/`)),
      `${target}: ${excludes}`,
    );
  }
});
