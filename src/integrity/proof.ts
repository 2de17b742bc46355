/**
 * RFC 9162 §2.1.3–2.1.4 Merkle inclusion and consistency proofs.
 *
 * Generation streams leaf hashes from a {@link LeafSource}, so a proof over an
 * aggregate with millions of events reads each leaf at most once and keeps only
 * O(log n) hashes in memory. Verification needs nothing but the proof, the
 * hashes and the roots, and never throws: malformed or hostile input is simply
 * "not verified" (`false`).
 *
 * Leaf `i` of an aggregate's tree is event version `i + 1`; its data is the raw
 * 32 bytes of the event hash, so its leaf hash is `leafHash(fromHex(event.hash))`.
 */
import { DbxError } from "../errors.ts";
import { EMPTY_ROOT, leafHash, nodeHash, splitPoint } from "./merkle.ts";
import { toHex } from "./sha256.ts";

/** Length in bytes of every hash in a tree (SHA-256). */
export const HASH_LENGTH = 32;

/**
 * Longest path a valid proof can have: one node per tree level, and sizes are
 * safe integers (< 2^53). Anything longer is rejected before hashing.
 */
const MAX_PATH_LENGTH = 64;

/**
 * Where proof generation reads a tree's leaves from.
 *
 * `leafHashes(start, end)` yields the leaf hashes (already `leafHash`ed) of
 * leaves `start .. end - 1` in order. One proof asks, in no particular order, for
 * non-overlapping ranges that together cover at most the whole tree, so backing
 * it with a range scan over stored events reads every event at most once.
 *
 * `prefixRoot(size)` is an optional shortcut: the root of the first `size`
 * leaves when it is already known (every event record stores the root after
 * itself, so this is the `merkle_root` of version `size`). Return `undefined`
 * to fall back to reading leaves.
 */
export interface LeafSource {
  leafHashes(start: number, end: number): Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  prefixRoot?(size: number): Uint8Array | undefined | Promise<Uint8Array | undefined>;
}

/** A {@link LeafSource}, or simply all leaf hashes of the tree in memory. */
export type LeafHashes = LeafSource | readonly Uint8Array[];

/** JSON form of an inclusion proof: hashes are lowercase hex. */
export interface InclusionProofJson {
  /** 0-based leaf index (event version - 1). */
  leaf_index: number;
  tree_size: number;
  leaf_hash: string;
  /** Optional event hash the leaf was made from; when present it must match `leaf_hash`. */
  event_hash?: string;
  audit_path: string[];
  root: string;
}

/** JSON form of a consistency proof: hashes are lowercase hex. */
export interface ConsistencyProofJson {
  old_size: number;
  new_size: number;
  old_root: string;
  new_root: string;
  consistency_path: string[];
}

/** A hash as raw bytes or as hex. */
export type HashInput = Uint8Array | string;

/** Input of {@link verifyInclusion}; give `leafHash` or `eventHash` (or both, then they must agree). */
export interface VerifyInclusionInput {
  leafHash?: HashInput;
  eventHash?: HashInput;
  leafIndex: number;
  treeSize: number;
  proof: readonly HashInput[];
  root: HashInput;
}

/** Input of {@link verifyConsistency}. */
export interface VerifyConsistencyInput {
  oldSize: number;
  newSize: number;
  oldRoot: HashInput;
  newRoot: HashInput;
  proof: readonly HashInput[];
}

// ---------------------------------------------------------------------------
// Generation

/**
 * Audit path proving leaf `leafIndex` is in the tree of `treeSize` leaves
 * (RFC 9162 §2.1.3.1), deepest sibling first.
 *
 * Reads every leaf except `leafIndex` at most once (fewer with `prefixRoot`).
 * Throws DbxError `invalid_input` when the index is not inside the tree and
 * `corrupt` when the source yields the wrong number or size of hashes.
 *
 * @example
 * ```ts
 * import { leafHash, rootFromLeafHashes } from "./merkle.ts";
 * import { sha256 } from "./sha256.ts";
 * const leaves = ["a", "b", "c"].map((s) => leafHash(sha256(s)));
 * const path = await inclusionProof(1, 3, leaves);
 * verifyInclusion({ leafHash: leaves[1], leafIndex: 1, treeSize: 3, proof: path,
 *   root: rootFromLeafHashes(leaves) }); // true
 * ```
 */
