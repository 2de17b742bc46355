/**
 * kill -9 of a restore, at several moments while it extracts and verifies, leaves the
 * target as it was: the same store contents and files (or, if the kill came after the
 * swap, the complete restored directory, never a mix or nothing). The next restore removes
 * what the killed one left beside the target and completes.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { killQuietly, statusWithin, waitUntil } from "../_helpers/deadline.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { Engine } from "../../src/engine/engine.ts";
import { DAEMON_TEST_OPTS, MAIN } from "../server/lifecycle_helpers.ts";
import { dbx, logicalContent, makeDataDir, ok, snapshotTree } from "./_helpers.ts";

async function leftovers(root: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(root)) {
    if (e.name.startsWith(".target.restore-")) out.push(e.name);
  }
  return out;
}

Deno.test({
  name: "kill -9 during a restore leaves the target as it was",
  ...DAEMON_TEST_OPTS,
  fn: async () => {
    await withTempDir(async (root) => {
      // A source large enough that a restore takes a moment: 30k events on 300 aggregates.
      const source = join(root, "source");
      await makeDataDir(source, 3, 2);
      const { config } = await loadConfig({ dataDir: source }, { create: false });
      const engine = await Engine.open({ dataDir: source, dek: dekBytes(config) });
      try {
        for (let b = 0; b < 30; b++) {
          await engine.appendBatch(Array.from({ length: 1000 }, (_, i) => ({
            aggregate_type: "ledger",
            aggregate_id: `l-${i % 300}`,
            event_type: "posted",
            payload: { amount: b * 1000 + i, memo: "x".repeat(100) },
          })));
        }
      } finally {
        await engine.close();
      }
      const archive = join(root, "backup.tar.gz");
      ok(await dbx(["backup", "--output", archive, "--data-dir", source]), "backup");
      const target = join(root, "target");
      await makeDataDir(target, 2, 2);
      const old = await logicalContent(target);
      const oldBytes = await snapshotTree(target);
      const fresh = await logicalContent(source);

      let killedMidway = 0;
      for (const delay of [0, 150, 400, 800, 1500, 2500]) {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", MAIN, "restore", "--input", archive, "--data-dir", target, "--force"],
          env: { DBX_NO_UPGRADE_CHECK: "1" },
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        try {
          // Wait until it works beside the target, then a little more, then kill it.
          await waitUntil(
            30_000,
            "the restore to begin",
            async () =>
              (await leftovers(root)).length > 0 ||
              (await Promise.race([child.status.then(() => true), Promise.resolve(false)])),
          );
          await new Promise((r) => setTimeout(r, delay));
          killQuietly(child);
        } finally {
          await statusWithin(child, 30_000, "the killed restore");
        }
        const now = await logicalContent(target);
        const same = JSON.stringify(now) === JSON.stringify(old);
        assert(
          same || JSON.stringify(now) === JSON.stringify(fresh),
          `after a kill at +${delay} ms the target is neither the old nor the restored directory`,
        );
        if (same) {
          killedMidway++;
          // Killed before the swap took the old store's lock: not a byte changed.
          if ((await leftovers(root)).length > 0) {
            const bytes = await snapshotTree(target);
            for (const [path, entry] of Object.entries(oldBytes)) {
              if (!path.startsWith("store/")) assertEquals(bytes[path], entry, path);
            }
          }
        } else break;
      }
      assert(killedMidway > 0, "at least one kill came before the restore finished");

      // The next restore cleans up and completes.
      ok(
        await dbx(["restore", "--input", archive, "--data-dir", target, "--force"]),
        "restore after the kills",
      );
      assertEquals(await leftovers(root), []);
      assertEquals(await logicalContent(target), fresh);
      ok(await dbx(["verify", "--data-dir", target]), "verify the restored store");
    });
  },
});
