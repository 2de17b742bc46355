/**
 * Tampering with stored events through the raw storage interface: `verify` must report
 * the first version that no longer matches, and the CLI must exit 1 naming it.
 */
import { Buffer } from "node:buffer";
import { open, seal } from "../../src/crypto/aead.ts";
import { canonicalJson } from "../../src/integrity/canonical_json.ts";
import { decodeEventHeader, decodeEventPayload } from "../../src/engine/codec.ts";
import { Engine, storePath } from "../../src/engine/engine.ts";
import { eventHash } from "../../src/engine/event_hash.ts";
import { eventKey, headKey } from "../../src/engine/keys.ts";
import { decodeHead, replaceHead } from "../../src/engine/codec.ts";
import type { EventRecord, VerifyResult } from "../../src/engine/types.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import type { Storage } from "../../src/store/storage.ts";
import { assert, assertEquals, assertNotEquals } from "../_helpers/assert.ts";
import { event, MAIN, randomDek, range1, withTempDir } from "./helpers.ts";

const TYPE = "t";
const ID = "1";
const N = 8;
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Stored {
  dir: string;
  dek: Uint8Array;
  records: EventRecord[];
}

/** Write N events to t/1 (and a few to t/2), then close the engine. */
async function populate(dir: string, dek: Uint8Array): Promise<EventRecord[]> {
  const engine = await Engine.open({ dataDir: dir, dek });
  try {
    const records: EventRecord[] = [];
    for (const n of range1(N)) {
      records.push(await engine.append(event(TYPE, ID, { n, label: `value-${n}` })));
      if (n % 3 === 0) await engine.append(event(TYPE, "2", { n }));
    }
    const intact = await engine.verify(TYPE, ID);
    assertEquals(intact.verified, true, intact.reason);
    return records;
  } finally {
    await engine.close();
  }
}

/** Alter the raw store with `tamper`, then verify t/1 (and check t/2 is untouched). */
async function tamperAndVerify(
  tamper: (storage: Storage, ctx: Stored) => Promise<void>,
): Promise<VerifyResult> {
  return await withTempDir(async (dir) => {
    const dek = randomDek();
    const records = await populate(dir, dek);
    const storage = await openRocksStorage(storePath(dir));
    try {
      await tamper(storage, { dir, dek, records });
    } finally {
      await storage.close();
    }
    const engine = await Engine.open({ dataDir: dir, dek });
    try {
      const other = await engine.verify(TYPE, "2");
      assertEquals(other.verified, true, "tampering with t/1 must not affect t/2");
      return await engine.verify(TYPE, ID);
    } finally {
      await engine.close();
    }
  }, "dbx-tamper-test-");
}

async function readEvent(storage: Storage, version: number): Promise<Buffer> {
  const value = await storage.get(eventKey(TYPE, ID, version));
  assert(value, `event ${version} is missing before tampering`);
  return Buffer.from(value);
}

async function putEvent(storage: Storage, version: number, value: Uint8Array): Promise<void> {
  await storage.write([{ type: "put", key: eventKey(TYPE, ID, version), value }], { sync: true });
}

/** Replace the header JSON of a stored event value (keeping the sealed payload). */
function withHeader(value: Buffer, edit: (header: string) => string): Buffer {
  const length = value.readUInt32BE(0);
  const header = dec.decode(value.subarray(4, 4 + length));
  const edited = edit(header);
  assertNotEquals(edited, header, "the edit changed nothing");
  const bytes = enc.encode(edited);
  const out = Buffer.alloc(4 + bytes.length + (value.length - 4 - length));
  out.writeUInt32BE(bytes.length, 0);
  out.set(bytes, 4);
  out.set(value.subarray(4 + length), 4 + bytes.length);
  return out;
}

