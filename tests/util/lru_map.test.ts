import assert from "node:assert/strict";
import { LruMap } from "../../src/util/lru_map.ts";

Deno.test("lru: keeps at most its capacity and evicts the least recently used", () => {
  const lru = new LruMap<string, number>(2);
  lru.set("a", 1);
  lru.set("b", 2);
  assert.equal(lru.get("a"), 1); // a is now the most recent
  lru.set("c", 3);
  assert.equal(lru.size, 2);
  assert.equal(lru.get("b"), undefined, "b was least recently used");
  assert.equal(lru.get("a"), 1);
  assert.equal(lru.get("c"), 3);
  lru.delete("a");
  assert.equal(lru.get("a"), undefined);
  lru.clear();
  assert.equal(lru.size, 0);
});
