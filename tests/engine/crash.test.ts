/**
 * Crash safety: a child process appends with many requests in flight and is killed with
 * SIGKILL at a random moment, over and over on the same data dir. After each kill the
 * store must hold every acknowledged event unchanged, with gap-free versions and
 * positions, no half-written batch, and every aggregate must verify.
 */
import { fileURLToPath } from "node:url";
import { Engine } from "../../src/engine/engine.ts";
import { eventHash } from "../../src/engine/event_hash.ts";
import type { EventRecord } from "../../src/engine/types.ts";
import {
  appendLeaf,
  emptyFrontier,
  type Frontier,
  frontierRoot,
  leafHash,
} from "../../src/integrity/merkle.ts";
import { fromHex, toHex } from "../../src/integrity/sha256.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { withDeadline } from "../_helpers/deadline.ts";
import { randomDek, range1, withTempDir } from "./helpers.ts";

const CHILD = fileURLToPath(new URL("./fixtures/crash_child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CYCLES = 20;

interface Ack {
  type: string;
  id: string;
  version: number;
  position: number;
  hash: string;
}

function parseAck(line: string): Ack {
  const [word, type, id, version, position, hash] = line.split(" ");
  assert(word === "ack" && /^[0-9a-f]{64}$/.test(hash ?? ""), `bad line from child: ${line}`);
  return { type, id, version: Number(version), position: Number(position), hash };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Collect complete lines from a stream; a partial last line (cut by the kill) is dropped. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) if (line) onLine(line);
  }
}

/** The writer's counters, as the child last printed them before it was killed. */
interface Pipeline {
  writes: number;
  rounds: number;
}

/** Run the child until it has acknowledged for a random 50–400 ms, then SIGKILL it. */
async function runAndKill(
  dir: string,
  dekBase64: string,
  pipeline: Pipeline,
): Promise<Ack[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, dir],
    cwd: ROOT,
    env: { DBX_CRASH_DEK: dekBase64, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const acks: Ack[] = [];
  let firstAck!: () => void;
  const acked = new Promise<void>((resolve) => (firstAck = resolve));
  let stderr = "";
  const reading = readLines(child.stdout, (line) => {
    if (line.startsWith("stats ")) {
      const [, writes, rounds] = line.split(" ").map(Number);
      pipeline.writes = writes;
      pipeline.rounds = rounds;
      return;
    }
    acks.push(parseAck(line));
    firstAck();
  });
  const readingErr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  let killed = false;
  try {
    const exitedEarly = await withDeadline(
      30_000,
      () => `the crash child's first acknowledgement (stderr: ${stderr})`,
      Promise.race([acked.then(() => false), child.status.then(() => true)]),
    );
    assert(!exitedEarly, `the child exited before acknowledging anything: ${stderr}`);
    await sleep(50 + Math.random() * 350);
    child.kill("SIGKILL");
    killed = true;
    const status = await withDeadline(10_000, "the crash child to die of SIGKILL", child.status);
    assertEquals(status.signal, "SIGKILL", `the child ended on its own: ${stderr}`);
    await withDeadline(
      10_000,
      "the crash child's output to end",
      Promise.all([reading, readingErr]),
    );
    return acks;
  } finally {
    if (!killed) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      await Promise.allSettled([reading, readingErr]);
    }
  }
}

/** What the parent knows about the store between cycles. */
interface Known {
  last: number;
  /** Per aggregate: version and Merkle frontier over every event seen so far. */
  aggregates: Map<string, { version: number; frontier: Frontier }>;
}

/** Every committed event with position > `after`, in global order. */
async function eventsSince(engine: Engine, after: number): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  for (let from = after;;) {
    const page = await engine.eventsAfter(from, 5000);
    if (page.length === 0) return out;
    out.push(...page);
    from = page[page.length - 1].position;
  }
}

/**
 * Reopen the store and check the invariants for what this cycle added: gap-free positions,
 * every acknowledged event unchanged, no half batch, gap-free versions continuing the
 * previous cycle, and each new event's hash and Merkle root recomputed independently.
 * `fullVerify` also runs the engine's own verify over every aggregate.
 */
