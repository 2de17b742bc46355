/** The event hash is exactly SHA-256 over the canonical JSON of the six hashed fields. */
import { createHash } from "node:crypto";
import { eventHash, hashWithPayload } from "../../src/engine/event_hash.ts";
import { canonicalJson } from "../../src/integrity/canonical_json.ts";
import { assertEquals, assertNotEquals } from "../_helpers/assert.ts";

type Hashed = Parameters<typeof eventHash>[0];

const record: Hashed = {
  aggregate_type: "patient",
  aggregate_id: 'p-\u00e9"001',
  event_type: "patient-added",
  payload: { z: 1, a: { y: [1, "two", null], b: true }, "\u00fc": 0.5 },
  metadata: {
    event_id: "e-1",
    created_at: "2026-11-23T07:00:00.000Z",
    issued_by: { group: "g", user: "u" },
    note: "first",
  },
  version: 7,
};

function reference(r: Hashed): string {
  const whole = {
    version: r.version,
    payload: r.payload,
    metadata: r.metadata,
    event_type: r.event_type,
    aggregate_type: r.aggregate_type,
    aggregate_id: r.aggregate_id,
  };
  return createHash("sha256").update(canonicalJson(whole)).digest("hex");
}

Deno.test("event hash equals SHA-256 of the canonical JSON of the hashed fields", () => {
  assertEquals(eventHash(record), reference(record));
  const json = canonicalJson(record.payload);
  assertEquals(hashWithPayload(record, json), reference(record));
  assertEquals(hashWithPayload(record, new TextEncoder().encode(json)), reference(record));
  // Any other text for the same payload value is another hash.
  assertNotEquals(hashWithPayload(record, JSON.stringify(record.payload)), reference(record));
});

Deno.test("event hash covers metadata and drops absent optional fields like canonicalJson", () => {
  const noNote: Hashed = { ...record, metadata: { ...record.metadata, note: undefined } };
  assertEquals(eventHash(noNote), reference(noNote));
  assertNotEquals(eventHash(noNote), eventHash(record));
  assertNotEquals(eventHash({ ...record, version: 8 }), eventHash(record));
});

Deno.test("event hash: every metadata shape hashes like canonicalJson of the whole record", () => {
  const shapes: Hashed["metadata"][] = [
    { event_id: "e", created_at: "t", issued_by: null },
    { event_id: "e", created_at: "t", issued_by: null, note: '\u2028"quoted"\\ \u00e9 \u{1F600}' },
    { created_at: "t", issued_by: { user: "u", group: "g" }, event_id: "e" },
    // Not what a writer makes, so not the direct path: still the same bytes.
    { event_id: "e", created_at: "t", issued_by: null, extra: 1 } as Hashed["metadata"],
    { event_id: "e", created_at: "t" } as Hashed["metadata"],
    { event_id: 5, created_at: "t", issued_by: null } as unknown as Hashed["metadata"],
  ];
  for (const metadata of shapes) {
    const r = { ...record, metadata };
    assertEquals(eventHash(r), reference(r), JSON.stringify(metadata));
  }
});

Deno.test("event hash: long and multi-byte payloads, in and beyond the reused buffer", () => {
  for (const size of [5_000, 400_000]) {
    const r = { ...record, payload: { text: "\u00e9\u{1F600}x".repeat(size) } };
    const json = canonicalJson(r.payload);
    assertEquals(eventHash(r), reference(r));
    assertEquals(hashWithPayload(r, new TextEncoder().encode(json)), reference(r));
  }
  // A short one after a long one: nothing of the longer message is left over.
  assertEquals(eventHash(record), reference(record));
});
