/**
 * Export file names, whatever aggregate type names the export meets: the engine refuses
 * "." and ".." as names today, but an export renders whatever a store holds (older data,
 * replicated data), so renderExport itself must never produce a file named ".", "..",
 * a hidden file, a path with a separator, a Windows device name, an over-long name, or
 * two files that overwrite each other (also ignoring case) — and must not fail either.
 */
import { dirname, join, resolve } from "node:path";
import { unzipSync } from "fflate";
import type { AggregateRecord } from "../../src/engine/types.ts";
import { renderExport, zipFiles } from "../../src/export/state_export.ts";
import { sha256, toHex } from "../../src/integrity/sha256.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/temp.ts";

function record(type: string, id: string, state: Record<string, unknown>): AggregateRecord {
  return {
    aggregate_type: type,
    aggregate_id: id,
    version: 1,
    state,
    merkle_root: "0".repeat(64),
    archived: false,
    created_at: "2030-01-01T00:00:00.000Z",
    updated_at: "2030-01-01T00:00:00.000Z",
  };
}

const HOSTILE = [
  ".",
  "..",
  "...",
  "",
  "/",
  "\\",
  "./",
  "../",
  "../../etc/passwd",
  "..\\..\\windows\\system32",
  "a/b",
  "a\\b",
  "/abs",
  "C:",
  "C:\\x",
  "\0",
  "nul\0byte",
  "line\nbreak",
  ".hidden",
  "..hidden",
  "CON",
  "nul",
  "Com1",
  "lpt9.x",
  "aux.json",
  "x".repeat(300),
  "é",
  "日本",
  "a b",
  "a_b",
  "A_B",
  "__proto__",
  // Chosen to look like the hashed name of "a b".
  `a_b-${toHex(sha256("a b")).slice(0, 8)}`,
  "patient",
  "Patient",
];

/** A file name a directory can hold as one entry, with nothing special about it. */
function assertPlainName(name: string, format: string): void {
  assert(name !== "." && name !== ".." && name !== "", `bad name ${JSON.stringify(name)}`);
  assert(!/[\/\\\0]/.test(name), `separator or NUL in ${JSON.stringify(name)}`);
  assert(!name.startsWith("."), `hidden file ${JSON.stringify(name)}`);
  assert(
    new RegExp(`^[A-Za-z0-9_-][A-Za-z0-9._-]*\\.${format}$`).test(name),
    `unsafe characters in ${JSON.stringify(name)}`,
  );
  assert(
    !/^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)/i.test(name),
    `Windows device name ${JSON.stringify(name)}`,
  );
  assert(new TextEncoder().encode(name).length <= 255, `too long: ${name.length}`);
  const base = "/export/dir";
  assertEquals(dirname(resolve(base, name)), base, `${JSON.stringify(name)} leaves the folder`);
}

for (const format of ["csv", "json"] as const) {
  Deno.test(`renderExport (${format}): hostile type names give plain, distinct file names`, async () => {
    const aggregates = HOSTILE.map((type, i) => record(type, `id-${i}`, { n: String(i) }));
    const files = renderExport(aggregates, format, false);
    assertEquals(files.length, HOSTILE.length, "one file per type");
    for (const f of files) assertPlainName(f.name, format);
    const folded = new Set(files.map((f) => f.name.toLowerCase()));
    assertEquals(folded.size, files.length, "no two files share a name, even ignoring case");

    // Types that were safe as they are keep their name.
    const names = files.map((f) => f.name);
    for (const kept of ["__proto__", `a_b-${toHex(sha256("a b")).slice(0, 8)}`]) {
      assert(names.includes(`${kept}.${format}`), `${kept} keeps its name: ${names.join(", ")}`);
    }

    // Each file holds exactly its type's rows: nothing was merged or lost.
    const text = (f: { data: Uint8Array }) => new TextDecoder().decode(f.data);
    for (const [i, f] of files.entries()) {
      const ids = format === "csv"
        ? text(f).trim().split("\r\n").slice(1).map((line) => line.split(",")[0])
        : JSON.parse(text(f)).map((row: { aggregate_id: string }) => row.aggregate_id);
      assertEquals(ids, [`id-${i}`], `${f.name} holds the rows of ${JSON.stringify(HOSTILE[i])}`);
    }

    // Written to a real folder and zipped: every file stays a separate entry.
    await withTempDir(async (dir) => {
      for (const f of files) await Deno.writeFile(join(dir, f.name), f.data, { createNew: true });
      const entries = [...Deno.readDirSync(dir)];
      assertEquals(entries.length, files.length);
      assert(entries.every((e) => e.isFile), "only plain files, directly in the folder");
    });
    const zipped = Object.keys(unzipSync(zipFiles(files)));
    assertEquals(zipped.sort(), names.slice().sort(), "the zip holds every file at its top");
  });
}

Deno.test("renderExport: the same hostile names give the same file names every time", () => {
  const aggregates = HOSTILE.map((type, i) => record(type, `id-${i}`, {}));
  const once = renderExport(aggregates, "csv", false).map((f) => f.name);
  const reversed = renderExport(aggregates.slice().reverse(), "csv", false).map((f) => f.name);
  assertEquals(reversed.slice().sort(), once.slice().sort(), "names do not depend on order");
});
