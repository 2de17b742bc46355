/**
 * A backup taken while a server runs and appends keep arriving (concurrent REST appends on
 * several aggregates) is consistent: restored into a new directory, it holds exactly the
 * events at or below the manifest's global position, every acknowledged one of them with
 * the hash, root and position it was acknowledged with, and the restored store verifies.
 * Also: restore refuses while a server runs on the target; the archive is mode 0600 and
 * carries the configuration, schemas, tokens and node key; --force replaces an archive.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { withDeadline } from "../_helpers/deadline.ts";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { Engine } from "../../src/engine/engine.ts";
import {
  DAEMON_TEST_OPTS,
  dbx,
  generateToken,
  ok,
  serverUrlOf,
  startDaemon,
  withDataDir,
} from "../server/lifecycle_helpers.ts";
import { readTarGz } from "./_helpers.ts";

interface Acked {
  aggregate_id: string;
  version: number;
  position: number;
  hash: string;
  merkle_root: string;
}

Deno.test({
  name: "backup while appends run: the restored store is exactly the store at one position",
  ...DAEMON_TEST_OPTS,
  fn: async () => {
    await withDataDir(async (dir) => {
      ok(
        await dbx(["schema", "create", "order", "--events", "placed", "--data-dir", dir]),
        "schema",
      );
      await startDaemon(dir);
      const url = await serverUrlOf(dir);
      const token = await generateToken(dir, ["--group", "ops", "--user", "writer"]);
      const acked: Acked[] = [];
      let stop = false;
      let failures = 0;
      const writer = async (w: number) => {
        let n = 0;
        while (!stop && n < 5000) {
          const r = await fetch(`${url}/v1/events`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({
              aggregate_type: "order",
              aggregate_id: `o-${w}-${n % 7}`,
              event_type: "placed",
              payload: { n, writer: w, items: [{ sku: "a", qty: n % 5 }] },
            }),
          });
          const body = await r.json();
          if (r.status === 201) acked.push(body);
          else failures++;
          n++;
        }
      };
      const writers = Array.from({ length: 6 }, (_, w) => writer(w));
      // Let some events land first, so the backup starts in the middle of a stream.
      await withDeadline(30_000, "the first appends", async () => {
        while (acked.length < 200) await new Promise((r) => setTimeout(r, 20));
      });
      const ackedBefore = acked.length;
      const archive = join(dir, "..", "live.tar.gz");
      const backup = await dbx(["backup", "--output", archive, "--json", "--data-dir", dir]);
      const ackedAfter = acked.length;
      stop = true;
      await withDeadline(60_000, "the writers to stop", Promise.all(writers));
      ok(backup, "backup while the server runs");
      assertEquals(failures, 0, "every append was acknowledged");
      assert(ackedAfter > ackedBefore, "appends went on during the backup");
      const summary = JSON.parse(backup.stdout);
      const info = await Deno.stat(archive);
      assertEquals((info.mode ?? 0) & 0o777, 0o600, "the archive is private");

      const members = readTarGz(await Deno.readFile(archive));
      const names = members.map((m) => m.name);
      for (
        const name of ["config.toml", "files/schemas.json", "files/tokens.json", "files/node.key"]
      ) {
        assert(names.includes(name), `the archive holds ${name}: ${names.join(", ")}`);
      }
      const manifest = JSON.parse(new TextDecoder().decode(members.at(-1)!.data));
      const position: number = manifest.global_position;
      assertEquals(summary.global_position, position);
      // Everything acknowledged before the backup began is at or below its position.
      const sorted = [...acked].sort((a, b) => a.position - b.position);
      assert(position >= sorted[ackedBefore - 1].position, "the backup holds what came before it");

      // Restoring into the running server's directory is refused.
      const busy = await dbx(["restore", "--input", archive, "--data-dir", dir, "--force"]);
      assertEquals(busy.code, 1);
      assert(/a server \(pid \d+\) is running/.test(busy.stderr), busy.stderr);

      const restored = join(dir, "..", "restored");
      const r = await dbx(["restore", "--input", archive, "--json", "--data-dir", restored]);
      ok(r, "restore");
      assertEquals(JSON.parse(r.stdout).global_position, position);

      const { config } = await loadConfig({ dataDir: restored }, { create: false });
      const engine = await Engine.open({
        dataDir: restored,
        dek: dekBytes(config),
        readOnly: true,
      });
      try {
        assertEquals(await engine.lastPosition(), position);
        const stored = new Map<number, Acked>();
        let after = 0;
        while (after < position) {
          const page = await engine.eventsAfter(after, 1000);
          if (page.length === 0) break;
          for (const e of page) stored.set(e.position, e as unknown as Acked);
          after = page[page.length - 1].position;
        }
        assertEquals(stored.size, position, "every position up to the backup's is there");
        for (const a of acked) {
          const e = stored.get(a.position);
          if (a.position > position) {
            assertEquals(e, undefined, `event at ${a.position} is after the backup`);
            continue;
          }
          assert(e, `acknowledged event at position ${a.position} is in the backup`);
          assertEquals(
            [e.aggregate_id, e.version, e.hash, e.merkle_root],
            [a.aggregate_id, a.version, a.hash, a.merkle_root],
          );
        }
      } finally {
        await engine.close();
      }
      const verify = JSON.parse(
        ok(await dbx(["verify", "--json", "--data-dir", restored]), "verify"),
      );
      assertEquals(verify.verified, true);
      assertEquals(verify.last_position, position);

      // --force replaces an existing archive; without it, it is refused.
      const again = await dbx(["backup", "--output", archive, "--data-dir", dir]);
      assertEquals(again.code, 1);
      assert(/exists already; pass --force/.test(again.stderr), again.stderr);
      ok(
        await dbx(["backup", "--output", archive, "--force", "--data-dir", dir]),
        "backup --force",
      );
      await Deno.remove(archive);
      await Deno.remove(restored, { recursive: true });
    });
  },
});