export async function inclusionProof(
  leafIndex: number,
  treeSize: number,
  leaves: LeafHashes,
): Promise<Uint8Array[]> {
  assertSize("tree size", treeSize);
  if (!isSize(leafIndex) || leafIndex >= treeSize) {
    throw new DbxError(
      "invalid_input",
      `leaf index ${leafIndex} is outside a tree of ${treeSize} leaves`,
    );
  }
  const source = asSource(leaves);
  const path: Uint8Array[] = [];
  // Walk down from the root; each step's sibling subtree is one path element.
  let lo = 0;
  let hi = treeSize;
  while (hi - lo > 1) {
    const mid = lo + splitPoint(hi - lo);
    if (leafIndex < mid) {
      path.push(await subtreeRoot(source, mid, hi));
      hi = mid;
    } else {
      path.push(await subtreeRoot(source, lo, mid));
      lo = mid;
    }
  }
  return path.reverse();
}

/**
 * Consistency path proving the tree of `oldSize` leaves is a prefix of the tree
 * of `newSize` leaves (RFC 9162 §2.1.4.1). Empty when `oldSize` is 0 or equals
 * `newSize`.
 *
 * Reads every leaf of the new tree at most once. Throws DbxError
 * `invalid_input` unless `0 <= oldSize <= newSize`.
 *
 * @example
 * ```ts
 * import { leafHash, rootFromLeafHashes } from "./merkle.ts";
 * import { sha256 } from "./sha256.ts";
 * const leaves = ["a", "b", "c"].map((s) => leafHash(sha256(s)));
 * const path = await consistencyProof(2, 3, leaves);
 * verifyConsistency({ oldSize: 2, newSize: 3, proof: path,
 *   oldRoot: rootFromLeafHashes(leaves.slice(0, 2)),
 *   newRoot: rootFromLeafHashes(leaves) }); // true
 * ```
 */
export async function consistencyProof(
  oldSize: number,
  newSize: number,
  leaves: LeafHashes,
): Promise<Uint8Array[]> {
  return (await generateConsistency(oldSize, newSize, asSource(leaves))).path;
}

/**
 * Inclusion proof in its JSON form, with the leaf hash and the root it proves.
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../engine/types.ts";
 * import { leafHash } from "./merkle.ts";
 * import { fromHex } from "./sha256.ts";
 * declare const events: EventRecord[]; // an aggregate's events, in version order
 * const proof = await buildInclusionProof(0, events.length, {
 *   leafHashes: (start, end) => events.slice(start, end).map((e) => leafHash(fromHex(e.hash))),
 * });
 * verifyInclusionJson(proof); // true
 * ```
 */
export async function buildInclusionProof(
  leafIndex: number,
  treeSize: number,
  leaves: LeafHashes,
): Promise<InclusionProofJson> {
  const source = asSource(leaves);
  const path = await inclusionProof(leafIndex, treeSize, source);
  const leaf = await readLeaf(source, leafIndex);
  const root = rootFromInclusionProof(leafIndex, treeSize, leaf, path);
  if (!root) throw new DbxError("corrupt", "could not rebuild the root from the inclusion proof");
  return {
    leaf_index: leafIndex,
    tree_size: treeSize,
    leaf_hash: toHex(leaf),
    audit_path: path.map(toHex),
    root: toHex(root),
  };
}

/**
 * Consistency proof in its JSON form, with both roots.
 *
 * @example
 * ```ts
 * import { leafHash } from "./merkle.ts";
 * import { sha256 } from "./sha256.ts";
 * const leaves = [1, 2, 3, 4, 5, 6, 7].map((v) => leafHash(sha256(`event ${v}`)));
 * const proof = await buildConsistencyProof(3, 7, leaves);
 * verifyConsistencyJson(proof); // true
 * ```
 */
export async function buildConsistencyProof(
  oldSize: number,
  newSize: number,
  leaves: LeafHashes,
): Promise<ConsistencyProofJson> {
  const source = asSource(leaves);
  const { path, oldRoot } = await generateConsistency(oldSize, newSize, source);
  let roots: { oldRoot: Uint8Array; newRoot: Uint8Array } | null;
  if (path.length === 0) {
    // oldSize is 0 or equals newSize: nothing to fold, read the new root directly.
    const newRoot = newSize === 0 ? EMPTY_ROOT : await subtreeRoot(source, 0, newSize);
    roots = { oldRoot: oldSize === 0 ? EMPTY_ROOT : newRoot, newRoot };
  } else {
    roots = foldConsistency(oldSize, newSize, path, oldRoot);
  }
  if (!roots) {
    throw new DbxError("corrupt", "could not rebuild the roots from the consistency proof");
  }
  return {
    old_size: oldSize,
    new_size: newSize,
    old_root: toHex(roots.oldRoot),
    new_root: toHex(roots.newRoot),
    consistency_path: path.map(toHex),
  };
}

