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
