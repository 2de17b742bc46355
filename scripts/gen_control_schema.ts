/**
 * Regenerate `src/control_protocol/schema.ts` from `proto/control.capnp`, and
 * `src/plugins/process/schema.ts` from `proto/plugin.capnp` (`deno task capnp`).
 *
 * Needs the Cap'n Proto compiler `capnp` on the PATH (Debian/Ubuntu: `apt-get install
 * capnproto`; macOS: `brew install capnp`) and npm: the capnp-es compiler is run through
 * `npx` with the TypeScript compiler it formats its output with (both only at generation
 * time: the server needs neither). The generated file is committed.
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CAPNP_ES = "capnp-es@0.0.16"; // the version deno.json imports
const TYPESCRIPT = "typescript@5.9.3";
/** Each schema and the TypeScript generated from it. */
const SCHEMAS = [
  { name: "control", output: `${ROOT}src/control_protocol/schema.ts` },
  { name: "plugin", output: `${ROOT}src/plugins/process/schema.ts` },
];

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const { code } = await new Deno.Command(cmd, { args, cwd, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${code}`);
}

for (const { name, output } of SCHEMAS) {
  const tmp = await Deno.makeTempDir({ prefix: "dbx-capnp-" });
  try {
    await run("npx", [
      "-y",
      "-p",
      TYPESCRIPT,
      "-p",
      CAPNP_ES,
      "capnp-es",
      `${ROOT}proto/${name}.capnp`,
      `-ots:${tmp}`,
      `--src-prefix=${ROOT}proto`,
      // Run outside the project: npx would resolve capnp-es from its node_modules, where
      // the TypeScript compiler it needs is not installed.
    ], tmp);
    // Deno checks with noImplicitOverride: say what the generated classes override.
    const generated = (await Deno.readTextFile(`${tmp}/${name}.ts`))
      .replaceAll("  static readonly _capnp = {", "  static override readonly _capnp = {")
      .replaceAll("  toString(): string {", "  override toString(): string {");
    const header =
      `// Generated from proto/${name}.capnp by \`deno task capnp\` (capnp-es); do not edit.\n` +
      "// deno-lint-ignore-file\n// deno-fmt-ignore-file\n";
    await Deno.writeTextFile(output, header + generated);
    console.log(`wrote ${output}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