/**
 * Leaf hash of an event: `leafHash` over the raw bytes of its hex `hash`.
 *
 * @example
 * ```ts
 * import type { EventRecord } from "../engine/types.ts";
 * declare const event: EventRecord;
 * eventLeafHash(event.hash); // 32 bytes: leafHash(fromHex(event.hash))
 * ```
 */
export function eventLeafHash(eventHash: HashInput): Uint8Array {
  const bytes = decodeHash(eventHash);
  if (!bytes) throw new DbxError("invalid_input", "event hash must be 32 bytes of hex");
  return leafHash(bytes);
}

// ---------------------------------------------------------------------------
// Verification

/**
 * Root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1–4), or `null`
 * when the proof cannot be valid for this index and size.
 *
 * @example
 * ```ts
 * import { leafHash } from "./merkle.ts";
 * import { sha256 } from "./sha256.ts";
 * const leaves = ["a", "b", "c"].map((s) => leafHash(sha256(s)));
 * const path = await inclusionProof(1, 3, leaves);
 * const root = rootFromInclusionProof(1, 3, leaves[1], path); // the root of all 3 leaves
 * ```
 */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leaf: Uint8Array,
  path: readonly Uint8Array[],
): Uint8Array | null {
  if (!isSize(treeSize) || !isSize(leafIndex) || leafIndex >= treeSize) return null;
  if (!isHash(leaf) || !Array.isArray(path) || path.length > MAX_PATH_LENGTH) return null;
  if (!path.every(isHash)) return null;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : null;
}

/**
 * Checks an inclusion proof against a root (RFC 9162 §2.1.3.2). Hashes may be
 * bytes or hex; `false` for anything malformed, never throws.
 *
 * @example
 * ```ts
 * import type { AggregateRecord, EventRecord } from "../engine/types.ts";
 * declare const event: EventRecord;
 * declare const aggregate: AggregateRecord;
 * declare const auditPath: string[]; // the `audit_path` of an inclusion proof
 * verifyInclusion({ eventHash: event.hash, leafIndex: event.version - 1,
 *   treeSize: aggregate.version, proof: auditPath, root: aggregate.merkle_root }); // boolean
 * ```
 */
export function verifyInclusion(input: VerifyInclusionInput): boolean {
  try {
    if (!isRecord(input)) return false;
    let leaf: Uint8Array | null = null;
    if (input.leafHash !== undefined) {
      leaf = decodeHash(input.leafHash);
      if (!leaf) return false;
    }
    if (input.eventHash !== undefined) {
      const event = decodeHash(input.eventHash);
      if (!event) return false;
      const fromEvent = leafHash(event);
      if (leaf && !equalBytes(leaf, fromEvent)) return false;
      leaf = fromEvent;
    }
    const root = decodeHash(input.root);
    const path = decodePath(input.proof);
    if (!leaf || !root || !path) return false;
    const computed = rootFromInclusionProof(input.leafIndex, input.treeSize, leaf, path);
    return computed !== null && equalBytes(computed, root);
  } catch {
    return false;
  }
}

/**
 * Checks that the tree with root `oldRoot` and `oldSize` leaves is a prefix of
 * the tree with root `newRoot` and `newSize` leaves (RFC 9162 §2.1.4.2).
 *
 * Edge cases outside the RFC's `0 < oldSize < newSize`: equal sizes need an
 * empty proof and equal roots; `oldSize` 0 needs an empty proof and the empty
 * tree root as `oldRoot`. `false` for anything malformed, never throws.
 *
 * @example
 * ```ts
 * declare const oldRoot: HashInput; // the root at version 6
 * declare const newRoot: HashInput; // the root at version 8
 * declare const proof: HashInput[]; // the path from consistencyProof(6, 8, leaves)
 * verifyConsistency({ oldSize: 6, newSize: 8, oldRoot, newRoot, proof }); // boolean
 * ```
 */