/** Change one byte of the header text in place, keeping the JSON valid and the same length. */
function flipHeaderChar(value: Buffer, anchor: string, offset: number): Buffer {
  const length = value.readUInt32BE(0);
  const header = dec.decode(value.subarray(4, 4 + length));
  const at = header.indexOf(anchor);
  assert(at >= 0, `${anchor} not found in ${header}`);
  const index = 4 + at + anchor.length + offset;
  const out = Buffer.from(value);
  const old = String.fromCharCode(out[index]);
  out[index] = (/\d/.test(old) ? String((Number(old) + 1) % 10) : old === "a" ? "b" : "a")
    .charCodeAt(0);
  JSON.parse(dec.decode(out.subarray(4, 4 + length))); // still valid JSON
  return out;
}

function assertBadAt(result: VerifyResult, version: number, reason?: RegExp): void {
  assertEquals(result.verified, false, "tampering went unnoticed");
  assertEquals(result.first_bad_version, version, result.reason);
  assert(typeof result.reason === "string" && result.reason.length > 0, "no reason given");
  if (reason) assert(reason.test(result.reason!), result.reason);
  assertEquals(result.aggregate_type, TYPE);
  assertEquals(result.aggregate_id, ID);
}

Deno.test("tamper: a character of event_type in the header", async () => {
  const k = 3;
  const result = await tamperAndVerify(async (storage) => {
    await putEvent(storage, k, flipHeaderChar(await readEvent(storage, k), '"event_type":"', 0));
  });
  assertBadAt(result, k, /hash/);
});

Deno.test("tamper: a digit of created_at in the header", async () => {
  const k = 5;
  const result = await tamperAndVerify(async (storage) => {
    // "YYYY-MM-DDTHH:MM:SS.mmmZ": offset 21 is the middle millisecond digit.
    await putEvent(storage, k, flipHeaderChar(await readEvent(storage, k), '"created_at":"', 21));
  });
  assertBadAt(result, k, /hash/);
});

Deno.test("tamper: the version number in the header", async () => {
  const k = 2;
  const result = await tamperAndVerify(async (storage) => {
    const value = await readEvent(storage, k);
    await putEvent(storage, k, withHeader(value, (h) => h.replace('"version":2', '"version":9')));
  });
  assertBadAt(result, k);
});

Deno.test("tamper: the issued_by of an event (header grows)", async () => {
  const k = 1;
  const result = await tamperAndVerify(async (storage) => {
    const value = await readEvent(storage, k);
    await putEvent(
      storage,
      k,
      withHeader(
        value,
        (h) => h.replace('"issued_by":null', '"issued_by":{"group":"x","user":"y"}'),
      ),
    );
  });
  assertBadAt(result, k, /hash/);
});

Deno.test("tamper: one flipped byte in the sealed payload", async () => {
  for (const fromEnd of [1, 20]) {
    const k = 4;
    const result = await tamperAndVerify(async (storage) => {
      const value = await readEvent(storage, k);
      value[value.length - fromEnd] ^= 0x01;
      await putEvent(storage, k, value);
    });
    assertBadAt(result, k, /decrypt|altered/);
  }
});

Deno.test("tamper: a payload re-sealed with the DEK (attacker holds the key)", async () => {
  const k = 6;
  const result = await tamperAndVerify(async (storage, { dek }) => {
    const key = eventKey(TYPE, ID, k);
    const value = await readEvent(storage, k);
    const payload = decodeEventPayload(value, key, dek);
    assertEquals(payload, { n: k, label: `value-${k}` });
    const length = value.readUInt32BE(0);
    const sealed = seal(dek, enc.encode(JSON.stringify({ ...payload, label: "forged" })), key);
    await putEvent(storage, k, Buffer.concat([value.subarray(0, 4 + length), sealed]));
  });
  assertBadAt(result, k, /hash/);
});

/** The payload text stored for event `version`, and a way to seal another in its place. */
async function payloadOf(storage: Storage, dek: Uint8Array, version: number) {
  const key = eventKey(TYPE, ID, version);
  const value = await readEvent(storage, version);
  const header = value.subarray(0, 4 + value.readUInt32BE(0));
  return {
    text: dec.decode(open(dek, value.subarray(header.length), key)),
    replace: (text: string) =>
      putEvent(storage, version, Buffer.concat([header, seal(dek, enc.encode(text), key)])),
  };
}

