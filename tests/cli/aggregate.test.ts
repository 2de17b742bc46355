/**
 * `dbx aggregate …` offline, through the real CLI in a subprocess: every command
 * working, and bad inputs (bad JSON, bad --field, unknown flags, missing aggregate,
 * wrong DEK, …) failing with one clear line, the right exit code and no change.
 */
import { join } from "node:path";
import { unzipSync } from "fflate";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { applyArgs, assertHelp, runDbx as dbx, runDbxOk as ok } from "../_helpers/cli.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { dekBytes, loadConfig } from "../../src/config/mod.ts";
import { openJson } from "../../src/engine/codec.ts";
import { Engine, storePath } from "../../src/engine/engine.ts";
import { snapshotKey } from "../../src/engine/keys.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";

async function json(dir: string, args: string[]) {
  return JSON.parse(await ok(dir, [...args, "--json"]));
}

/** A failed run: its exit code, and one error line that matches `message`. */
async function fails(dir: string, args: string[], code: 1 | 2, message: RegExp): Promise<void> {
  const r = await dbx(dir, args);
  assertEquals(r.code, code, `dbx ${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
  assert(!r.stderr.includes("\n"), `expected one line, got:\n${r.stderr}`);
  assert(message.test(r.stderr), `dbx ${args.join(" ")}: ${r.stderr}`);
}

const DEK = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const P1 = ["--aggregate", "patient", "--aggregate-id", "p-1"];
const apply = (...more: string[]) => ["aggregate", "apply", ...P1, ...more];

/** A configured data dir holding patient/p-1 at version 2. */
async function withStore(fn: (dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    await ok(dir, ["config", "--dek", DEK()]);
    await ok(dir, apply("--event", "patient-added", "--field", "name=Jane", "--field", "age=40"));
    await ok(dir, apply("--event", "patient-updated", "--payload", '{"status":"active"}'));
    await fn(dir);
  }, "dbx-cli-aggregate-test-");
}

Deno.test("aggregate apply, get, list, replay and verify work offline", async () => {
  await withStore(async (dir) => {
    const third = await json(dir, [
      ...apply("--event", "patient-noted"),
      "--patch",
      '[{"op":"replace","path":"/status","value":"inactive"}]',
      "--note",
      "checked",
      "--expected-version",
      "2",
    ]);
    assertEquals(third.version, 3);
    assertEquals(third.payload, { status: "inactive" });
    assertEquals(third.metadata.note, "checked");

    const current = await json(dir, ["aggregate", "get", ...P1]);
    assertEquals(current.version, 3);
    assertEquals(current.state, { name: "Jane", age: "40", status: "inactive" });
    // `--version` belongs to the sub-command here, not to the program.
    const first = await json(dir, ["aggregate", "get", ...P1, "--version", "1"]);
    assertEquals(first.version, 1);
    assertEquals(first.state, { name: "Jane", age: "40" });
    const withEvents = await json(dir, ["aggregate", "get", ...P1, "--include-events"]);
    assertEquals(withEvents.events.map((e: { version: number }) => e.version), [1, 2, 3]);

    const listed = await json(dir, ["aggregate", "list"]);
    assertEquals(listed.map((a: { aggregate_id: string }) => a.aggregate_id), ["p-1"]);
    const page = await json(dir, ["aggregate", "replay", ...P1, "--skip", "1", "--take", "1"]);
    assertEquals(page.map((e: { version: number }) => e.version), [2]);
    const verified = await json(dir, ["aggregate", "verify", ...P1]);
    assertEquals(verified.verified, true);
    assertEquals(verified.merkle_root, third.merkle_root);
    assert((await ok(dir, ["aggregate", "get", ...P1])).includes("inactive"), "text output");
  });
});

/** The snapshots of patient/p-1 as stored: version, comment and the sealed state. */
async function storedSnapshots(dir: string) {
  const { config } = await loadConfig({ dataDir: dir }, { create: false });
  const dek = dekBytes(config);
  const storage = await openRocksStorage(storePath(dir), { readOnly: true });
  const engine = await Engine.open({ dataDir: dir, dek, storage, readOnly: true });
  try {
    const listed = await engine.listSnapshots("patient", "p-1");
    return await Promise.all(listed.map(async (s) => {
      const key = snapshotKey("patient", "p-1", s.version);
      const value = await storage.get(key);
      assert(value, `snapshot ${s.version} is listed but not stored`);
      const { state } = openJson<{ state: unknown }>(value, key, dek, "snapshot");
      return { version: s.version, comment: s.comment, state };
    }));
  } finally {
    await engine.close();
  }
}

Deno.test("aggregate snapshot, archive, restore, remove, stage and commit", async () => {
  await withStore(async (dir) => {
    const taken = await json(dir, ["aggregate", "snapshot", ...P1, "--comment", "before audit"]);
    assertEquals(taken.version, 2);
    // The snapshot is really stored, at version 2, holding the state at version 2.
    const atTwo = { name: "Jane", age: "40", status: "active" };
    assertEquals(await storedSnapshots(dir), [
      { version: 2, comment: "before audit", state: atTwo },
    ]);
    await ok(dir, ["aggregate", "archive", ...P1, "--comment", "closed"]);
    await fails(dir, apply("--event", "late", "--field", "a=1"), 1, /archived/);
    assertEquals((await json(dir, ["aggregate", "get", ...P1])).archived, true);
    await ok(dir, ["aggregate", "restore", ...P1]);
    await ok(dir, apply("--event", "reopened", "--field", "a=1"));
    await fails(dir, ["aggregate", "remove", ...P1], 1, /committed events/);
    // State at version 2 is rebuilt from the snapshot (nothing to fold after it) and
    // equals it; the current state has the later event on top.
    assertEquals((await json(dir, ["aggregate", "get", ...P1, "--version", "2"])).state, atTwo);
    assertEquals((await json(dir, ["aggregate", "get", ...P1])).state, { ...atTwo, a: "1" });
    assertEquals((await storedSnapshots(dir)).map((s) => s.version), [2], "no other snapshot");

    const order = (id: string) => ["--aggregate", "order", "--aggregate-id", id];
    await ok(dir, [...applyArgs("order", "o-1", "placed", "total=10"), "--stage"]);
    await ok(dir, [...applyArgs("order", "o-2", "placed", "total=12"), "--stage"]);
    assertEquals((await json(dir, ["aggregate", "list", "--stage"])).length, 2);
    // Removing an aggregate with only staged events drops them.
    await ok(dir, ["aggregate", "remove", ...order("o-1")]);
    assertEquals((await json(dir, ["aggregate", "list", "--stage"])).length, 1);
    await ok(dir, ["aggregate", "commit"]);
    assertEquals((await json(dir, ["aggregate", "list", "--stage"])).length, 0);
    assertEquals((await json(dir, ["aggregate", "get", ...order("o-2")])).state, { total: "12" });
    await fails(dir, ["aggregate", "get", ...order("o-1")], 1, /not found/);
  });
});

Deno.test("aggregate export writes CSV, JSON and zip files that never overwrite each other", async () => {
  await withStore(async (dir) => {
    // "Patient" differs from "patient" only in case; "a b" must be altered, into "a_b".
    await ok(dir, applyArgs("Patient", "x", "e", "k=upper"));
    await ok(dir, applyArgs("a b", "y", "e", "k=spaced"));
    await ok(dir, applyArgs("a_b", "z", "e", "k=under"));
    const out = join(dir, "export");
    await ok(dir, ["aggregate", "export", "--all", "--output", out]);
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assertEquals(names.length, 4, names.join(", "));
    assert(names.every((n) => n.endsWith(".csv")), names.join(", "));
    const texts = names.map((n) => Deno.readTextFileSync(join(out, n)));
    assert(texts.some((t) => t.includes("p-1,40,Jane,active")), texts.join("\n"));
    for (const row of ["x,upper", "y,spaced", "z,under"]) {
      assert(texts.some((t) => t.includes(row)), `${row} is missing from the export`);
    }

    const jsonOut = join(dir, "json");
    await ok(dir, [
      "aggregate",
      "export",
      "patient",
      "--output",
      jsonOut,
      "--format",
      "json",
      "--pretty",
    ]);
    const rows = JSON.parse(Deno.readTextFileSync(join(jsonOut, "patient.json")));
    assertEquals(rows, [{ aggregate_id: "p-1", name: "Jane", age: "40", status: "active" }]);

    const zip = join(dir, "all.zip");
    await ok(dir, ["aggregate", "export", "--all", "--output", zip, "--zip"]);
    assertEquals(Object.keys(unzipSync(Deno.readFileSync(zip))).sort(), names);

    await fails(dir, ["aggregate", "export", "--output", out], 1, /--all/);
    await fails(dir, ["aggregate", "export", "patient", "--all", "--output", out], 1, /not both/);
    await fails(
      dir,
      ["aggregate", "export", "--all", "--output", out, "--format", "xml"],
      2,
      /xml/,
    );
  });
});

Deno.test("bad inputs fail with one line, the right exit code, and write nothing", async () => {
  await withStore(async (dir) => {
    const before = await json(dir, ["aggregate", "get", ...P1]);
    // Usage errors: exit 2.
    await fails(dir, apply("--event", "e", "--field", "novalue"), 2, /KEY=VALUE/);
    await fails(dir, apply("--event", "e", "--bogus"), 2, /unknown option/);
    await fails(dir, ["aggregate", "get", "--aggregate", "patient"], 2, /aggregate-id/);
    await fails(dir, ["aggregate", "replay", ...P1, "--take", "0"], 2, /at least 1/);
    await fails(dir, ["aggregate", "frobnicate"], 2, /unknown command/);
    // Refused operations: exit 1.
    await fails(dir, apply("--event", "e", "--payload", "{bad json"), 1, /JSON/);
    await fails(dir, apply("--event", "e", "--payload", "[1,2]"), 1, /object/);
    await fails(
      dir,
      apply("--event", "e", "--patch", '[{"op":"remove","path":"/name"}]'),
      1,
      /remove/,
    );
    await fails(
      dir,
      apply("--event", "e", "--field", "a=1", "--expected-version", "1"),
      1,
      /conflict/,
    );
    await fails(dir, apply("--event", "bad\u0001type", "--field", "a=1"), 1, /control character/);
    await fails(dir, apply("--event", "e", "--note", "n".repeat(129)), 1, /128/);
    const missing = ["--aggregate", "patient", "--aggregate-id", "nobody"];
    for (const cmd of ["get", "replay", "verify", "snapshot", "archive", "restore"]) {
      await fails(dir, ["aggregate", cmd, ...missing], 1, /not found/);
    }
    assertEquals(await json(dir, ["aggregate", "get", ...P1]), before);
    assertEquals((await json(dir, ["aggregate", "list"])).length, 1);
  });
});

Deno.test("a wrong DEK is a clear error that never shows either key, and reads nothing", async () => {
  await withStore(async (dir) => {
    const config = join(dir, "config.toml");
    const text = Deno.readTextFileSync(config);
    const right = /dek\s*=\s*"([^"]+)"/.exec(text)?.[1];
    assert(right, "the config holds the DEK");
    const wrong = DEK();
    Deno.writeTextFileSync(config, text.replace(right, wrong));
    for (const args of [["aggregate", "get", ...P1], apply("--event", "e", "--field", "a=1")]) {
      const r = await dbx(dir, args);
      assertEquals(r.code, 1, r.stderr);
      assert(/DEK|encryption key/i.test(r.stderr), r.stderr);
      assert(!r.stderr.includes("\n"), r.stderr);
      for (const secret of [right, wrong]) {
        assert(!r.stdout.includes(secret) && !r.stderr.includes(secret), "a DEK was printed");
      }
    }
    Deno.writeTextFileSync(config, text);
    assertEquals((await json(dir, ["aggregate", "get", ...P1])).version, 2);
  });
});

Deno.test("every aggregate sub-command has --help", async () => {
  await withTempDir(async (dir) => {
    await assertHelp(dir, "aggregate", [
      "apply",
      "list",
      "get",
      "replay",
      "verify",
      "snapshot",
      "archive",
      "restore",
      "remove",
      "commit",
      "export",
    ]);
  });
});
