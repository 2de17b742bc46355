import assert from "node:assert/strict";
import { ScratchBuffer } from "../../src/util/scratch_buffer.ts";

Deno.test("scratch buffer: reused while it fits, grown (at least doubled) when not", () => {
  const scratch = new ScratchBuffer(16);
  const first = scratch.reserve(10);
  assert.ok(first.length >= 10);
  assert.equal(scratch.reserve(16), first, "a need that fits reuses the buffer");
  const grown = scratch.reserve(17);
  assert.notEqual(grown, first);
  assert.equal(grown.length, 32);
  assert.equal(scratch.reserve(100).length, 100);
  assert.equal(scratch.reserve(50).length, 100, "it never shrinks");
});