Deno.test("the writer stores the canonical payload text; a legacy key order still verifies", async () => {
  const k = 5;
  const result = await tamperAndVerify(async (storage, { dek }) => {
    const payload = await payloadOf(storage, dek, k);
    assertEquals(payload.text, canonicalJson({ n: k, label: `value-${k}` }));
    // Same value, JSON.stringify's insertion order (as older writers stored it): not the
    // hashed bytes, so verify must fall back to hashing the parsed payload canonically.
    const legacy = JSON.stringify({ n: k, label: `value-${k}` });
    assertNotEquals(legacy, payload.text);
    await payload.replace(legacy);
  });
  assertEquals(result.verified, true, result.reason);
});

Deno.test("tamper: a payload re-sealed as canonical text of another value", async () => {
  const k = 3;
  const result = await tamperAndVerify(async (storage, { dek }) => {
    await (await payloadOf(storage, dek, k)).replace(canonicalJson({ n: k, label: "forged" }));
  });
  assertBadAt(result, k, /hash/);
});

Deno.test("tamper: payload and hash rewritten consistently, root left alone", async () => {
  const k = 7;
  const result = await tamperAndVerify(async (storage, { dek, records }) => {
    const key = eventKey(TYPE, ID, k);
    const value = await readEvent(storage, k);
    const forged = { ...records[k - 1], payload: { n: k, label: "forged" } };
    const hash = eventHash(forged);
    const length = value.readUInt32BE(0);
    const header = withHeader(
      value.subarray(0, 4 + length) as Buffer,
      (h) => h.replace(records[k - 1].hash, hash),
    );
    const sealed = seal(dek, enc.encode(JSON.stringify(forged.payload)), key);
    await putEvent(storage, k, Buffer.concat([header, sealed]));
    assertEquals(decodeEventHeader(Buffer.concat([header, sealed])).hash, hash);
  });
  assertBadAt(result, k, /Merkle/);
});

Deno.test("tamper: an event deleted from the middle", async () => {
  const k = 4;
  const result = await tamperAndVerify(async (storage) => {
    await storage.write([{ type: "del", key: eventKey(TYPE, ID, k) }], { sync: true });
  });
  assertBadAt(result, k, /missing/);
});

Deno.test("tamper: the first event deleted", async () => {
  const result = await tamperAndVerify(async (storage) => {
    await storage.write([{ type: "del", key: eventKey(TYPE, ID, 1) }], { sync: true });
  });
  assertBadAt(result, 1);
});

Deno.test("tamper: two events swapped (reordered)", async () => {
  const k = 5;
  const result = await tamperAndVerify(async (storage) => {
    const a = await readEvent(storage, k);
    const b = await readEvent(storage, k + 1);
    await storage.write([
      { type: "put", key: eventKey(TYPE, ID, k), value: b },
      { type: "put", key: eventKey(TYPE, ID, k + 1), value: a },
    ], { sync: true });
  });
  assertBadAt(result, k);
});

Deno.test("tamper: the head's merkle_root replaced", async () => {
  const forgedRoot = "ab".repeat(32);
  const result = await tamperAndVerify(async (storage, { records }) => {
    const value = (await storage.get(headKey(TYPE, ID)))!;
    const head = decodeHead(value);
    assertEquals(head.merkle_root, records[N - 1].merkle_root);
    head.merkle_root = forgedRoot;
    await storage.write([{
      type: "put",
      key: headKey(TYPE, ID),
      value: replaceHead(value, head),
    }], { sync: true });
  });
  assertBadAt(result, N, /root/);
  // The result shows the root recomputed from the events, not the forged one.
  assertNotEquals(result.merkle_root, forgedRoot);
});

Deno.test("tamper: the last event deleted (truncation)", async () => {
  const result = await tamperAndVerify(async (storage) => {
    await storage.write([{ type: "del", key: eventKey(TYPE, ID, N) }], { sync: true });
  });
  assertBadAt(result, N);
  assertEquals(result.version, N);
});

