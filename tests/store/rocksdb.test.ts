import assert from "node:assert/strict";
import { isDbxError } from "../../src/errors.ts";
import { openRocksStorage } from "../../src/store/rocksdb.ts";
import type { Storage } from "../../src/store/storage.ts";

const key = (s: string) => new TextEncoder().encode(s);
// The binding returns Buffers; compare plain bytes.
const bytes = (b: Uint8Array | undefined) => b && Uint8Array.from(b);

/** Run `fn` on a storage opened on a fresh temp dir; close it and remove the dir afterwards. */
async function withStorage(fn: (storage: Storage) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const storage = await openRocksStorage(dir);
    try {
      await fn(storage);
    } finally {
      await storage.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("storage: get, getMany, batch write and ordered range", () =>
  withStorage(async (storage) => {
    await storage.write([
      { type: "put", key: key("b"), value: key("2") },
      { type: "put", key: key("a"), value: key("1") },
      { type: "put", key: key("c"), value: key("3") },
    ], { sync: true });
    await storage.write([{ type: "del", key: key("c") }], { sync: true });
    assert.deepEqual(bytes(await storage.get(key("a"))), key("1"));
    assert.equal(await storage.get(key("c")), undefined);
    const many = await storage.getMany([key("b"), key("zz")]);
    assert.deepEqual(bytes(many[0]), key("2"));
    assert.equal(many[1], undefined);
    const seen: string[] = [];
    for await (const [k] of storage.range({ gte: key("a"), lt: key("z") })) {
      seen.push(new TextDecoder().decode(k));
    }
    assert.deepEqual(seen, ["a", "b"]);
    const reversed: string[] = [];
    for await (const [k] of storage.range({ reverse: true, limit: 1 })) {
      reversed.push(new TextDecoder().decode(k));
    }
    assert.deepEqual(reversed, ["b"]);
  }));

Deno.test("storage: batch writes take views into larger buffers and empty values as given", () =>
  withStorage(async (storage) => {
    const big = key("xxkey-1yy");
    const values = key("..value-1..");
    await storage.write([
      { type: "put", key: big.subarray(2, 7), value: values.subarray(2, 9) },
      { type: "put", key: key("empty"), value: new Uint8Array(0) },
    ], { sync: true });
    assert.deepEqual(bytes(await storage.get(key("key-1"))), key("value-1"));
    assert.deepEqual(bytes(await storage.get(key("empty"))), new Uint8Array(0));
    await storage.write([{ type: "del", key: big.subarray(2, 7) }], { sync: true });
    assert.equal(await storage.get(key("key-1")), undefined);
  }));

Deno.test("storage: concurrent, repeated and very large batch writes all land", () =>
  withStorage(async (storage) => {
    // More concurrent writes than reusable batches, twice (reuse after clearing), then
    // one write too large to reuse a batch for.
    for (const round of [0, 1]) {
      await Promise.all(Array.from({ length: 10 }, (_, i) =>
        storage.write([
          { type: "put", key: key(`r${round}-w${i}-a`), value: key(`${round}:${i}:a`) },
          { type: "put", key: key(`r${round}-w${i}-b`), value: key(`${round}:${i}:b`) },
        ], { sync: i % 2 === 0 })));
    }
    const big = new Uint8Array(5 << 20).fill(7);
    await storage.write([{ type: "put", key: key("big"), value: big }], { sync: true });
    for (const round of [0, 1]) {
      for (let i = 0; i < 10; i++) {
        assert.deepEqual(
          bytes(await storage.get(key(`r${round}-w${i}-a`))),
          key(`${round}:${i}:a`),
        );
        assert.deepEqual(
          bytes(await storage.get(key(`r${round}-w${i}-b`))),
          key(`${round}:${i}:b`),
        );
      }
    }
    assert.equal((await storage.get(key("big")))?.length, big.length);
    // A reused batch carries nothing over: were it not cleared, the last write would
    // replay "x = small" over the large write in between.
    await storage.write([{ type: "put", key: key("x"), value: key("small") }], { sync: true });
    await storage.write([{ type: "put", key: key("x"), value: big }], { sync: true });
    await storage.write([{ type: "put", key: key("z"), value: key("z") }], { sync: true });
    assert.equal((await storage.get(key("x")))?.length, big.length);
  }));

// The binding crashes the whole process (segfault) on some calls after close.
Deno.test("storage: every call after close fails cleanly instead of crashing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const storage = await openRocksStorage(dir);
    await storage.write([{ type: "put", key: key("a"), value: key("1") }], { sync: true });
    const scan = storage.range({})[Symbol.asyncIterator]();
    await scan.next();
    await storage.close();
    const closed = (err: unknown) => isDbxError(err, "unavailable");
    await assert.rejects(() => storage.get(key("a")), closed);
    await assert.rejects(() => storage.getMany([key("a")]), closed);
    await assert.rejects(
      () => storage.write([{ type: "del", key: key("a") }], { sync: true }),
      closed,
    );
    await assert.rejects(async () => {
      for await (const _ of storage.range({})) { /* never reached */ }
    }, closed);
    await assert.rejects(() => scan.next(), closed);
    await storage.close(); // a second close is harmless
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage: a second writer on the same directory gets a clear error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await openRocksStorage(dir);
    await assert.rejects(() => openRocksStorage(dir), (err) => isDbxError(err, "unavailable"));
    const reader = await openRocksStorage(dir, { readOnly: true });
    await reader.close();
    await first.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
