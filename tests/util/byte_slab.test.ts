import assert from "node:assert/strict";
import { ByteSlab } from "../../src/util/byte_slab.ts";

Deno.test("byte slab: views never overlap, within a slab and across slabs", () => {
  const slab = new ByteSlab(1024);
  const views: Uint8Array[] = [];
  // Sizes that do not divide the slab, so some requests meet a slab's end.
  for (let i = 0; i < 60; i++) views.push(slab.take(37 + (i % 5) * 11));
  views.forEach((view, i) => view.fill(i + 1));
  views.forEach((view, i) => {
    assert.ok(view.every((b) => b === i + 1), `view ${i} was overwritten by another`);
  });
  assert.ok(new Set(views.map((v) => v.buffer)).size > 1, "the test must span several slabs");
});

Deno.test("byte slab: views are zero-filled and exactly the size asked", () => {
  const slab = new ByteSlab(1024);
  for (const size of [0, 1, 64, 65, 128]) {
    const view = slab.take(size);
    assert.equal(view.length, size);
    assert.ok(view.every((b) => b === 0));
  }
});

Deno.test("byte slab: a large request gets a buffer of its own", () => {
  const slab = new ByteSlab(1024);
  const small = slab.take(16);
  const large = slab.take(600);
  assert.equal(large.buffer.byteLength, 600);
  assert.notEqual(large.buffer, small.buffer);
  // The slab goes on where it was: the large value took nothing from it.
  assert.equal(slab.take(16).buffer, small.buffer);
});