Deno.test("tamper: a rollback (last event dropped, head rewound) is found", async () => {
  // Dropping the last event and rewriting the head's version and root: the head's frontier
  // and state still describe version N, and the global position index still names event N
  // (tests/engine/verify_coverage.test.ts rewinds all of them consistently).
  let previousRoot = "";
  const result = await tamperAndVerify(async (storage, { records }) => {
    previousRoot = records[N - 2].merkle_root;
    const value = (await storage.get(headKey(TYPE, ID)))!;
    const head = decodeHead(value);
    head.version = N - 1;
    head.merkle_root = previousRoot;
    await storage.write([
      { type: "del", key: eventKey(TYPE, ID, N) },
      { type: "put", key: headKey(TYPE, ID), value: replaceHead(value, head) },
    ], { sync: true });
  });
  assertEquals(result.verified, false, "the rollback went unnoticed");
  assertEquals(result.version, N - 1);
  assertEquals(result.first_bad_version, N - 1, result.reason);
  assertEquals(result.merkle_root, previousRoot);
});

Deno.test("tamper: an extra event appended behind the head's back", async () => {
  const result = await tamperAndVerify(async (storage) => {
    const copy = await readEvent(storage, N);
    const forged = withHeader(copy, (h) => h.replace(`"version":${N}`, `"version":${N + 1}`));
    await storage.write([{ type: "put", key: eventKey(TYPE, ID, N + 1), value: forged }], {
      sync: true,
    });
  });
  assertEquals(result.verified, false);
  assert(result.first_bad_version === N + 1, `${result.first_bad_version}: ${result.reason}`);
});

// --- the real CLI -------------------------------------------------------------------------

async function dbx(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: dec.decode(output.stdout),
    stderr: dec.decode(output.stderr),
  };
}

Deno.test("CLI: aggregate verify exits 0 when intact, 1 naming the bad version when tampered", async () => {
  await withTempDir(async (dir) => {
    const dek = randomDek();
    const config = await dbx([
      "config",
      "--dek",
      btoa(String.fromCharCode(...dek)),
      "--data-dir",
      dir,
    ]);
    assertEquals(config.code, 0, config.stderr);
    assert(!config.stdout.includes(btoa(String.fromCharCode(...dek))), "config printed the DEK");
    const records = await populate(dir, dek);
    const verifyArgs = [
      "aggregate",
      "verify",
      "--aggregate",
      TYPE,
      "--aggregate-id",
      ID,
      "--data-dir",
      dir,
    ];

    const intact = await dbx(verifyArgs);
    assertEquals(intact.code, 0, intact.stderr);
    assert(intact.stdout.includes(records[N - 1].merkle_root), intact.stdout);
    const json = await dbx([...verifyArgs, "--json"]);
    assertEquals(json.code, 0, json.stderr);
    assertEquals(JSON.parse(json.stdout).verified, true);
    assertEquals(JSON.parse(json.stdout).version, N);

    const k = 3;
    const storage = await openRocksStorage(storePath(dir));
    try {
      await putEvent(storage, k, flipHeaderChar(await readEvent(storage, k), '"event_type":"', 1));
    } finally {
      await storage.close();
    }
    const tampered = await dbx(verifyArgs);
    assertEquals(tampered.code, 1, tampered.stderr);
    assertEquals(tampered.stderr.trim().split("\n").length, 1, tampered.stderr);
    assert(/\bversion 3\b/.test(tampered.stderr), tampered.stderr);
    const tamperedJson = await dbx([...verifyArgs, "--json"]);
    assertEquals(tamperedJson.code, 1);
    const body = JSON.parse(tamperedJson.stdout);
    assertEquals(body.verified, false);
    assertEquals(body.first_bad_version, k);

    const missing = await dbx([
      "aggregate",
      "verify",
      "--aggregate",
      TYPE,
      "--aggregate-id",
      "nope",
      "--data-dir",
      dir,
    ]);
    assertEquals(missing.code, 1);
    assert(missing.stderr.includes("not found"), missing.stderr);
  }, "dbx-tamper-cli-");
});
