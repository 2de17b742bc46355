/**
 * The engine's import path (src/engine/import.ts through the single writer): records of one
 * engine imported into another with a different DEK keep everything but their positions,
 * are sealed under the receiver's key and verify; batches with a repeated event id, for an
 * archived aggregate or not following the head are refused whole; schemas do not re-decide
 * copied history.
 */
import { Engine } from "../../src/engine/engine.ts";
import { DbxError } from "../../src/errors.ts";
import { assert, assertEquals, assertRejects } from "../_helpers/assert.ts";
import { randomDek, withTempDir } from "../_helpers/temp.ts";

async function withEngines(
  fn: (a: Engine, b: Engine, bDir: string) => Promise<void>,
  options: { strict?: boolean } = {},
): Promise<void> {
  await withTempDir((aDir) =>
    withTempDir(async (bDir) => {
      const a = await Engine.open({ dataDir: aDir, dek: randomDek() });
      const b = await Engine.open({
        dataDir: bDir,
        dek: randomDek(),
        // A validator refusing type "p": an import must not consult it.
        validator: options.strict
          ? (ctx) => {
            if (ctx.aggregate_type === "p") {
              throw new DbxError("schema_violation", "refused by schema");
            }
          }
          : undefined,
      });
      try {
        await fn(a, b, bDir);
      } finally {
        await a.close();
        await b.close();
      }
    })
  );
}

const stripPosition = <T extends { position: number }>({ position: _p, ...rest }: T) => rest;

Deno.test("imported records keep their content, get the receiver's positions and verify", async () => {
  await withEngines(async (a, b) => {
    await b.append({ aggregate_type: "x", aggregate_id: "1", event_type: "e", payload: {} });
    for (let i = 1; i <= 3; i++) {
      await a.append(
        { aggregate_type: "p", aggregate_id: "1", event_type: "e", payload: { i }, note: `n${i}` },
        { issued_by: { group: "ops", user: "ann" } },
      );
    }
    const sent = await a.listEvents("p", "1");
    const outcome = await b.importEvents("p", "1", sent);
    assertEquals(outcome.written, 3);
    const got = await b.listEvents("p", "1");
    assertEquals(got.map(stripPosition), sent.map(stripPosition));
    assertEquals(got.map((e) => e.position), [2, 3, 4]);
    assertEquals((await b.verify("p", "1")).verified, true);
    const head = await b.getAggregate("p", "1");
    assertEquals(head.created_at, sent[0].metadata.created_at);
    assertEquals(head.updated_at, sent[2].metadata.created_at);
    assertEquals(head.state, (await a.getAggregate("p", "1")).state);
    // The validator is in force for appends; it was not asked about the copied history.
    await assertRejects(
      () => b.append({ aggregate_type: "p", aggregate_id: "1", event_type: "e", payload: {} }),
      "schema_violation",
    );
  }, { strict: true });
});

Deno.test("a batch claiming another event's id, or for an archived aggregate, writes nothing", async () => {
  await withEngines(async (a, b) => {
    for (let i = 1; i <= 2; i++) {
      await a.append({ aggregate_type: "p", aggregate_id: "1", event_type: "e", payload: { i } });
    }
    const sent = await a.listEvents("p", "1");
    const repeated = [sent[0], { ...sent[1], metadata: sent[0].metadata }];
    // The id is part of what the hash covers: the copy does not match its hash.
    await assertRejects(() => b.importEvents("p", "1", repeated), "invalid_input", "its hash");
    assertEquals(await b.exists("p", "1"), false);

    await b.importEvents("p", "1", [sent[0]]);
    await b.archive("p", "1");
    await assertRejects(() => b.importEvents("p", "1", [sent[1]]), "archived");
    assertEquals((await b.getAggregate("p", "1")).version, 1);
    await b.restore("p", "1");
    await b.importEvents("p", "1", [sent[1]]);
    assertEquals((await b.verify("p", "1")).verified, true);
    // An imported id stays retryable here: an append repeating it gives the original record.
    const retried = await b.append({
      aggregate_type: "p",
      aggregate_id: "1",
      event_type: "other",
      payload: { x: 1 },
      event_id: sent[1].metadata.event_id,
    });
    assertEquals(retried.hash, sent[1].hash);
    assertEquals((await b.getAggregate("p", "1")).version, 2);
  });
});

Deno.test("malformed import batches are refused with a clear error", async () => {
  await withEngines(async (a, b) => {
    await a.append({ aggregate_type: "p", aggregate_id: "1", event_type: "e", payload: {} });
    const [e] = await a.listEvents("p", "1");
    const bad: [unknown, RegExp][] = [
      [[], /at least one event/],
      [[{ ...e, version: 0 }], /version must be a positive integer/],
      [[{ ...e, hash: "XYZ" }], /hash must be 64 lowercase hex/],
      [[{ ...e, metadata: { ...e.metadata, created_at: "yesterday" } }], /created_at/],
      [[{ ...e, metadata: { ...e.metadata, event_id: "nope" } }], /event_id/],
      [
        [{ ...e, metadata: { ...e.metadata, event_id: e.metadata.event_id.toUpperCase() } }],
        /lower-case/,
      ],
      [[{ ...e, aggregate_id: "2" }], /another aggregate/],
      [[{ ...e, payload: [] }], /payload/],
      ["not a list", /at least one event/],
    ];
    for (const [events, message] of bad) {
      const err = await assertRejects(
        () => b.importEvents("p", "1", events as unknown[]),
        "invalid_input",
      );
      assert(message.test(err.message), err.message);
    }
    assertEquals(await b.exists("p", "1"), false);
  });
});
