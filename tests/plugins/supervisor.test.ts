/**
 * The plugin process's supervisor on its own, with the real example plugin: a delivery that
 * comes while a restart is due waits for that restart instead of failing (which would spend
 * one of the event's attempts, and let an event that keeps killing the process starve every
 * other one), and closing ends such a wait without starting a process.
 */
import { join } from "node:path";
import { PluginProcess } from "../../src/plugins/process/supervisor.ts";
import { withDeadline } from "../_helpers/deadline.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { exampleLauncher } from "./_bundles.ts";
import { eventually } from "./_setup.ts";

/** A supervisor of the example plugin whose restarts wait `restartMs`. */
async function examplePlugin(dir: string, restartMs: number): Promise<PluginProcess> {
  const path = join(dir, "run.sh");
  await Deno.writeTextFile(path, exampleLauncher(), { mode: 0o755 });
  return new PluginProcess({
    instance: "sup",
    plugin: "example",
    version: "1.0.0",
    locate: () => Promise.resolve({ path, dir }),
    args: [],
    env: { EXAMPLE_PLUGIN_OUTPUT: join(dir, "out.jsonl") },
    timeoutMs: 30_000,
    restart: true,
    backoff: { baseMs: restartMs, maxMs: restartMs },
  });
}

Deno.test("supervisor: a delivery during a due restart waits for it instead of failing", async () => {
  await withTempDir(async (dir) => {
    const proc = await examplePlugin(dir, 1_500);
    try {
      await proc.ready();
      const first = proc.pid!;
      Deno.kill(first, "SIGKILL");
      await eventually("the kill noticed", () => proc.pid === undefined);
      // Within the restart delay: before, this failed with "the plugin process is restarting".
      await withDeadline(60_000, "ready after a kill", proc.ready());
      assert(proc.pid !== undefined && proc.pid !== first, "another process runs");
      assertEquals(proc.starts, 2);
    } finally {
      await proc.close();
    }
  });
});

Deno.test("supervisor: close ends a wait for a restart, and starts nothing", async () => {
  await withTempDir(async (dir) => {
    const proc = await examplePlugin(dir, 20_000);
    try {
      await proc.ready();
      Deno.kill(proc.pid!, "SIGKILL");
      await eventually("the kill noticed", () => proc.pid === undefined);
      const waiting = proc.ready();
      const outcome = waiting.then(() => "started", (err: Error) => err.message);
      await proc.close();
      assertEquals(
        await withDeadline(5_000, "the wait to end", outcome),
        "the plugin process is closed",
      );
      assertEquals(proc.starts, 1);
      assertEquals(proc.pid, undefined);
    } finally {
      await proc.close();
    }
  });
});
