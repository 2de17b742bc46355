import assert from "node:assert/strict";
import { programName, redactUnknownOption } from "../../src/cli/run.ts";
import { PROCESS_DEADLINE_MS, runWithin } from "../_helpers/deadline.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("cli: a mistyped --option=value never echoes the value", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const command = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "config", "--deek=SUPERSECRET-VALUE", "--data-dir", dir],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const out = await runWithin(command, PROCESS_DEADLINE_MS, "dbx config --deek=…");
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2);
    assert.match(stderr, /unknown option '--deek=…'/);
    assert.ok(!stderr.includes("SUPERSECRET"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: redaction keeps messages without a value intact", () => {
  assert.equal(
    redactUnknownOption("error: unknown option '--x'\n"),
    "error: unknown option '--x'\n",
  );
  assert.equal(
    redactUnknownOption("error: unknown option '--x=1'\n"),
    "error: unknown option '--x=…'\n",
  );
});

Deno.test("cli: eventdbx is accepted as the binary's name", () => {
  assert.equal(programName("/usr/local/bin/eventdbx"), "eventdbx");
  assert.equal(programName("C:\\bin\\eventdbx.exe".replaceAll("\\", "/")), "eventdbx");
  assert.equal(programName("/usr/local/bin/dbx"), "dbx");
  assert.equal(programName("/usr/bin/deno"), "dbx");
});
