/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * Verification worker (see verify.ts): checks chunks of one aggregate's events and folds
 * their payloads (phase 1), then, given the Merkle frontier before each chunk, compares the
 * root after each event with the stored one (phase 2). It holds the DEK in memory only, for
 * the life of one verify.
 */
import {
  EventChecker,
  RootChain,
  type WorkerChunk,
  type WorkerFrontier,
  type WorkerReply,
  type WorkerRequest,
} from "./verify.ts";

const HASH_BYTES = 32;

/** What phase 2 of a chunk needs from phase 1. */
interface Checked {
  passed: number;
  leaves: Uint8Array;
  roots: Uint8Array;
}

let checker: EventChecker | undefined;
const checked = new Map<number, Checked>();

function reply(message: WorkerReply, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

function checkChunk({ seq, first, ends, data, oddKeys, marks, fold: folding }: WorkerChunk): void {
  if (!checker) throw new Error("a chunk came before the aggregate");
  const leaves = new Uint8Array(ends.length * HASH_BYTES);
  const roots = new Uint8Array(ends.length * HASH_BYTES);
  const positions = new Float64Array(ends.length);
  const keys = new Map(oddKeys);
  // Own properties even for "__proto__": the main thread folds this with foldPayload.
  const fold: Record<string, unknown> = Object.create(null);
  const upTo: [number, Record<string, unknown>][] = [];
  checker.fold = folding ? fold : undefined;
  let mark = 0;
  let failedAt = -1;
  let reason: string | undefined;
  for (let i = 0, start = 0; i < ends.length; start = ends[i++]) {
    const value = data.subarray(start, ends[i]);
    reason = checker.check(value, first + i, keys.get(i), leaves, roots, i);
    if (reason !== undefined) {
      failedAt = i;
      break;
    }
    positions[i] = checker.position;
    if (marks[mark] === first + i) upTo.push([marks[mark++], { ...fold }]);
  }
  const passed = failedAt < 0 ? ends.length : failedAt;
  checked.set(seq, { passed, leaves, roots });
  const copy = leaves.slice(0, passed * HASH_BYTES);
  const placed = positions.slice(0, passed);
  reply(
    { kind: "checked", seq, failedAt, reason, leaves: copy, positions: placed, fold, marks: upTo },
    [copy.buffer, placed.buffer],
  );
}

function checkRoots({ seq, size, nodes }: WorkerFrontier): void {
  const chunk = checked.get(seq);
  if (!chunk) throw new Error(`a frontier came for unknown chunk ${seq}`);
  checked.delete(seq);
  const chain = RootChain.restore(size, nodes);
  let badRootAt = -1;
  for (let i = 0; i < chunk.passed; i++) {
    const at = i * HASH_BYTES;
    chain.append(chunk.leaves.subarray(at, at + HASH_BYTES));
    if (!chain.rootIs(chunk.roots, at)) {
      badRootAt = i;
      break;
    }
  }
  reply({ kind: "rooted", seq, badRootAt });
}

self.onmessage = (e: MessageEvent<WorkerRequest>) => {
  try {
    const message = e.data;
    if (message.kind === "init") checker = new EventChecker(message.dek, message.type, message.id);
    else if (message.kind === "chunk") checkChunk(message);
    else checkRoots(message);
  } catch (err) {
    // Reported, never swallowed: the main thread fails the whole verify.
    reply({ kind: "error", message: err instanceof Error ? err.message : String(err) });
  }
};

reply({ kind: "ready" });
