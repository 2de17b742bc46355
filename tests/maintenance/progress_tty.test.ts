/**
 * `dbx backup` and `dbx restore` show a progress line on a terminal (stderr a TTY, here a
 * pseudo-terminal from util-linux `script`), redrawn in place and cleared before the
 * summary; with stderr piped they print none, so logs and scripts get the summary alone.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { MAIN } from "../_helpers/cli.ts";
import { runWithin } from "../_helpers/deadline.ts";
import { ensureTool } from "../_helpers/system.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { dbx, makeDataDir, ok } from "./_helpers.ts";

const ESC = "\x1b";
/** What the progress line writes before each redraw: carriage return, erase the line. */
const REDRAW = `\r${ESC}[2K`;

/** Quote for sh: every argument in single quotes. */
const shQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Run dbx with stdin, stdout and stderr on a pseudo-terminal; everything it wrote. */
async function dbxOnTerminal(args: string[]): Promise<{ code: number; output: string }> {
  await ensureTool("script", "bsdutils");
  const command = [Deno.execPath(), "run", "-A", MAIN, ...args].map(shQuote).join(" ");
  const env = Deno.env.toObject();
  delete env.EVENTDBX_TOKEN;
  delete env.EVENTDBX_DATA_DIR;
  const out = await runWithin(
    new Deno.Command("script", {
      // -q: no banner, -e: the command's exit status, -f: flush; the transcript file unused.
      args: ["-qef", "-c", command, "/dev/null"],
      env: { ...env, DBX_NO_UPGRADE_CHECK: "1", NO_COLOR: "1", TERM: "xterm" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
    120_000,
    `script dbx ${args[0]}`,
  );
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, output: decode(out.stdout) + decode(out.stderr) };
}

Deno.test("backup and restore show progress on a terminal, and none when piped", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "data");
    await makeDataDir(dir, 3, 4);
    const archive = join(root, "b.tar.gz");

    const backup = await dbxOnTerminal(["backup", "--output", archive, "--data-dir", dir]);
    assertEquals(backup.code, 0, backup.output);
    assert(backup.output.includes(`${REDRAW}backing up: `), backup.output);
    assert(/backing up: [\d,]+ records, /.test(backup.output), backup.output);
    // Cleared before the summary, which follows on a clean line.
    assert(backup.output.includes(`${REDRAW}backup written to `), backup.output);

    const restore = await dbxOnTerminal([
      "restore",
      "--input",
      archive,
      "--data-dir",
      join(root, "restored"),
    ]);
    assertEquals(restore.code, 0, restore.output);
    assert(
      restore.output.includes(`${REDRAW}restoring: `) ||
        restore.output.includes(`${REDRAW}verifying: `),
      restore.output,
    );
    assert(/restored .*restored from the backup of /.test(restore.output), restore.output);

    const piped = await dbx(["backup", "--output", archive, "--force", "--data-dir", dir]);
    ok(piped, "piped backup");
    const pipedText = piped.stderr + piped.stdout;
    assert(!pipedText.includes("backing up") && !pipedText.includes(ESC), pipedText);
    const pipedRestore = await dbx([
      "restore",
      "--input",
      archive,
      "--data-dir",
      join(root, "restored-piped"),
    ]);
    ok(pipedRestore, "piped restore");
    assert(
      !/restoring:|verifying:/.test(pipedRestore.stderr) && !pipedRestore.stderr.includes(ESC),
      pipedRestore.stderr,
    );
  });
});