export function verifyConsistency(input: VerifyConsistencyInput): boolean {
  try {
    if (!isRecord(input)) return false;
    const { oldSize, newSize } = input;
    const oldRoot = decodeHash(input.oldRoot);
    const newRoot = decodeHash(input.newRoot);
    const path = decodePath(input.proof);
    if (!oldRoot || !newRoot || !path) return false;
    if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize) return false;
    if (oldSize === 0 || oldSize === newSize) {
      if (path.length !== 0) return false;
      // Every empty tree has the same root, and it is a prefix of any tree.
      if (oldSize === 0 && !equalBytes(oldRoot, EMPTY_ROOT)) return false;
      return oldSize !== newSize || equalBytes(oldRoot, newRoot);
    }
    const roots = foldConsistency(oldSize, newSize, path, oldRoot);
    return roots !== null && equalBytes(roots.oldRoot, oldRoot) &&
      equalBytes(roots.newRoot, newRoot);
  } catch {
    return false;
  }
}

/**
 * Verifies an inclusion proof received as untrusted JSON (an object or its
 * JSON text) in the {@link InclusionProofJson} shape. Extra members are ignored.
 *
 * @example
 * ```ts
 * declare const url: string; // where the proof was published
 * verifyInclusionJson(await (await fetch(url)).json()); // boolean
 * ```
 */
export function verifyInclusionJson(json: unknown): boolean {
  try {
    const obj = parseObject(json);
    if (!obj) return false;
    if (!isStrictHex(obj.leaf_hash) || !isStrictHex(obj.root)) return false;
    if (obj.event_hash !== undefined && !isStrictHex(obj.event_hash)) return false;
    if (!isHexArray(obj.audit_path)) return false;
    if (!isSize(obj.leaf_index) || !isSize(obj.tree_size)) return false;
    return verifyInclusion({
      leafHash: obj.leaf_hash,
      eventHash: obj.event_hash as string | undefined,
      leafIndex: obj.leaf_index,
      treeSize: obj.tree_size,
      proof: obj.audit_path,
      root: obj.root,
    });
  } catch {
    return false;
  }
}

/**
 * Verifies a consistency proof received as untrusted JSON (an object or its
 * JSON text) in the {@link ConsistencyProofJson} shape. Extra members are ignored.
 *
 * @example
 * ```ts
 * verifyConsistencyJson(JSON.parse(await Deno.readTextFile("proof.json"))); // boolean
 * ```
 */
export function verifyConsistencyJson(json: unknown): boolean {
  try {
    const obj = parseObject(json);
    if (!obj) return false;
    if (!isStrictHex(obj.old_root) || !isStrictHex(obj.new_root)) return false;
    if (!isHexArray(obj.consistency_path)) return false;
    if (!isSize(obj.old_size) || !isSize(obj.new_size)) return false;
    return verifyConsistency({
      oldSize: obj.old_size,
      newSize: obj.new_size,
      oldRoot: obj.old_root,
      newRoot: obj.new_root,
      proof: obj.consistency_path,
    });
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Internals

/** RFC 9162 §2.1.4.1 SUBPROOF, iteratively; also returns the old root when it is a whole subtree. */
async function generateConsistency(
  oldSize: number,
  newSize: number,
  source: LeafSource,
): Promise<{ path: Uint8Array[]; oldRoot?: Uint8Array }> {
  assertSize("old size", oldSize);
  assertSize("new size", newSize);
  if (oldSize > newSize) {
    throw new DbxError(
      "invalid_input",
      `old size ${oldSize} is larger than new size ${newSize}`,
    );
  }
  if (oldSize === 0 || oldSize === newSize) return { path: [] };
  const path: Uint8Array[] = [];
  let lo = 0;
  let hi = newSize;
  let m = oldSize;
  // True while the old tree is still the left edge of [lo, hi): SUBPROOF's `b`.
  let onLeftEdge = true;
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      path.push(await subtreeRoot(source, lo + k, hi));
      hi = lo + k;
    } else {
      path.push(await subtreeRoot(source, lo, lo + k));
      lo += k;
      m -= k;
      onLeftEdge = false;
    }
  }
  // [lo, hi) is now the old tree's last subtree. The RFC omits it when it is the
  // whole old tree (the verifier already has that root), which is when oldSize
  // is a power of two; we still compute it so callers can report old_root.
  const last = await subtreeRoot(source, lo, hi);
  if (onLeftEdge) return { path: path.reverse(), oldRoot: last };
  path.push(last);
  return { path: path.reverse() };
}

/**
 * RFC 9162 §2.1.4.2 steps 1–6 for `0 < oldSize < newSize`: the old and new
 * roots the proof implies, or `null` when it cannot be valid for these sizes.
 * `oldRoot` is used only when `oldSize` is a power of two (it is then the
 * proof's implicit first element).
 */
