/**
 * `dbx restore` refuses every kind of bad archive with a clear message, and the target
 * directory is left exactly as it was (byte for byte): truncated, tampered (a member changed;
 * a member changed with the manifest forged to match, caught by the Merkle verification),
 * wrong format (not gzip, a foreign tar.gz, a newer format version, no manifest), and
 * path-escaping (`..`, absolute paths, symbolic and hard links, members beside the known
 * ones). Also: a non-empty target without --force, and no directory left beside the target.
 */
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/temp.ts";
import {
  dbx,
  fixManifest,
  makeDataDir,
  type Member,
  ok,
  readTarGz,
  snapshotTree,
  writeTarGz,
} from "./_helpers.ts";
import { DAEMON_TEST_OPTS } from "../server/lifecycle_helpers.ts";

const enc = new TextEncoder();

interface Case {
  name: string;
  /** Make the bad archive from the good one's members (or bytes). */
  make: (members: Member[], good: Uint8Array) => Uint8Array;
  /** What stderr must say. */
  message: RegExp;
}

function edit(members: Member[], name: string, change: (data: Uint8Array) => Uint8Array) {
  return members.map((m) => m.name === name ? { ...m, data: change(m.data) } : m);
}

function flipByte(data: Uint8Array, at = Math.floor(data.length / 2)): Uint8Array {
  const out = Uint8Array.from(data);
  out[at] ^= 0x01;
  return out;
}

/** Flip a byte inside the sealed value of the last event record of the first store chunk. */
function flipEventValue(data: Uint8Array): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  let target = -1;
  while (at < data.length) {
    const k = view.getUint32(at);
    const v = view.getUint32(at + 4);
    if (data[at + 8] === 0x45 /* E: an event */) target = at + 8 + k + Math.floor(v / 2);
    at += 8 + k + v;
  }
  assert(target > 0, "the chunk holds an event");
  return flipByte(data, target);
}

