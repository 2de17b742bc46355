/**
 * `deno task compile [--target <target>]… [--archive] [--out <dir>] [--no-check]`: one self-contained
 * `dbx` per build target with `deno compile`, embedding what the binary needs at run time:
 * the RocksDB native addon of that target, every module loaded by URL (the workers), the
 * `.proto` files gRPC loads and the GraphQL playground's package files.
 *
 * Without --target it builds every release target. With --archive it also writes the
 * release archives (dbx-<target>.tar.gz, or .zip for Windows) and their SHA256SUMS.
 *
 * `deno compile` downloads Deno's compile runtime (denort) for each target. Where it cannot
 * (no network, as on the build machines here), this fails with a clear message, removes
 * whatever was half written and exits 1: it never leaves a binary that is not a real dbx.
 * DENORT_BIN (Deno's own variable) points it at a runtime already on disk.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { zipSync } from "fflate";
import { PLAYGROUND_FILES } from "../src/graphql/playground.ts";
import { SERVER_V8_FLAGS } from "../src/server/daemon.ts";
import { tarEnd, tarMember } from "../src/maintenance/tar.ts";
import { assetName, CHECKSUMS_ASSET, TARGETS } from "../src/upgrade/releases.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Where `node-gyp-build` finds the RocksDB addon of each target inside node_modules. */
export const ADDONS: Record<string, string> = {
  "x86_64-unknown-linux-gnu": "node_modules/rocksdb/prebuilds/linux-x64",
  // The npm package has no prebuild for linux arm64: release.yml builds it from source on an
  // arm64 runner (node-gyp), into build/Release, which node-gyp-build looks at first.
  "aarch64-unknown-linux-gnu": "node_modules/rocksdb/build/Release",
  "x86_64-apple-darwin": "node_modules/rocksdb/prebuilds/darwin-x64+arm64",
  "aarch64-apple-darwin": "node_modules/rocksdb/prebuilds/darwin-x64+arm64",
  "x86_64-pc-windows-msvc": "node_modules/rocksdb/prebuilds/win32-x64",
};

/**
 * Every module loaded by URL at run time (`new Worker(new URL(…))`, or a URL handed to one):
 * deno compile only embeds the static import graph, so each must be named here.
 * tests/install/compile.test.ts fails when a module referenced by URL in src/ is missing.
 */
export const WORKERS = [
  "src/engine/verify_worker.ts",
  "src/server/http_worker.ts",
  "src/server/gate_worker.ts",
  "src/grpc/worker.ts",
  "src/socket/worker.ts",
  "src/config/argon2_worker.ts",
  // The control socket runs `dbx --remote` commands in this worker (src/cli/commands/server.ts).
  "src/cli/remote_runner.ts",
] as const;

/**
 * Files read at run time: the gRPC service definitions (src/grpc/proto.ts loads `proto/`
 * next to the sources, which is where they sit in the binary's embedded file system too)
 * and the playground's package files (src/graphql/playground.ts). hash-wasm needs nothing:
 * its WebAssembly is inlined in its JavaScript.
 */
export const ASSETS = ["proto", ...PLAYGROUND_FILES] as const;

/**
 * npm packages only the tests and benches use (deno.json lists them with the rest): left
 * out of the binary, as are the RocksDB addons of other targets and the addon's C++ sources.
 * tests/install/compile.test.ts checks that nothing in src/ imports them.
 */
export const DEV_ONLY_PACKAGES = [
  "@bufbuild/buf",
  "playwright-core",
  "eventdbxjs-linux-x64-gnu",
  "json-patch-test-suite",
  "yaml",
  "web-tree-sitter",
  "tree-sitter-powershell",
] as const;

/**
 * The `--include` paths for `target` (relative to the project root).
 *
 * @example
 * ```ts
 * compileIncludes("x86_64-unknown-linux-gnu")[0]; // "node_modules/rocksdb/prebuilds/linux-x64"
 * ```
 */
export function compileIncludes(target: string): string[] {
  return [ADDONS[target], ...WORKERS, ...ASSETS];
}

/**
 * The `--exclude` paths for `target` that exist here, relative to the project root with
 * symlinks resolved (node_modules/x links into node_modules/.deno).
 *
 * @example
 * ```ts
 * compileExcludes("x86_64-pc-windows-msvc"); // [".../prebuilds/linux-x64", …]
 * ```
 */
export function compileExcludes(target: string): string[] {
  const paths: string[] = [];
  const addon = ADDONS[target];
  for (const other of new Set(Object.values(ADDONS))) {
    if (other !== addon) paths.push(other);
  }
  paths.push("node_modules/rocksdb/deps", "node_modules/rocksdb/build/Release/obj.target");
  for (const name of DEV_ONLY_PACKAGES) paths.push(`node_modules/${name}`);
  // @bufbuild/buf's platform binary is a package of its own (~90 MB), reached through a link
  // in @bufbuild/buf's folder: deno compile leaves it out only when named by its own path.
  const store = join(ROOT, "node_modules/.deno");
  if (existsSync(store)) {
    for (const entry of readdirSync(store)) {
      const scope = `node_modules/.deno/${entry}/node_modules/@bufbuild`;
      if (!entry.startsWith("@bufbuild+buf-") || !existsSync(join(ROOT, scope))) continue;
      for (const name of readdirSync(join(ROOT, scope))) paths.push(`${scope}/${name}`);
    }
  }
  const root = realpathSync(ROOT);
  return paths.filter((p) => existsSync(join(ROOT, p)))
    .map((p) => relative(root, realpathSync(join(ROOT, p))));
}

