/**
 * Hardening through the real CLI: private files whatever the umask (data dir 0700, every
 * file 0600, the store's files included, also through a running server), staged events
 * sealed with the DEK, exports private and never overwritten without --force, payloads and
 * patches from a file or stdin, the depth limit on the CLI's JSON inputs, and cut lists that
 * say how to get the next page.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { applyArgs, type CliResult, MAIN, runDbx, runDbxOk } from "../_helpers/cli.ts";
import { outputWithin, PROCESS_DEADLINE_MS } from "../_helpers/deadline.ts";
import { withTempDir } from "../_helpers/temp.ts";

const POSIX = Deno.build.os !== "windows";

/** `dbx <args> --data-dir <dir>` started under `umask 000`. */
async function dbxUmask000(dir: string, args: string[]): Promise<CliResult> {
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'umask 000; exec "$@"',
      "sh",
      Deno.execPath(),
      "run",
      "-A",
      MAIN,
      ...args,
      "--data-dir",
      dir,
    ],
    env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await outputWithin(child, PROCESS_DEADLINE_MS, `dbx ${args.join(" ")}`);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Every entry under `dir` whose mode is not 0700 (directories) or 0600 (files). */
async function loose(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string) => {
    const info = await Deno.lstat(path);
    const mode = (info.mode ?? 0) & 0o777;
    if (info.isDirectory) {
      if (mode !== 0o700) found.push(`${path} ${mode.toString(8)}`);
      for await (const entry of Deno.readDir(path)) await walk(join(path, entry.name));
    } else if (info.isFile && mode !== 0o600) found.push(`${path} ${mode.toString(8)}`);
  };
  await walk(dir);
  return found;
}

