/** Stored event and head values, built in place (optionally in a shared slab). */
import {
  decodeEvent,
  decodeHead,
  encodeEvent,
  encodeHeadValue,
  sealedHeadState,
  sealHeadState,
  type StoredHead,
} from "../../src/engine/codec.ts";
import { eventKey, headKey } from "../../src/engine/keys.ts";
import type { EventRecord } from "../../src/engine/types.ts";
import { canonicalJson } from "../../src/integrity/canonical_json.ts";
import { ByteSlab } from "../../src/util/byte_slab.ts";
import { assertEquals, assertThrows } from "../_helpers/assert.ts";

const dek = new Uint8Array(32).fill(7);

function record(version: number, payload: Record<string, unknown>): EventRecord {
  return {
    aggregate_type: "patient",
    aggregate_id: "p-1",
    event_type: "updated",
    payload,
    metadata: {
      event_id: `e-${version}`,
      created_at: "2026-11-23T07:00:00.000Z",
      issued_by: null,
      note: "n\u00f6te \u2028",
    },
    version,
    hash: "ab".repeat(32),
    merkle_root: "cd".repeat(32),
    position: 100 + version,
  };
}

Deno.test("codec: events encoded one after another into one slab decode independently", () => {
  const slab = new ByteSlab(4096);
  const records = Array.from(
    { length: 40 },
    (_, i) => record(i + 1, { i, text: "\u00e9\u{1F600}".repeat(i), nested: { k: [i] } }),
  );
  const values = records.map((r) =>
    encodeEvent(r, eventKey("patient", "p-1", r.version), dek, canonicalJson(r.payload), slab)
  );
  records.forEach((r, i) => {
    const key = eventKey("patient", "p-1", r.version);
    assertEquals(decodeEvent("patient", "p-1", values[i], key, dek), r);
  });
});

Deno.test("codec: a payload larger than the slab and the scratch buffers round-trips", () => {
  const slab = new ByteSlab(1024);
  const big = record(1, { blob: "\u00fc".repeat(300_000) });
  const key = eventKey("patient", "p-1", 1);
  const value = encodeEvent(big, key, dek, canonicalJson(big.payload), slab);
  assertEquals(decodeEvent("patient", "p-1", value, key, dek), big);
});

Deno.test("codec: a sealed event opens only under its own key and DEK", () => {
  const r = record(3, { a: 1 });
  const key = eventKey("patient", "p-1", 3);
  const value = encodeEvent(r, key, dek, undefined, new ByteSlab());
  assertThrows(
    () => decodeEvent("patient", "p-1", value, eventKey("patient", "p-1", 4), dek),
    "wrong_key",
  );
  assertThrows(() => decodeEvent("patient", "p-1", value, key, new Uint8Array(32)), "wrong_key");
});

Deno.test("codec: a head value keeps its summary and its sealed state", () => {
  const key = headKey("patient", "p-1");
  const sealed = sealHeadState({ name: "Jane" }, key, dek);
  const head: StoredHead = {
    version: 9,
    merkle_root: "ef".repeat(32),
    frontier: ["01".repeat(32), "02".repeat(32)],
    archived: false,
    created_at: "2026-11-23T07:00:00.000Z",
    updated_at: "2026-11-23T08:00:00.000Z",
    state_version: 8,
  };
  const slab = new ByteSlab(1024);
  const value = encodeHeadValue(head, sealed, slab);
  const other = encodeHeadValue({ ...head, version: 10 }, sealed, slab);
  assertEquals(decodeHead(value), head);
  assertEquals(decodeHead(other).version, 10);
  assertEquals(sealedHeadState(value), sealed);
});