const CASES: Case[] = [
  {
    name: "truncated (half the file)",
    make: (_m, good) => good.subarray(0, Math.floor(good.length / 2)),
    message: /truncated|damaged/,
  },
  {
    name: "truncated (the last few bytes)",
    make: (_m, good) => good.subarray(0, good.length - 6),
    message: /truncated|damaged/,
  },
  {
    name: "truncated tar inside a complete gzip stream",
    make: (m) => {
      const whole = readTarGzRaw(writeTarGz(m));
      return new Uint8Array(gzipSync(whole.subarray(0, whole.length - 2048)));
    },
    message: /truncated|manifest/,
  },
  {
    name: "tampered store chunk (digest mismatch)",
    make: (m) => writeTarGz(edit(m, "store/000001.kv", flipEventValue)),
    message: /store\/000001\.kv does not match the manifest.*altered or damaged/,
  },
  {
    name: "tampered config.toml",
    make: (m) =>
      writeTarGz(edit(m, "config.toml", (d) => enc.encode(new TextDecoder().decode(d) + "\n"))),
    message: /config\.toml does not match the manifest/,
  },
  {
    name: "tampered event with a forged manifest (caught by the Merkle verification)",
    make: (m) => writeTarGz(fixManifest(edit(m, "store/000001.kv", flipEventValue))),
    message: /aggregate patient\/p-\d+ (does not verify|cannot be verified)/,
  },
  {
    name: "tampered aggregate list with a forged manifest",
    make: (m) =>
      writeTarGz(fixManifest(edit(m, "aggregates/000001.jsonl", (d) => {
        const text = new TextDecoder().decode(d).replace(/,(\d+),"/, (_s, v) => `,${+v + 1},"`);
        return enc.encode(text);
      }))),
    message: /the manifest says version|lists .* events/,
  },
  {
    name: "a member missing",
    make: (m) => writeTarGz(m.filter((x) => x.name !== "files/schemas.json")),
    message: /manifest lists \d+ members but the archive holds/,
  },
  {
    name: "not gzip at all",
    make: () => enc.encode("this is not an archive, just text\n".repeat(20)),
    message: /not a gzip file|damaged/,
  },
  {
    name: "a foreign tar.gz",
    make: () => writeTarGz([{ name: "README.md", data: enc.encode("# hello\n") }]),
    message: /not an EventDBX backup: unexpected member "README\.md"/,
  },
  {
    name: "an empty tar.gz",
    make: () => writeTarGz([]),
    message: /archive is empty/,
  },
  {
    name: "no manifest",
    make: (m) => writeTarGz(m.filter((x) => x.name !== "manifest.json")),
    message: /no manifest\.json/,
  },
  {
    name: "a newer format version",
    make: (m) =>
      writeTarGz(edit(m, "manifest.json", (d) => {
        const manifest = JSON.parse(new TextDecoder().decode(d));
        manifest.format_version = 99;
        return enc.encode(JSON.stringify(manifest));
      })),
    message: /format version 99; this dbx reads format version 1/,
  },
  {
    name: "a wrong format name",
    make: (m) =>
      writeTarGz(edit(m, "manifest.json", (d) => {
        const manifest = JSON.parse(new TextDecoder().decode(d));
        manifest.format = "something-else";
        return enc.encode(JSON.stringify(manifest));
      })),
    message: /not a valid EventDBX backup: its manifest names format "something-else"/,
  },
  {
    name: "path with ..",
    make: (m) => writeTarGz([{ name: "../escaped.txt", data: enc.encode("x") }, ...m]),
    message: /unsafe path in the archive: "\.\.\/escaped\.txt" leaves the target directory/,
  },
  {
    name: "path with .. inside",
    make: (m) => writeTarGz([{ name: "files/../../escaped", data: enc.encode("x") }, ...m]),
    message: /unsafe path.*leaves the target directory/,
  },
  {
    name: "absolute path",
    make: (m) => writeTarGz([{ name: "/tmp/dbx-escaped.txt", data: enc.encode("x") }, ...m]),
    message: /unsafe path in the archive: "\/tmp\/dbx-escaped\.txt" is an absolute path/,
  },
  {
    name: "symbolic link pointing outside",
    make: (m) =>
      writeTarGz([{
        name: "files/node.key",
        data: new Uint8Array(0),
        type: "2",
        link: "/etc/passwd",
      }, ...m]),
    message: /holds a symbolic link \("files\/node\.key" to "\/etc\/passwd"\): only regular files/,
  },
  {
    name: "hard link",
    make: (m) =>
      writeTarGz([...m.slice(0, 1), {
        name: "config.toml",
        data: new Uint8Array(0),
        type: "1",
        link: "../../x",
      }]),
    message: /holds a hard link .*only regular files/,
  },
  {
    name: "a directory entry",
    make: (m) => writeTarGz([{ name: "store", data: new Uint8Array(0), type: "5" }, ...m]),
    message: /holds a directory/,
  },
  {
    name: "a member after the manifest",
    make: (m) => writeTarGz([...m, { name: "files/plugins.json", data: enc.encode("{}") }]),
    message: /member after manifest\.json/,
  },
  {
    name: "a member twice",
    make: (m) => writeTarGz([m[0], ...m]),
    message: /twice|out of order/,
  },
];

function readTarGzRaw(gz: Uint8Array): Uint8Array {
  return new Uint8Array(gunzipSync(gz));
}

Deno.test({
  name: "restore refuses every kind of bad archive and leaves the target untouched",
  ...DAEMON_TEST_OPTS,
  fn: async () => {
    await withTempDir(async (root) => {
      const source = join(root, "source");
      await makeDataDir(source, 3, 5);
      const archive = join(root, "good.tar.gz");
      ok(await dbx(["backup", "--output", archive, "--data-dir", source]), "backup");
      const good = await Deno.readFile(archive);
      const members = readTarGz(good);
      assertEquals(members.at(-1)?.name, "manifest.json");

      // The target: a real, different data directory that must survive every attempt.
      const target = join(root, "target");
      await makeDataDir(target, 2, 2);
      const before = await snapshotTree(target);
      const outside = await snapshotTree(root);

      for (const c of CASES) {
        const bad = join(root, "bad.tar.gz");
        await Deno.writeFile(bad, c.make(members.map((m) => ({ ...m })), good));
        const r = await dbx(["restore", "--input", bad, "--data-dir", target, "--force"]);
        assertEquals(r.code, 1, `${c.name}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        assert(c.message.test(r.stderr), `${c.name}: unexpected message: ${r.stderr}`);
        assertEquals(r.stderr.trim().split("\n").length, 1, `${c.name}: one line: ${r.stderr}`);
        assertEquals(await snapshotTree(target), before, `${c.name}: the target changed`);
        // Nothing was written anywhere else either (no escaped file, no leftover temp dir).
        const now = await snapshotTree(root);
        delete now["bad.tar.gz"];
        const expected = { ...outside };
        delete expected["bad.tar.gz"];
        assertEquals(
          Object.keys(now).sort(),
          Object.keys(expected).sort(),
          `${c.name}: stray files`,
        );
      }
      await Deno.stat("/tmp/dbx-escaped.txt").then(
        () => assert(false, "an absolute path was written"),
        () => {},
      );

      // A good archive into the non-empty target needs --force; with it, the target is replaced.
      const refused = await dbx(["restore", "--input", archive, "--data-dir", target]);
      assertEquals(refused.code, 1);
      assert(/is not empty; pass --force/.test(refused.stderr), refused.stderr);
      assertEquals(await snapshotTree(target), before);
      ok(await dbx(["restore", "--input", archive, "--data-dir", target, "--force"]), "restore");
      const verify = await dbx(["verify", "--json", "--data-dir", target]);
      ok(verify, "verify the restored store");
      const report = JSON.parse(verify.stdout);
      assertEquals(report.aggregates, 3);
      assertEquals(report.events, 15);
      const leftovers = [];
      for await (const e of Deno.readDir(root)) {
        if (e.name.startsWith(".target.")) leftovers.push(e.name);
      }
      assertEquals(leftovers, [], "no directory left beside the target");
    });
  },
});