Deno.test("files: under umask 000 the data dir is 0700 and every file 0600, the store's too", async () => {
  if (!POSIX) return;
  await withTempDir(async (parent) => {
    const dir = join(parent, "db");
    const run = async (args: string[]) => {
      const r = await dbxUmask000(dir, args);
      assertEquals(r.code, 0, `dbx ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    await run(["config", "--dek", btoa("k".repeat(32))]);
    await run(["schema", "create", "patient", "--events", "added"]);
    await run(applyArgs("patient", "p-1", "added", "name=Jane"));
    await run([...applyArgs("patient", "p-2", "added", "name=John"), "--stage"]);
    const token = (await run(["token", "generate", "--group", "g", "--user", "u"])).trim();
    assert(token.length > 20);
    // A server started under umask 000 writes its log, PID file and store files privately too.
    await run(["start", "--port", "0", "--host", "127.0.0.1"]);
    try {
      await run(applyArgs("patient", "p-1", "added", "name=Janet"));
    } finally {
      await run(["stop"]);
    }
    assertEquals(await loose(dir), [], "entries readable by others");
    // An older store with loose modes is tightened when a writer opens it.
    await Deno.chmod(join(dir, "store"), 0o755);
    for await (const entry of Deno.readDir(join(dir, "store"))) {
      if (entry.isFile) await Deno.chmod(join(dir, "store", entry.name), 0o644);
    }
    await run(applyArgs("patient", "p-3", "added", "name=Ann"));
    assertEquals(await loose(dir), []);
  });
});

Deno.test("staging: staged events are sealed; a plaintext file of an older version still works", async () => {
  await withTempDir(async (dir) => {
    await runDbxOk(dir, ["config", "--dek", btoa("k".repeat(32))]);
    await runDbxOk(dir, [
      ...applyArgs("patient", "p-1", "added", "secret=Confidential Diagnosis"),
      "--stage",
    ]);
    const bytes = await Deno.readFile(join(dir, "staged_events.json"));
    const text = new TextDecoder("latin1").decode(bytes);
    assert(!text.includes("Confidential") && !text.includes("patient"), "plaintext in the file");
    if (POSIX) {
      assertEquals((await Deno.stat(join(dir, "staged_events.json"))).mode! & 0o777, 0o600);
    }
    const listed = JSON.parse(await runDbxOk(dir, ["aggregate", "list", "--stage", "--json"]));
    assertEquals(listed.map((e: { payload: unknown }) => e.payload), [{
      secret: "Confidential Diagnosis",
    }]);

    // The plaintext list an older version wrote: read, and sealed on the next change.
    await Deno.writeTextFile(
      join(dir, "staged_events.json"),
      JSON.stringify([{
        aggregate_type: "patient",
        aggregate_id: "p-9",
        event_type: "added",
        payload: { old: "format" },
        staged_at: new Date().toISOString(),
      }]),
    );
    await runDbxOk(dir, [...applyArgs("patient", "p-10", "added", "n=1"), "--stage"]);
    assert(
      !new TextDecoder("latin1").decode(await Deno.readFile(join(dir, "staged_events.json")))
        .includes("format"),
    );
    const out = JSON.parse(await runDbxOk(dir, ["aggregate", "commit", "--json"]));
    assertEquals(out.committed, 2);
    // Another DEK cannot read it (and says so, instead of losing the queue).
    await runDbxOk(dir, [...applyArgs("patient", "p-11", "added", "n=1"), "--stage"]);
    const config = await Deno.readTextFile(join(dir, "config.toml"));
    const other = btoa("z".repeat(32));
    await Deno.writeTextFile(
      join(dir, "config.toml"),
      config.replace(/dek = ".*"/, `dek = "${other}"`),
    );
    const wrong = await runDbx(dir, ["aggregate", "list", "--stage"]);
    assertEquals(wrong.code, 1);
    assert(/data encryption key/.test(wrong.stderr) && !wrong.stderr.includes(other), wrong.stderr);
  });
});

Deno.test("export: files are 0600, never overwritten without --force; --mode asks otherwise", async () => {
  await withTempDir(async (dir) => {
    await runDbxOk(dir, ["config", "--dek", btoa("k".repeat(32))]);
    await runDbxOk(dir, applyArgs("patient", "p-1", "added", "name=Jane"));
    const out = join(dir, "out");
    await runDbxOk(dir, ["aggregate", "export", "patient", "--output", out]);
    const file = join(out, "patient.csv");
    if (POSIX) assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
    const before = await Deno.readTextFile(file);
    const again = await runDbx(dir, ["aggregate", "export", "patient", "--output", out]);
    assertEquals(again.code, 1);
    assert(/exists; pass --force/.test(again.stderr), again.stderr);
    assertEquals(await Deno.readTextFile(file), before, "nothing was overwritten");
    await runDbxOk(dir, applyArgs("patient", "p-2", "added", "name=John"));
    await runDbxOk(dir, [
      "aggregate",
      "export",
      "patient",
      "--output",
      out,
      "--force",
      "--mode",
      "640",
    ]);
    assert((await Deno.readTextFile(file)).includes("John"));
    if (POSIX) assertEquals((await Deno.stat(file)).mode! & 0o777, 0o640);
    const zip = join(dir, "all.zip");
    await runDbxOk(dir, ["aggregate", "export", "--all", "--zip", "--output", zip]);
    const zipped = await runDbx(dir, ["aggregate", "export", "--all", "--zip", "--output", zip]);
    assertEquals(zipped.code, 1, "a zip is not overwritten either");
  });
});

Deno.test("apply: --payload and --patch from @file and from stdin (a 1 MiB payload)", async () => {
  await withTempDir(async (dir) => {
    await runDbxOk(dir, ["config", "--dek", btoa("k".repeat(32))]);
    const big = { text: "x".repeat((1 << 20) - 64) };
    await Deno.writeTextFile(join(dir, "payload.json"), JSON.stringify(big));
    const base = [
      "aggregate",
      "apply",
      "--aggregate",
      "doc",
      "--aggregate-id",
      "d-1",
      "--event",
      "set",
    ];
    await runDbxOk(dir, [...base, "--payload", `@${join(dir, "payload.json")}`]);
    await runDbxOk(dir, [...base, "--payload", "-"], JSON.stringify({ from: "stdin" }));
    await Deno.writeTextFile(
      join(dir, "patch.json"),
      JSON.stringify([{ op: "replace", path: "/from", value: "file" }]),
    );
    await runDbxOk(dir, [...base, "--patch", `@${join(dir, "patch.json")}`]);
    const doc = JSON.parse(
      await runDbxOk(dir, [
        "aggregate",
        "get",
        "--aggregate",
        "doc",
        "--aggregate-id",
        "d-1",
        "--json",
      ]),
    );
    assertEquals(doc.version, 3);
    assertEquals(doc.state.from, "file");
    assertEquals(doc.state.text.length, big.text.length);
    const missing = await runDbx(dir, [...base, "--payload", "@/no/such/file.json"]);
    assertEquals(missing.code, 1);
    assert(/--payload: cannot read \/no\/such\/file\.json/.test(missing.stderr), missing.stderr);
  });
});

Deno.test("depth: the CLI's JSON inputs (payload, patch, schema load) are refused past the limit", async () => {
  await withTempDir(async (dir) => {
    await runDbxOk(dir, ["config", "--dek", btoa("k".repeat(32))]);
    const deep = (d: number) => '{"a":'.repeat(d) + "1" + "}".repeat(d);
    const base = [
      "aggregate",
      "apply",
      "--aggregate",
      "doc",
      "--aggregate-id",
      "d-1",
      "--event",
      "set",
    ];
    // The append's input is one level, its payload the next: 63 levels fit, 64 do not.
    await runDbxOk(dir, [...base, "--payload", deep(63)]);
    const over = await runDbx(dir, [...base, "--payload", deep(64)]);
    assertEquals(over.code, 1);
    assert(/nested deeper than 64 levels/.test(over.stderr), over.stderr);
    const patch = await runDbx(dir, [
      ...base,
      "--patch",
      `[{"op":"add","path":"/b","value":${deep(62)}}]`,
    ]);
    assertEquals(patch.code, 1);
    assert(/nested deeper than 64 levels/.test(patch.stderr), patch.stderr);
    await Deno.writeTextFile(join(dir, "schema.json"), `{"aggregate":"doc","x":${deep(70)}}`);
    const load = await runDbx(dir, ["schema", "load", join(dir, "schema.json")]);
    assertEquals(load.code, 1);
    assert(/nested deeper than 64 levels/.test(load.stderr), load.stderr);
    const huge = await runDbx(dir, [...base, "--payload", "-"], deep(100_000));
    assertEquals(huge.code, 1, huge.stderr);
    assert(!/\n\s+at /.test(huge.stderr), "no stack trace");

    // The limit is a setting: lowered, what fitted before is refused and the message says so.
    await runDbxOk(dir, ["config", "--max-json-depth", "8"]);
    const lowered = await runDbx(dir, [...base, "--payload", deep(8)]);
    assertEquals(lowered.code, 1);
    assert(/nested deeper than 8 levels/.test(lowered.stderr), lowered.stderr);
    await runDbxOk(dir, [...base, "--payload", deep(7)]);
    const bad = await runDbx(dir, ["config", "--max-json-depth", "1"]);
    assertEquals(bad.code, 2, bad.stderr);
    assert(/--max-json-depth.*from 2 to 1000/.test(bad.stderr), bad.stderr);
  });
});

Deno.test("lists cut at a page say how to get the next one (aggregate list, aggregate replay)", async () => {
  await withTempDir(async (dir) => {
    await runDbxOk(dir, ["config", "--dek", btoa("k".repeat(32)), "--page-limit", "5"]);
    for (let i = 0; i < 7; i++) {
      await runDbxOk(dir, applyArgs("doc", `d-${i}`, "set", `n=${i}`));
      await runDbxOk(dir, applyArgs("doc", "d-0", "set", `m=${i}`));
    }
    const list = await runDbx(dir, ["aggregate", "list", "--take", "3"]);
    assertEquals(list.code, 0);
    assert(/more: dbx aggregate list --skip 3 --take 3/.test(list.stderr), list.stderr);
    const last = await runDbx(dir, ["aggregate", "list", "--skip", "6", "--take", "3"]);
    assert(!last.stderr.includes("more:"), last.stderr);
    const replay = await runDbx(dir, [
      "aggregate",
      "replay",
      "--aggregate",
      "doc",
      "--aggregate-id",
      "d-0",
      "--json",
    ]);
    assertEquals(JSON.parse(replay.stdout).length, 5, "page_limit caps the page");
    assert(
      /more: dbx aggregate replay --aggregate "doc" --aggregate-id "d-0" --skip 5/.test(
        replay.stderr,
      ),
      replay.stderr,
    );
  });
});