interface Options {
  targets: string[];
  archive: boolean;
  out: string;
  /** Skip type checking (`deno compile --no-check`). */
  noCheck: boolean;
}

function parseArgs(args: string[]): Options {
  const o: Options = { targets: [], archive: false, out: join(ROOT, "dist"), noCheck: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--target") o.targets.push(args[++i] ?? "");
    else if (a.startsWith("--target=")) o.targets.push(a.slice(9));
    else if (a === "--archive") o.archive = true;
    else if (a === "--no-check") o.noCheck = true;
    else if (a === "--out") o.out = args[++i] ?? "";
    else if (a === "--help" || a === "-h") {
      console.log(
        "usage: deno task compile [--target <target>]... [--archive] [--out <dir>] [--no-check]",
      );
      console.log(`targets: ${TARGETS.join(", ")}`);
      Deno.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  if (o.targets.length === 0) o.targets = [...TARGETS];
  for (const t of o.targets) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      fail(`unknown target ${t} (known: ${TARGETS.join(", ")})`);
    }
  }
  return o;
}

function fail(message: string): never {
  console.error(`compile: error: ${message}`);
  Deno.exit(1);
}

/** The runtime download failed: the message Deno gives is a stack trace, say it plainly. */
function runtimeUnavailable(output: string): boolean {
  return /denort|dl\.deno\.land|Setting up base binary|error sending request/i.test(output);
}

async function compileTarget(target: string, out: string, noCheck: boolean): Promise<string> {
  const addon = ADDONS[target];
  if (!existsSync(join(ROOT, addon))) {
    throw new Error(
      `no RocksDB addon for ${target} at ${addon}` +
        (target === "aarch64-unknown-linux-gnu"
          ? " (the npm package ships none for linux arm64: build it on an arm64 machine with " +
            "`npx node-gyp rebuild` in node_modules/rocksdb, as release.yml does)"
          : ""),
    );
  }
  const dir = join(out, target);
  await Deno.mkdir(dir, { recursive: true });
  const exe = join(dir, target.includes("windows") ? "dbx.exe" : "dbx");
  const includes = compileIncludes(target);
  const missing = includes.filter((path) => !existsSync(join(ROOT, path)));
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.join(", ")}: the binary needs them (run \`deno install\` first)`,
    );
  }
  const args = [
    "compile",
    "-A",
    // The server's V8 flags (README "Memory"), compiled in: the binary runs with them, and
    // so does the daemon it re-runs itself as.
    `--v8-flags=${SERVER_V8_FLAGS.join(",")}`,
    "--quiet",
    ...(noCheck ? ["--no-check"] : []),
    ...includes.flatMap((path) => ["--include", path]),
    ...compileExcludes(target).flatMap((path) => ["--exclude", path]),
    "--target",
    target,
    "--output",
    exe,
    "main.ts",
  ];
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(result.stderr) + new TextDecoder().decode(result.stdout);
  if (!result.success) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (runtimeUnavailable(text)) {
      throw new Error(
        `deno compile could not download Deno's compile runtime (denort) for ${target}: ` +
          "this machine cannot reach dl.deno.land. No binary was written. Build where the " +
          "runtime can be downloaded (the release workflow does, on every tag), or set " +
          "DENORT_BIN to a denort binary of this Deno version for that target.",
      );
    }
    const firstLines = text.split("\n").filter((l) => l.trim() && !/^\s+\d+: /.test(l));
    throw new Error(`deno compile failed for ${target}:\n${firstLines.slice(0, 12).join("\n")}`);
  }
  return exe;
}

async function archiveTarget(target: string, exe: string, out: string): Promise<string> {
  const data = await Deno.readFile(exe);
  const name = assetName(target);
  const path = join(out, name);
  if (name.endsWith(".zip")) {
    // 0o100755 << 16: a regular executable file for unzip on Unix, harmless on Windows.
    await Deno.writeFile(path, zipSync({ "dbx.exe": [data, { attrs: 0o100755 << 16 }] }));
  } else {
    const tar = new Uint8Array([...tarMember({ name: "dbx", mode: 0o755 }, data), ...tarEnd()]);
    await Deno.writeFile(path, gzipSync(tar, { level: 9 }));
  }
  return path;
}

async function main(): Promise<void> {
  const o = parseArgs(Deno.args);
  const archives: string[] = [];
  for (const target of o.targets) {
    console.log(`compiling dbx for ${target}…`);
    let exe: string;
    try {
      exe = await compileTarget(target, o.out, o.noCheck);
    } catch (err) {
      fail((err as Error).message);
    }
    console.log(`  ${exe}`);
    if (o.archive) archives.push(await archiveTarget(target, exe, o.out));
  }
  if (o.archive) {
    const lines = [];
    for (const path of archives) {
      const digest = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
      lines.push(`${digest}  ${path.split(/[\\/]/).pop()}`);
    }
    await Deno.writeTextFile(join(o.out, CHECKSUMS_ASSET), lines.join("\n") + "\n");
    console.log(`archives and ${CHECKSUMS_ASSET} in ${o.out}`);
  }
}

if (import.meta.main) await main();
