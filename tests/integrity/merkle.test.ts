import assert from "node:assert/strict";
import {
  appendLeaf,
  EMPTY_ROOT,
  emptyFrontier,
  type Frontier,
  frontierRoot,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  splitPoint,
} from "../../src/integrity/merkle.ts";
import { fromHex, sha256, toHex } from "../../src/integrity/sha256.ts";
import { CT_LEAF_DATA as CT_LEAVES, CT_ROOTS } from "./ct_vectors.ts";

/** Deterministic test leaves: leaf hash of the 4-byte big-endian index. */
function testLeaves(n: number, salt = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      leafHash(new Uint8Array([salt, i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255])),
    );
  }
  return out;
}

function popcount(n: number): number {
  let bits = 0;
  for (; n > 0; n = Math.floor(n / 2)) bits += n % 2;
  return bits;
}

Deno.test("sha256 hashes concatenated parts into 32 fresh bytes", () => {
  const whole = sha256(new TextEncoder().encode("abc"));
  assert.equal(toHex(whole), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(whole.length, 32);
  assert.equal(whole.byteOffset, 0);
  assert.equal(whole.buffer.byteLength, 32);
  assert.deepEqual(sha256(new Uint8Array([0x61]), "bc"), whole);
});

Deno.test("hex round-trips and rejects malformed hex", () => {
  const bytes = new Uint8Array([0, 1, 0x7f, 0x80, 0xff]);
  assert.equal(toHex(bytes), "00017f80ff");
  assert.deepEqual(fromHex("00017F80fF"), bytes);
  assert.deepEqual(fromHex(""), new Uint8Array(0));
  for (const bad of ["0", "0g", "zz", " 00", "0x00"]) {
    assert.throws(() => fromHex(bad), TypeError, `should reject ${JSON.stringify(bad)}`);
  }
});

Deno.test("empty tree root is SHA-256 of nothing", () => {
  assert.equal(
    toHex(EMPTY_ROOT),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.deepEqual(rootFromLeafHashes([]), EMPTY_ROOT);
  assert.deepEqual(frontierRoot(emptyFrontier()), EMPTY_ROOT);
});

Deno.test("leaf and node hashes use the RFC 9162 domain-separation prefixes", () => {
  const data = fromHex("2021");
  assert.deepEqual(leafHash(data), sha256(new Uint8Array([0]), data));
  const [a, b] = [leafHash(CT_LEAVES[0]), leafHash(CT_LEAVES[1])];
  assert.deepEqual(nodeHash(a, b), sha256(new Uint8Array([1]), a, b));
  assert.notDeepEqual(nodeHash(a, b), nodeHash(b, a));
  // A leaf can never be confused with an interior node over the same bytes.
  const joined = new Uint8Array([...a, ...b]);
  assert.notDeepEqual(leafHash(joined), nodeHash(a, b));
});

Deno.test("tree roots match the Certificate Transparency vectors for sizes 1..8", () => {
  const hashes = CT_LEAVES.map(leafHash);
  let frontier = emptyFrontier();
  for (let size = 1; size <= 8; size++) {
    assert.equal(
      toHex(rootFromLeafHashes(hashes.slice(0, size))),
      CT_ROOTS[size - 1],
      `full, size ${size}`,
    );
    frontier = appendLeaf(frontier, hashes[size - 1]);
    assert.equal(toHex(frontierRoot(frontier)), CT_ROOTS[size - 1], `frontier, size ${size}`);
  }
});

Deno.test("splitPoint is the largest power of two strictly below n", () => {
  const cases: [number, number][] = [
    [2, 1],
    [3, 2],
    [4, 2],
    [5, 4],
    [7, 4],
    [8, 4],
    [9, 8],
    [1025, 1024],
    [2 ** 32, 2 ** 31],
    [2 ** 32 + 1, 2 ** 32],
    [2 ** 40 + 7, 2 ** 40],
  ];
  for (const [n, k] of cases) assert.equal(splitPoint(n), k, `splitPoint(${n})`);
});

Deno.test("incremental frontier root equals a full recompute for every size 0..1100", () => {
  const leaves = testLeaves(1100);
  let frontier = emptyFrontier();
  for (let size = 0; size <= 1100; size++) {
    assert.equal(frontier.size, size);
    assert.equal(frontier.nodes.length, popcount(size), `frontier width at size ${size}`);
    assert.deepEqual(
      frontierRoot(frontier),
      rootFromLeafHashes(leaves.slice(0, size)),
      `size ${size}`,
    );
    if (size < 1100) frontier = appendLeaf(frontier, leaves[size]);
  }
});

Deno.test("incremental frontier root equals a full recompute for large sizes", () => {
  // Sizes around powers of two plus a few from a fixed pseudo-random sequence.
  let seed = 0x2545f491;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  const sizes = [4096, 4097, 8191, 16384 + 1];
  for (let i = 0; i < 4; i++) sizes.push(2000 + (random() % 60000));
  const max = Math.max(...sizes);
  const leaves = testLeaves(max, 7);
  const wanted = new Set(sizes);
  let frontier = emptyFrontier();
  for (let size = 1; size <= max; size++) {
    frontier = appendLeaf(frontier, leaves[size - 1]);
    if (wanted.has(size)) {
      assert.deepEqual(
        frontierRoot(frontier),
        rootFromLeafHashes(leaves.slice(0, size)),
        `size ${size}`,
      );
    }
  }
});

Deno.test("a different leaf anywhere changes the root", () => {
  const leaves = testLeaves(37);
  const root = rootFromLeafHashes(leaves);
  for (let i = 0; i < leaves.length; i++) {
    const changed = leaves.slice();
    changed[i] = leafHash(new Uint8Array([0xee, i]));
    assert.notDeepEqual(rootFromLeafHashes(changed), root, `leaf ${i}`);
  }
  // Odd nodes are promoted, never duplicated: [a, b, c] differs from [a, b, c, c].
  assert.notDeepEqual(
    rootFromLeafHashes(leaves.slice(0, 3)),
    rootFromLeafHashes([...leaves.slice(0, 3), leaves[2]]),
  );
});

Deno.test("appendLeaf does not mutate its input frontier", () => {
  const leaves = testLeaves(20);
  let frontier = emptyFrontier();
  for (let size = 0; size < leaves.length; size++) {
    const before: Frontier = { size: frontier.size, nodes: frontier.nodes.map((n) => n.slice()) };
    const nodesRef = frontier.nodes;
    Object.freeze(frontier.nodes);
    Object.freeze(frontier);
    const next = appendLeaf(frontier, leaves[size]);
    assert.equal(frontier.nodes, nodesRef);
    assert.deepEqual(frontier, before, `input changed at size ${size}`);
    assert.notEqual(next.nodes, frontier.nodes);
    assert.equal(next.size, size + 1);
    frontier = next;
  }
});
