import assert from "node:assert/strict";
import { DbxError } from "../../src/errors.ts";
import {
  EMPTY_ROOT,
  leafHash,
  rootFromLeafHashes,
  splitPoint,
} from "../../src/integrity/merkle.ts";
import { fromHex, sha256, toHex } from "../../src/integrity/sha256.ts";
import {
  buildConsistencyProof,
  buildInclusionProof,
  consistencyProof,
  eventLeafHash,
  inclusionProof,
  type LeafSource,
  rootFromInclusionProof,
  verifyConsistency,
  verifyConsistencyJson,
  verifyInclusion,
  verifyInclusionJson,
} from "../../src/integrity/mod.ts";
import { CT_LEAF_DATA, CT_ROOTS } from "./ct_vectors.ts";

// ---------------------------------------------------------------------------
// Certificate Transparency reference vectors (transparency-dev/merkle
// proof/verify_test.go). Inclusion vectors there number leaves from 1.

const CT_LEAVES = CT_LEAF_DATA.map(leafHash);

const CT_INCLUSION: { leafIndex: number; treeSize: number; path: string[] }[] = [
  {
    leafIndex: 0,
    treeSize: 8,
    path: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    leafIndex: 5,
    treeSize: 8,
    path: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    leafIndex: 2,
    treeSize: 3,
    path: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
  },
  {
    leafIndex: 1,
    treeSize: 5,
    path: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  { leafIndex: 0, treeSize: 1, path: [] },
];

const CT_CONSISTENCY: { oldSize: number; newSize: number; path: string[] }[] = [
  { oldSize: 1, newSize: 1, path: [] },
  {
    oldSize: 1,
    newSize: 8,
    path: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    oldSize: 6,
    newSize: 8,
    path: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    oldSize: 2,
    newSize: 5,
    path: [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  {
    oldSize: 6,
    newSize: 7,
    path: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
];

const SOME_HASH = fromHex("abacaba000000000000000000000000000000000000000000060061e00123456");

// ---------------------------------------------------------------------------
// Reference definitions straight from RFC 9162 §2.1.3.1 / §2.1.4.1 (recursive,
// with slices) to check the streaming generator and the bit-twiddling verifiers.

function refPath(m: number, leaves: Uint8Array[]): Uint8Array[] {
  const n = leaves.length;
  if (n === 1) return [];
  const k = splitPoint(n);
  return m < k
    ? [...refPath(m, leaves.slice(0, k)), rootFromLeafHashes(leaves.slice(k))]
    : [...refPath(m - k, leaves.slice(k)), rootFromLeafHashes(leaves.slice(0, k))];
}

function refSubproof(m: number, leaves: Uint8Array[], complete: boolean): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return complete ? [] : [rootFromLeafHashes(leaves)];
  const k = splitPoint(n);
  return m <= k
    ? [...refSubproof(m, leaves.slice(0, k), complete), rootFromLeafHashes(leaves.slice(k))]
    : [...refSubproof(m - k, leaves.slice(k), false), rootFromLeafHashes(leaves.slice(0, k))];
}

/** Which side each audit-path node joins on, bottom-up: all a verifier can learn from (index, size). */
function inclusionShape(m: number, n: number): string {
  if (n === 1) return "";
  const k = splitPoint(n);
  return m < k ? inclusionShape(m, k) + "R" : inclusionShape(m - k, n - k) + "L";
}

/** Shape of a consistency proof: seed present or implicit, then right-only or both-roots steps. */
function consistencyShape(m: number, n: number, complete = true): string {
  if (m === n) return complete ? "" : "s";
  const k = splitPoint(n);
  return m <= k
    ? consistencyShape(m, k, complete) + "R"
    : consistencyShape(m - k, n - k, false) + "B";
}

function testLeaves(n: number, salt = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(sha256(`leaf-${salt}-${i}`)));
}

function flipped(hash: Uint8Array, at = 0): Uint8Array {
  const copy = hash.slice();
  copy[at % copy.length] ^= 0x10;
  return copy;
}

/** A LeafSource that streams from a generator and records which leaves it served. */
function countingSource(n: number, leafAt: (i: number) => Uint8Array) {
  const reads = new Uint8Array(n);
  const source: LeafSource = {
    async *leafHashes(start, end) {
      for (let i = start; i < end; i++) {
        reads[i]++;
        yield leafAt(i);
      }
    },
  };
  return { source, reads };
}

// ---------------------------------------------------------------------------
// Vectors

Deno.test("inclusion proofs match the Certificate Transparency vectors", async () => {
  for (const v of CT_INCLUSION) {
    const leaves = CT_LEAVES.slice(0, v.treeSize);
    const path = await inclusionProof(v.leafIndex, v.treeSize, leaves);
    assert.deepEqual(path.map(toHex), v.path, `proof ${v.leafIndex}/${v.treeSize}`);
    const root = CT_ROOTS[v.treeSize - 1];
    assert.equal(
      verifyInclusion({
        leafHash: CT_LEAVES[v.leafIndex],
        leafIndex: v.leafIndex,
        treeSize: v.treeSize,
        proof: v.path,
        root,
      }),
      true,
    );
    assert.equal(
      toHex(rootFromInclusionProof(v.leafIndex, v.treeSize, CT_LEAVES[v.leafIndex], path)!),
      root,
    );
  }
});

Deno.test("consistency proofs match the Certificate Transparency vectors", async () => {
  for (const v of CT_CONSISTENCY) {
    const path = await consistencyProof(v.oldSize, v.newSize, CT_LEAVES.slice(0, v.newSize));
    assert.deepEqual(path.map(toHex), v.path, `proof ${v.oldSize}->${v.newSize}`);
    const input = {
      oldSize: v.oldSize,
      newSize: v.newSize,
      oldRoot: CT_ROOTS[v.oldSize - 1],
      newRoot: CT_ROOTS[v.newSize - 1],
      proof: v.path,
    };
    assert.equal(verifyConsistency(input), true, `verify ${v.oldSize}->${v.newSize}`);
  }
});

Deno.test("CT vector proofs fail under the transparency-dev corruption probes", () => {
  const some = toHex(SOME_HASH);
  const empty = toHex(EMPTY_ROOT);
  for (const v of CT_INCLUSION.filter((v) => v.path.length > 0)) {
    const ok = {
      leafHash: CT_LEAVES[v.leafIndex],
      leafIndex: v.leafIndex,
      treeSize: v.treeSize,
      proof: v.path,
      root: CT_ROOTS[v.treeSize - 1],
    };
    const probes = [
      { ...ok, leafIndex: v.leafIndex - 1 },
      { ...ok, leafIndex: v.leafIndex + 1 },
      { ...ok, leafIndex: v.leafIndex ^ 2 },
      { ...ok, treeSize: v.treeSize * 2 },
      { ...ok, treeSize: Math.floor(v.treeSize / 2) },
      { ...ok, leafHash: SOME_HASH },
      { ...ok, root: empty },
      { ...ok, root: some },
      { ...ok, proof: [...v.path, ok.root] },
      { ...ok, proof: [ok.root, ...v.path] },
      { ...ok, proof: v.path.slice(0, -1) },
      { ...ok, proof: [v.path[0], some, ...v.path.slice(1)] },
      ...v.path.map((_, i) => ({
        ...ok,
        proof: v.path.map((p, j) => (i === j ? toHex(flipped(fromHex(p))) : p)),
      })),
    ];
    probes.forEach((p, i) =>
      assert.equal(verifyInclusion(p), false, `inclusion ${v.leafIndex}/${v.treeSize} probe ${i}`)
    );
  }
  for (const v of CT_CONSISTENCY.filter((v) => v.path.length > 0)) {
    const [root1, root2] = [CT_ROOTS[v.oldSize - 1], CT_ROOTS[v.newSize - 1]];
    const ok = {
      oldSize: v.oldSize,
      newSize: v.newSize,
      oldRoot: root1,
      newRoot: root2,
      proof: v.path,
    };
    const probes = [
      { ...ok, oldSize: v.oldSize - 1 },
      { ...ok, oldSize: v.oldSize + 1 },
      { ...ok, oldSize: v.oldSize ^ 2 },
      { ...ok, newSize: v.newSize * 2 },
      { ...ok, newSize: Math.floor(v.newSize / 2) },
      { ...ok, oldRoot: some },
      { ...ok, newRoot: some },
      { ...ok, oldRoot: root2, newRoot: root1 },
      { ...ok, proof: [] },
      { ...ok, proof: [...v.path, root1] },
      { ...ok, proof: [...v.path, root2] },
      { ...ok, proof: [root1, ...v.path] },
      { ...ok, proof: [root2, ...v.path] },
      { ...ok, proof: [v.path[0], ...v.path] },
      { ...ok, proof: v.path.slice(0, -1) },
      ...v.path.map((_, i) => ({
        ...ok,
        proof: v.path.map((p, j) => (i === j ? toHex(flipped(fromHex(p))) : p)),
      })),
    ];
    probes.forEach((p, i) =>
      assert.equal(verifyConsistency(p), false, `consistency ${v.oldSize}->${v.newSize} probe ${i}`)
    );
  }
});

Deno.test("consistency edge cases: equal sizes, empty old tree, time travel", () => {
  const [r1, r2] = [fromHex(CT_ROOTS[0]), fromHex(CT_ROOTS[1])];
  const check = (
    oldSize: number,
    newSize: number,
    oldRoot: Uint8Array,
    newRoot: Uint8Array,
    proof: Uint8Array[],
  ) => verifyConsistency({ oldSize, newSize, oldRoot, newRoot, proof });
  // Equal sizes: empty proof and the same root.
  assert.equal(check(1, 1, r1, r1, []), true);
  assert.equal(check(1, 1, r1, r2, []), false);
  assert.equal(check(1, 1, r1, r1, [EMPTY_ROOT]), false);
  assert.equal(check(8, 8, fromHex(CT_ROOTS[7]), fromHex(CT_ROOTS[7]), []), true);
  // The empty tree is a prefix of every tree, but only with its own root and no proof.
  assert.equal(check(0, 0, EMPTY_ROOT, EMPTY_ROOT, []), true);
  assert.equal(check(0, 1, EMPTY_ROOT, r1, []), true);
  assert.equal(check(0, 1, r2, r1, []), false);
  assert.equal(check(0, 0, EMPTY_ROOT, r1, []), false);
  assert.equal(check(0, 1, EMPTY_ROOT, r1, [EMPTY_ROOT]), false);
  // Time travel to the past and an empty proof for a real extension.
  assert.equal(check(1, 0, r1, EMPTY_ROOT, []), false);
  assert.equal(check(2, 1, r2, r1, []), false);
  assert.equal(check(1, 2, r1, r2, []), false);
  // Single-leaf tree: the leaf hash is the root and the path is empty.
  assert.equal(
    verifyInclusion({ leafHash: r1, leafIndex: 0, treeSize: 1, proof: [], root: r1 }),
    true,
  );
  assert.equal(
    verifyInclusion({ leafHash: r1, leafIndex: 0, treeSize: 1, proof: [], root: r2 }),
    false,
  );
  assert.equal(
    verifyInclusion({ leafHash: r1, leafIndex: 0, treeSize: 0, proof: [], root: r1 }),
    false,
  );
  assert.equal(
    verifyInclusion({ leafHash: r1, leafIndex: 1, treeSize: 1, proof: [], root: r1 }),
    false,
  );
});

// ---------------------------------------------------------------------------
// Exhaustive round trips up to 64 leaves

Deno.test("inclusion: generate -> verify for every (index, size) up to 64, and tampering fails", async () => {
  const N = 64;
  const all = testLeaves(N);
  for (let n = 1; n <= N; n++) {
    const leaves = all.slice(0, n);
    const root = rootFromLeafHashes(leaves);
    for (let i = 0; i < n; i++) {
      const path = await inclusionProof(i, n, leaves);
      assert.deepEqual(path, refPath(i, leaves), `path ${i}/${n}`);
      const ok = { leafHash: leaves[i], leafIndex: i, treeSize: n, proof: path, root };
      assert.equal(verifyInclusion(ok), true, `verify ${i}/${n}`);
      assert.equal(
        verifyInclusion({
          ...ok,
          proof: path.map(toHex),
          root: toHex(root),
          leafHash: toHex(leaves[i]),
        }),
        true,
      );

      // Any flipped byte in any path element, the leaf or the root.
      path.forEach((_, e) => {
        const bad = path.map((p, j) => (j === e ? flipped(p, e * 7 + i) : p));
        assert.equal(verifyInclusion({ ...ok, proof: bad }), false, `flip path[${e}] ${i}/${n}`);
      });
      assert.equal(verifyInclusion({ ...ok, root: flipped(root, i) }), false);
      assert.equal(verifyInclusion({ ...ok, leafHash: flipped(leaves[i], n) }), false);
      // Another leaf of the same tree is not at this index.
      if (n > 1) assert.equal(verifyInclusion({ ...ok, leafHash: leaves[(i + 1) % n] }), false);
      // Truncated, extended, padded paths.
      if (path.length > 0) {
        assert.equal(verifyInclusion({ ...ok, proof: path.slice(0, -1) }), false);
      }
      assert.equal(verifyInclusion({ ...ok, proof: [...path, root] }), false);
      assert.equal(verifyInclusion({ ...ok, proof: [...path, SOME_HASH] }), false);
      assert.equal(verifyInclusion({ ...ok, proof: [leaves[i], ...path] }), false);

      // Wrong index or size: accepted exactly when the claimed position has the same
      // left/right shape as the true one (a verifier cannot tell those apart), else rejected.
      const claims: [number, number][] = [
        [i - 1, n],
        [i + 1, n],
        [i ^ 2, n],
        [i, n - 1],
        [i, n + 1],
        [i, n * 2],
        [i, Math.floor(n / 2)],
        [n, n],
      ];
      for (const [ci, cn] of claims) {
        const valid = ci >= 0 && ci < cn;
        const expected = valid && inclusionShape(ci, cn) === inclusionShape(i, n);
        assert.equal(
          verifyInclusion({ ...ok, leafIndex: ci, treeSize: cn }),
          expected,
          `claim ${ci}/${cn} for ${i}/${n}`,
        );
      }
    }
  }
});

Deno.test("consistency: generate -> verify for every (old, new) up to 64, and tampering fails", async () => {
  const N = 64;
  const all = testLeaves(N);
  const roots = [
    EMPTY_ROOT,
    ...Array.from({ length: N }, (_, k) => rootFromLeafHashes(all.slice(0, k + 1))),
  ];
  for (let n = 0; n <= N; n++) {
    const leaves = all.slice(0, n);
    for (let m = 0; m <= n; m++) {
      const path = await consistencyProof(m, n, leaves);
      const expectedPath = m === 0 || m === n ? [] : refSubproof(m, leaves, true);
      assert.deepEqual(path, expectedPath, `path ${m}->${n}`);
      const ok = { oldSize: m, newSize: n, oldRoot: roots[m], newRoot: roots[n], proof: path };
      assert.equal(verifyConsistency(ok), true, `verify ${m}->${n}`);
      assert.equal(
        verifyConsistency({
          ...ok,
          oldRoot: toHex(roots[m]),
          newRoot: toHex(roots[n]),
          proof: path.map(toHex),
        }),
        true,
      );
      if (m === n) continue;

      assert.equal(
        verifyConsistency({ ...ok, oldRoot: flipped(roots[m], n) }),
        false,
        `old root ${m}->${n}`,
      );
      assert.equal(
        verifyConsistency({ ...ok, oldRoot: roots[n], newRoot: roots[m] }),
        false,
        `swapped roots ${m}->${n}`,
      );
      if (m === 0) {
        // The empty tree is a prefix of any tree: only the proof must be empty.
        assert.equal(verifyConsistency({ ...ok, newRoot: flipped(roots[n], m) }), true);
        assert.equal(verifyConsistency({ ...ok, proof: [roots[n]] }), false);
        continue;
      }
      assert.equal(
        verifyConsistency({ ...ok, newRoot: flipped(roots[n], m) }),
        false,
        `new root ${m}->${n}`,
      );
      assert.equal(
        verifyConsistency({
          oldSize: n,
          newSize: m,
          oldRoot: roots[n],
          newRoot: roots[m],
          proof: path,
        }),
        false,
        `swapped old/new ${m}->${n}`,
      );
      path.forEach((_, e) => {
        const bad = path.map((p, j) => (j === e ? flipped(p, e * 5 + m) : p));
        assert.equal(verifyConsistency({ ...ok, proof: bad }), false, `flip path[${e}] ${m}->${n}`);
      });
      assert.equal(
        verifyConsistency({ ...ok, proof: path.slice(0, -1) }),
        false,
        `truncated ${m}->${n}`,
      );
      assert.equal(
        verifyConsistency({ ...ok, proof: path.slice(1) }),
        false,
        `dropped head ${m}->${n}`,
      );
      assert.equal(
        verifyConsistency({ ...ok, proof: [...path, roots[m]] }),
        false,
        `extended ${m}->${n}`,
      );
      assert.equal(
        verifyConsistency({ ...ok, proof: [roots[m], ...path] }),
        false,
        `prepended ${m}->${n}`,
      );
      assert.equal(verifyConsistency({ ...ok, proof: [] }), false, `empty ${m}->${n}`);

      // A new tree that rewrote any old leaf is not an extension of the old tree.
      for (const j of new Set([0, Math.floor(m / 2), m - 1])) {
        const forged = leaves.slice();
        forged[j] = flipped(forged[j], j);
        const forgedPath = await consistencyProof(m, n, forged);
        const forgedRoot = rootFromLeafHashes(forged);
        assert.equal(
          verifyConsistency({ ...ok, newRoot: forgedRoot, proof: forgedPath }),
          false,
          `rewritten leaf ${j} in ${m}->${n}`,
        );
      }

      // Wrong sizes: accepted exactly when the claimed sizes give the same proof shape.
      const claims: [number, number][] = [
        [m - 1, n],
        [m + 1, n],
        [m ^ 2, n],
        [m, n - 1],
        [m, n + 1],
        [m, n * 2],
        [m, Math.floor(n / 2)],
      ];
      for (const [cm, cn] of claims) {
        const expected = cm > 0 && cm < cn && consistencyShape(cm, cn) === consistencyShape(m, n);
        assert.equal(
          verifyConsistency({ ...ok, oldSize: cm, newSize: cn }),
          expected,
          `claim ${cm}->${cn} for ${m}->${n}`,
        );
      }
    }
  }
});

// ---------------------------------------------------------------------------
// Streaming generation over a leaf source

Deno.test("proof generation streams each leaf at most once from an async source", async () => {
  const n = 70_003; // more than 2^16, not a power of two
  const leaves = testLeaves(n, 1);
  const leafAt = (i: number) => leaves[i];
  const { source: rootSource } = countingSource(n, leafAt);
  const all = await buildConsistencyProof(n, n, rootSource); // computes the root by streaming
  const root = all.new_root;

  {
    const { source, reads } = countingSource(n, leafAt);
    const proof = await buildInclusionProof(12_345, n, source);
    assert.equal(proof.root, root);
    assert.equal(proof.leaf_hash, toHex(leafAt(12_345)));
    assert.equal(verifyInclusionJson(proof), true);
    assert.ok(reads.every((r) => r === 1), "every leaf read exactly once");
  }
  for (const oldSize of [65_536, 40_001]) {
    const { source, reads } = countingSource(n, leafAt);
    const proof = await buildConsistencyProof(oldSize, n, source);
    assert.equal(proof.new_root, root);
    assert.equal(verifyConsistencyJson(proof), true, `consistency ${oldSize}->${n}`);
    assert.ok(reads.every((r) => r <= 1), "no leaf read twice");
  }
});

Deno.test("prefixRoot lets generation skip reading the left part of the tree", async () => {
  const leaves = testLeaves(1025);
  const reads = new Uint8Array(leaves.length);
  const asked: number[] = [];
  const source: LeafSource = {
    leafHashes(start, end) {
      for (let i = start; i < end; i++) reads[i]++;
      return leaves.slice(start, end);
    },
    prefixRoot(size) {
      asked.push(size);
      return size === 1024 ? rootFromLeafHashes(leaves.slice(0, 1024)) : undefined;
    },
  };
  const proof = await buildInclusionProof(1024, 1025, source);
  assert.equal(verifyInclusionJson(proof), true);
  assert.equal(proof.root, toHex(rootFromLeafHashes(leaves)));
  assert.deepEqual(asked, [1024]);
  assert.equal(reads.reduce((a, b) => a + b, 0), 1, "only the proven leaf itself is read");

  // A stored prefix root that is wrong gives a proof that does not verify, never a false "true".
  const lying: LeafSource = {
    ...source,
    prefixRoot: (size) => (size === 1024 ? SOME_HASH : undefined),
  };
  const bad = await buildInclusionProof(1024, 1025, lying);
  assert.notEqual(bad.root, toHex(rootFromLeafHashes(leaves)));
});

Deno.test("buildConsistencyProof reports both roots for every kind of size pair", async () => {
  const leaves = testLeaves(20);
  const rootOf = (k: number) => toHex(rootFromLeafHashes(leaves.slice(0, k)));
  for (const [m, n] of [[0, 0], [0, 5], [5, 5], [4, 13], [5, 13], [1, 20], [16, 20], [19, 20]]) {
    const proof = await buildConsistencyProof(m, n, leaves.slice(0, n));
    assert.equal(proof.old_size, m);
    assert.equal(proof.new_size, n);
    assert.equal(proof.old_root, rootOf(m), `old root ${m}->${n}`);
    assert.equal(proof.new_root, rootOf(n), `new root ${m}->${n}`);
    assert.equal(verifyConsistencyJson(proof), true, `${m}->${n}`);
    assert.equal(verifyConsistencyJson(JSON.stringify(proof)), true, `${m}->${n} as text`);
  }
});

Deno.test("inclusion proof ties an event hash to its version", async () => {
  const eventHashes = Array.from({ length: 9 }, (_, i) => toHex(sha256(`event ${i + 1}`)));
  const leaves = eventHashes.map(eventLeafHash);
  assert.deepEqual(leaves[3], leafHash(fromHex(eventHashes[3])));
  const version = 4;
  const proof = await buildInclusionProof(version - 1, leaves.length, leaves);
  assert.equal(verifyInclusionJson({ ...proof, event_hash: eventHashes[version - 1] }), true);
  assert.equal(verifyInclusionJson({ ...proof, event_hash: eventHashes[version] }), false);
  const root = proof.root;
  assert.equal(
    verifyInclusion({
      eventHash: eventHashes[3],
      leafIndex: 3,
      treeSize: 9,
      proof: proof.audit_path,
      root,
    }),
    true,
  );
  assert.equal(
    verifyInclusion({
      eventHash: eventHashes[4],
      leafIndex: 3,
      treeSize: 9,
      proof: proof.audit_path,
      root,
    }),
    false,
  );
  // Both given: they must agree.
  assert.equal(
    verifyInclusion({
      eventHash: eventHashes[3],
      leafHash: leaves[4],
      leafIndex: 3,
      treeSize: 9,
      proof: proof.audit_path,
      root,
    }),
    false,
  );
  assert.equal(
    verifyInclusion({ leafIndex: 3, treeSize: 9, proof: proof.audit_path, root }),
    false,
    "no leaf at all",
  );
  // The event hash itself is not the leaf hash.
  assert.equal(
    verifyInclusion({
      leafHash: eventHashes[3],
      leafIndex: 3,
      treeSize: 9,
      proof: proof.audit_path,
      root,
    }),
    false,
  );
  assert.throws(() => eventLeafHash("abc"), DbxError);
});

Deno.test("generation rejects bad arguments and misbehaving sources", async () => {
  const leaves = testLeaves(5);
  const invalid = (err: unknown) => err instanceof DbxError && err.code === "invalid_input";
  const corrupt = (err: unknown) => err instanceof DbxError && err.code === "corrupt";
  for (const [i, n] of [[5, 5], [0, 0], [-1, 5], [1.5, 5], [0, -1], [0, 2 ** 53], [NaN, 5]]) {
    await assert.rejects(inclusionProof(i, n, leaves), invalid, `inclusion ${i}/${n}`);
  }
  for (const [m, n] of [[3, 2], [-1, 2], [1, 2.5], [0, Infinity]]) {
    await assert.rejects(consistencyProof(m, n, leaves), invalid, `consistency ${m}->${n}`);
  }
  // Too few, too many and malformed leaf hashes from the source.
  await assert.rejects(inclusionProof(0, 6, leaves), corrupt, "short source");
  const tooMany: LeafSource = { leafHashes: () => leaves };
  await assert.rejects(inclusionProof(0, 5, tooMany), corrupt, "long source");
  const malformed = [...leaves.slice(0, 4), new Uint8Array(31)];
  await assert.rejects(inclusionProof(0, 5, malformed), corrupt, "31-byte leaf");
  await assert.rejects(
    buildInclusionProof(4, 5, {
      leafHashes: (s, e) => leaves.slice(s, e),
      prefixRoot: () => new Uint8Array(3),
    }),
    corrupt,
    "malformed prefix root",
  );
});

// ---------------------------------------------------------------------------
// Hostile input never throws and never verifies

Deno.test("verifyInclusionJson rejects hostile JSON without throwing", async () => {
  const leaves = testLeaves(11);
  const good = await buildInclusionProof(6, 11, leaves);
  assert.equal(verifyInclusionJson(good), true);
  assert.equal(verifyInclusionJson(JSON.stringify(good)), true);
  assert.equal(verifyInclusionJson({ ...good, extra: "ignored" }), true);
  assert.equal(
    verifyInclusionJson({
      ...good,
      root: good.root.toUpperCase(),
      audit_path: good.audit_path.map((h) => h.toUpperCase()),
    }),
    true,
    "upper-case hex is still hex",
  );

  const badHex = [
    "zz".repeat(32),
    good.root.slice(2),
    good.root + "00",
    "0x" + good.root.slice(2),
    " " + good.root.slice(1),
    good.root.slice(0, 63) + "g",
    "",
    42,
    null,
    [1, 2],
    { hex: good.root },
  ];
  const badSizes = [-1, 1.5, "6", NaN, Infinity, -Infinity, 2 ** 53, 1e300, null, undefined, true, [
    6,
  ], {}];
  const throwing = Object.defineProperty({ ...good }, "root", {
    get() {
      throw new Error("boom");
    },
  });
  const trap = new Proxy({}, {
    get() {
      throw new Error("trap");
    },
    has() {
      throw new Error("trap");
    },
  });
  const cases: unknown[] = [
    undefined,
    null,
    0,
    true,
    "",
    "{",
    "null",
    "[]",
    [],
    [good],
    Symbol("x"),
    () => good,
    throwing,
    trap,
    { ...good, leaf_hash: undefined },
    { ...good, root: undefined },
    { ...good, audit_path: undefined },
    { ...good, audit_path: good.audit_path.join("") },
    { ...good, audit_path: [...good.audit_path, 7] },
    { ...good, audit_path: [...good.audit_path.slice(0, -1), null] },
    { ...good, audit_path: Array(100_000).fill(good.root) },
    { ...good, tree_size: 6 },
    { ...good, leaf_index: 11 },
    { ...good, leaf_index: 2 ** 53 - 1, tree_size: 2 ** 53 },
    { ...good, event_hash: "nope" },
    ...badHex.flatMap((h) => [
      { ...good, leaf_hash: h },
      { ...good, root: h },
      { ...good, audit_path: [h, ...good.audit_path.slice(1)] },
    ]),
    ...badSizes.flatMap((s) => [{ ...good, leaf_index: s }, { ...good, tree_size: s }]),
  ];
  cases.forEach((c, i) => assert.equal(verifyInclusionJson(c), false, `case ${i}`));
});

Deno.test("verifyConsistencyJson rejects hostile JSON without throwing", async () => {
  const leaves = testLeaves(23);
  const good = await buildConsistencyProof(7, 23, leaves);
  assert.equal(verifyConsistencyJson(good), true);
  assert.equal(verifyConsistencyJson(JSON.stringify(good)), true);
  const badSizes = [
    -1,
    -7,
    7.5,
    "7",
    NaN,
    Infinity,
    2 ** 53,
    2 ** 64,
    1e300,
    null,
    undefined,
    false,
    [7],
  ];
  const badHex = ["xy".repeat(32), good.old_root.slice(1), good.old_root + "0", "", 0, null, {}];
  const cases: unknown[] = [
    undefined,
    null,
    1,
    "not json",
    "[]",
    [],
    [good],
    { ...good, consistency_path: undefined },
    { ...good, consistency_path: "abc" },
    { ...good, consistency_path: [...good.consistency_path, {}] },
    { ...good, consistency_path: Array(100_000).fill(good.old_root) },
    { ...good, old_size: good.new_size, new_size: good.old_size },
    { ...good, old_root: good.new_root, new_root: good.old_root },
    { ...good, old_size: 2 ** 53 - 2, new_size: 2 ** 53 - 1 },
    { ...good, old_size: 0 },
    { ...good, old_size: 23 },
    ...badSizes.flatMap((s) => [{ ...good, old_size: s }, { ...good, new_size: s }]),
    ...badHex.flatMap((h) => [
      { ...good, old_root: h },
      { ...good, new_root: h },
      { ...good, consistency_path: [h, ...good.consistency_path.slice(1)] },
    ]),
  ];
  cases.forEach((c, i) => assert.equal(verifyConsistencyJson(c), false, `case ${i}`));
});

Deno.test("byte-level verifiers reject wrong lengths and non-hashes without throwing", () => {
  const leaf = CT_LEAVES[0];
  const root = fromHex(CT_ROOTS[0]);
  const wrong: unknown[] = [
    new Uint8Array(31),
    new Uint8Array(33),
    new Uint8Array(0),
    "abc",
    5,
    null,
    [leaf],
  ];
  for (const w of wrong) {
    const asAny = w as Uint8Array;
    assert.equal(
      verifyInclusion({ leafHash: asAny, leafIndex: 0, treeSize: 1, proof: [], root }),
      false,
    );
    assert.equal(
      verifyInclusion({ leafHash: leaf, leafIndex: 0, treeSize: 1, proof: [], root: asAny }),
      false,
    );
    assert.equal(
      verifyInclusion({ leafHash: leaf, leafIndex: 0, treeSize: 2, proof: [asAny], root }),
      false,
    );
    assert.equal(
      verifyConsistency({ oldSize: 1, newSize: 1, oldRoot: asAny, newRoot: asAny, proof: [] }),
      false,
    );
    assert.equal(
      verifyConsistency({ oldSize: 1, newSize: 2, oldRoot: root, newRoot: root, proof: [asAny] }),
      false,
    );
  }
  const hostile = [null, undefined, 7, "x", [], { proof: null }] as unknown as Parameters<
    typeof verifyInclusion
  >[0][];
  for (const h of hostile) {
    assert.equal(verifyInclusion(h), false);
    assert.equal(verifyConsistency(h as unknown as Parameters<typeof verifyConsistency>[0]), false);
  }
  assert.equal(rootFromInclusionProof(0, 1, new Uint8Array(31), []), null);
  assert.equal(rootFromInclusionProof(-1, 1, leaf, []), null);
  assert.equal(rootFromInclusionProof(0, 2 ** 53, leaf, []), null);
});