async function checkCycle(
  dir: string,
  dek: Uint8Array,
  known: Known,
  acks: Ack[],
  label: string,
  fullVerify: boolean,
): Promise<number> {
  const engine = await Engine.open({ dataDir: dir, dek });
  try {
    const last = await engine.lastPosition();
    const fresh = await eventsSince(engine, known.last);
    assertEquals(
      fresh.map((e) => e.position),
      range1(last - known.last).map((i) => known.last + i),
      `${label}: global positions`,
    );

    const byKey = new Map(
      fresh.map((e) => [`${e.aggregate_type}/${e.aggregate_id}/${e.version}`, e]),
    );
    for (const a of acks) {
      const stored = byKey.get(`${a.type}/${a.id}/${a.version}`);
      assert(stored, `${label}: acknowledged event ${a.type}/${a.id} v${a.version} is lost`);
      assertEquals(stored.hash, a.hash, `${label}: hash of ${a.type}/${a.id} v${a.version}`);
      assertEquals(stored.position, a.position, `${label}: position of ${a.type}/${a.id}`);
    }

    const batches = new Map<string, number>();
    for (const e of fresh) {
      const batch = e.payload.batch;
      if (typeof batch === "string") batches.set(batch, (batches.get(batch) ?? 0) + 1);
    }
    for (const [batch, count] of batches) {
      assertEquals(count, 2, `${label}: batch ${batch} is half-written`);
    }

    for (const e of fresh) {
      const name = `${label}: ${e.aggregate_type}/${e.aggregate_id} v${e.version}`;
      const key = `${e.aggregate_type}/${e.aggregate_id}`;
      const agg = known.aggregates.get(key) ?? { version: 0, frontier: emptyFrontier() };
      assertEquals(e.version, agg.version + 1, `${name}: version gap`);
      assertEquals(eventHash(e), e.hash, `${name}: hash`);
      agg.frontier = appendLeaf(agg.frontier, leafHash(fromHex(e.hash)));
      assertEquals(toHex(frontierRoot(agg.frontier)), e.merkle_root, `${name}: Merkle root`);
      agg.version = e.version;
      known.aggregates.set(key, agg);
    }

    const listed = await engine.listAggregates({ take: 1000 });
    assertEquals(listed.length, known.aggregates.size, `${label}: aggregate count`);
    for (const head of listed) {
      const name = `${label}: ${head.aggregate_type}/${head.aggregate_id}`;
      const agg = known.aggregates.get(`${head.aggregate_type}/${head.aggregate_id}`);
      assert(agg, `${name}: an aggregate without events`);
      assertEquals(head.version, agg.version, `${name}: head version`);
      assertEquals(head.merkle_root, toHex(frontierRoot(agg.frontier)), `${name}: head root`);
      if (fullVerify) {
        const result = await engine.verify(head.aggregate_type, head.aggregate_id);
        assertEquals(result.verified, true, `${name}: ${result.reason}`);
      }
    }
    known.last = last;
    return fresh.length;
  } finally {
    await engine.close();
  }
}

/** At the end: every acknowledgement of every cycle is still there, unchanged. */
async function checkAllAcks(dir: string, dek: Uint8Array, acks: Ack[]): Promise<void> {
  const engine = await Engine.open({ dataDir: dir, dek });
  try {
    const all = await eventsSince(engine, 0);
    assertEquals(all.map((e) => e.position), range1(await engine.lastPosition()));
    const byPosition = new Map(all.map((e) => [e.position, e]));
    for (const a of acks) {
      const e = byPosition.get(a.position);
      assert(e, `acknowledged position ${a.position} is lost`);
      assertEquals(
        [e.aggregate_type, e.aggregate_id, e.version, e.hash],
        [a.type, a.id, a.version, a.hash],
      );
    }
  } finally {
    await engine.close();
  }
}

Deno.test({
  name:
    `crash safety: ${CYCLES} SIGKILLs during pipelined concurrent appends lose nothing acknowledged`,
  async fn() {
    await withTempDir(async (dir) => {
      const dek = randomDek();
      const dekBase64 = btoa(String.fromCharCode(...dek));
      const known: Known = { last: 0, aggregates: new Map() };
      const acks: Ack[] = [];
      const overlapped = { writes: 0, rounds: 0 };
      for (const cycle of range1(CYCLES)) {
        const label = `cycle ${cycle}`;
        const pipeline: Pipeline = { writes: 0, rounds: 0 };
        const fresh = await runAndKill(dir, dekBase64, pipeline);
        overlapped.writes += pipeline.writes;
        overlapped.rounds += pipeline.rounds;
        assert(fresh.length > 0, `${label}: no acknowledgements`);
        const added = await checkCycle(dir, dek, known, fresh, label, cycle % 5 === 0);
        assert(added >= fresh.length, `${label}: fewer new events than acknowledgements`);
        acks.push(...fresh);
      }
      await checkAllAcks(dir, dek, acks);
      // The kills landed while the writer was preparing rounds on top of a write in flight.
      assert(
        overlapped.rounds > overlapped.writes * 1.2,
        `the commit pipeline never overlapped: ${overlapped.rounds} rounds in ` +
          `${overlapped.writes} synced writes`,
      );
      // The child kept appending to the same aggregates across every crash.
      assert([...known.aggregates.values()].every((a) => a.version > CYCLES), "too few events");
    }, "dbx-crash-test-");
  },
});
