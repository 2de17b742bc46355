/**
 * The tar reader and writer of src/maintenance (members round-trip; every unsafe entry is
 * refused before anything is written; a truncated archive is noticed) and the one-step
 * directory exchange used by restore.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { checkMemberName, tarEnd, tarMember, TarReader } from "../../src/maintenance/tar.ts";
import { exchangeDirectories } from "../../src/maintenance/swap.ts";
import { readTarGz, writeTarGz } from "./_helpers.ts";
import { gunzipSync } from "node:zlib";

async function readAll(bytes: Uint8Array): Promise<{ name: string; data: string }[]> {
  const out: { name: string; data: string }[] = [];
  let parts: Uint8Array[] = [];
  const reader = new TarReader({
    begin: () => void (parts = []),
    data: (b) => void parts.push(Uint8Array.from(b)),
    end: (h) => {
      const data = new TextDecoder().decode(new Uint8Array(parts.flatMap((p) => [...p])));
      out.push({ name: h.name, data });
    },
  });
  // Fed in awkward pieces: headers and data split across pushes.
  for (let at = 0; at < bytes.length; at += 37) await reader.push(bytes.subarray(at, at + 37));
  reader.finish();
  return out;
}

Deno.test("tar: members round-trip through the writer and the reader, in pieces", async () => {
  const enc = new TextEncoder();
  const long = `${"d".repeat(120)}/file.txt`;
  const bytes = new Uint8Array([
    ...tarMember({ name: "a.txt" }, enc.encode("hello")),
    ...tarMember({ name: long }, enc.encode("x".repeat(1000))),
    ...tarMember({ name: "empty" }, new Uint8Array(0)),
    ...tarEnd(),
  ]);
  assertEquals(await readAll(bytes), [
    { name: "a.txt", data: "hello" },
    { name: long, data: "x".repeat(1000) },
    { name: "empty", data: "" },
  ]);
  // The independent reader of the tests agrees.
  const gz = writeTarGz([{ name: "b", data: enc.encode("bee") }]);
  assertEquals(readTarGz(gz).map((m) => m.name), ["b"]);
  assertEquals((await readAll(new Uint8Array(gunzipSync(gz))))[0].data, "bee");
});

Deno.test("tar: unsafe names, links, bad checksums and truncation are refused", async () => {
  for (
    const name of [
      "../x",
      "a/../../x",
      "/etc/passwd",
      "C:/x",
      "a\\b",
      "a//b",
      "./a",
      "",
      "a\u0000b",
    ]
  ) {
    let threw = false;
    try {
      checkMemberName(name);
    } catch (err) {
      threw = /unsafe path/.test((err as Error).message);
    }
    assert(threw, `${JSON.stringify(name)} is refused`);
  }
  const refuse = async (bytes: Uint8Array, pattern: RegExp) => {
    let message = "";
    try {
      await readAll(bytes);
    } catch (err) {
      message = (err as Error).message;
    }
    assert(pattern.test(message), `expected ${pattern}, got ${JSON.stringify(message)}`);
  };
  const tar = (m: Parameters<typeof writeTarGz>[0]) => new Uint8Array(gunzipSync(writeTarGz(m)));
  await refuse(
    tar([{ name: "l", data: new Uint8Array(0), type: "2", link: "/etc" }]),
    /symbolic link/,
  );
  await refuse(tar([{ name: "l", data: new Uint8Array(0), type: "1", link: "x" }]), /hard link/);
  await refuse(tar([{ name: "d", data: new Uint8Array(0), type: "5" }]), /directory/);
  await refuse(tar([{ name: "p", data: new Uint8Array(0), type: "x" }]), /pax/);
  await refuse(tar([{ name: "../up", data: new Uint8Array(1) }]), /leaves the target/);
  const good = tar([{ name: "ok", data: new Uint8Array(10) }]);
  const badSum = Uint8Array.from(good);
  badSum[0] ^= 1;
  await refuse(badSum, /checksum does not match/);
  await refuse(good.subarray(0, 600), /truncated/);
  await refuse(good.subarray(0, 1024), /truncated/);
  const trailing = new Uint8Array([...good, 1, 2, 3]);
  await refuse(trailing, /data follows the end of the archive/);
});

Deno.test("swap: two directories are exchanged (in one step where the OS can)", async () => {
  await withTempDir(async (dir) => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    await Deno.mkdir(a);
    await Deno.mkdir(b);
    await Deno.writeTextFile(join(a, "which"), "new");
    await Deno.writeTextFile(join(b, "which"), "old");
    const atomic = await exchangeDirectories(a, b);
    assertEquals(await Deno.readTextFile(join(b, "which")), "new");
    assertEquals(await Deno.readTextFile(join(a, "which")), "old");
    if (Deno.build.os === "linux" || Deno.build.os === "darwin") assert(atomic, "one step");
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names.sort(), ["a", "b"]);
  });
});