function foldConsistency(
  oldSize: number,
  newSize: number,
  path: readonly Uint8Array[],
  oldRoot: Uint8Array | undefined,
): { oldRoot: Uint8Array; newRoot: Uint8Array } | null {
  if (path.length === 0 || path.length > MAX_PATH_LENGTH || !path.every(isHash)) return null;
  let nodes = path;
  if (isPowerOfTwo(oldSize)) {
    if (!oldRoot || !isHash(oldRoot)) return null;
    nodes = [oldRoot, ...path];
  }
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = nodes[0];
  let sr = nodes[0];
  for (let i = 1; i < nodes.length; i++) {
    const c = nodes[i];
    if (sn === 0) return null;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? { oldRoot: fr, newRoot: sr } : null;
}

/** MTH(D[start:end]) for start < end, streaming the leaves through a frontier stack. */
async function subtreeRoot(source: LeafSource, start: number, end: number): Promise<Uint8Array> {
  if (start === 0 && source.prefixRoot) {
    const known = await source.prefixRoot(end);
    if (known !== undefined) {
      if (!isHash(known)) {
        throw new DbxError("corrupt", `stored root of ${end} leaves is malformed`);
      }
      return known;
    }
  }
  // stack[j] is a perfect subtree root; sizes shrink left to right (one per set bit of count).
  const stack: Uint8Array[] = [];
  const expected = end - start;
  let count = 0;
  const push = (leaf: Uint8Array) => {
    if (count >= expected) {
      throw new DbxError("corrupt", `leaf source yielded more than ${expected} leaves`);
    }
    if (!isHash(leaf)) {
      throw new DbxError("corrupt", `leaf ${start + count} is not a 32-byte hash`);
    }
    let node = leaf;
    for (let c = count; isOdd(c); c = half(c)) node = nodeHash(stack.pop()!, node);
    stack.push(node);
    count++;
  };
  const hashes = source.leafHashes(start, end);
  if (Symbol.asyncIterator in hashes) {
    for await (const leaf of hashes) push(leaf);
  } else {
    for (const leaf of hashes) push(leaf);
  }
  if (count !== expected) {
    throw new DbxError(
      "corrupt",
      `leaf source yielded ${count} of ${expected} leaves for ${start}..${end - 1}`,
    );
  }
  let root = stack[stack.length - 1];
  for (let i = stack.length - 2; i >= 0; i--) root = nodeHash(stack[i], root);
  return root;
}

/** The leaf hash itself, read from the leaves (never from a stored prefix root). */
function readLeaf(source: LeafSource, index: number): Promise<Uint8Array> {
  const leavesOnly: LeafSource = { leafHashes: (start, end) => source.leafHashes(start, end) };
  return subtreeRoot(leavesOnly, index, index + 1);
}

function asSource(leaves: LeafHashes): LeafSource {
  if (Array.isArray(leaves)) {
    const all = leaves as readonly Uint8Array[];
    return { leafHashes: (start, end) => all.slice(start, end) };
  }
  return leaves as LeafSource;
}

function assertSize(what: string, n: number): void {
  if (!isSize(n)) {
    throw new DbxError("invalid_input", `${what} must be a non-negative integer, got ${n}`);
  }
}

/** A non-negative safe integer: a valid tree size or leaf index. */
function isSize(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

// Arithmetic, not bitwise, so sizes beyond 2^32 stay exact.
function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && !isOdd(n)) n = half(n);
  return n === 1;
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_LENGTH;
}

const HEX_HASH = /^[0-9a-fA-F]{64}$/;

function isStrictHex(value: unknown): value is string {
  return typeof value === "string" && HEX_HASH.test(value);
}

function isHexArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.length <= MAX_PATH_LENGTH && value.every(isStrictHex);
}

/** 32 bytes from bytes or 64 hex digits; `null` for anything else. */
function decodeHash(value: unknown): Uint8Array | null {
  if (isHash(value)) return value;
  if (!isStrictHex(value)) return null;
  const out = new Uint8Array(HASH_LENGTH);
  for (let i = 0; i < HASH_LENGTH; i++) out[i] = parseInt(value.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function decodePath(value: unknown): Uint8Array[] | null {
  if (!Array.isArray(value) || value.length > MAX_PATH_LENGTH) return null;
  const out: Uint8Array[] = [];
  for (const item of value) {
    const hash = decodeHash(item);
    if (!hash) return null;
    out.push(hash);
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseObject(json: unknown): Record<string, unknown> | null {
  const value = typeof json === "string" ? JSON.parse(json) : json;
  return isRecord(value) ? value : null;
}
