/**
 * RFC 9162 (Certificate Transparency v2) Merkle tree hashing.
 *
 * leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right); the left
 * subtree of n leaves holds the largest power of two below n; odd nodes are never
 * duplicated. The empty tree hashes to SHA-256("").
 */
import { sha256 } from "./sha256.ts";
import { sha256Node, sha256Small, SMALL_MAX } from "./sha256_small.ts";

const LEAF_PREFIX = new Uint8Array([0]);

export function leafHash(data: Uint8Array): Uint8Array {
  // Leaves are 32-byte event hashes: small enough for the in-JIT hasher.
  return data.length < SMALL_MAX ? sha256Small(0, data) : sha256(LEAF_PREFIX, data);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length === 32 && right.length === 32) return sha256Node(left, right);
  if (left.length + right.length < SMALL_MAX) return sha256Small(1, left, right);
  return sha256(Uint8Array.of(1), left, right);
}

export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** Largest power of two strictly below n (n >= 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Root of the tree over the given leaf hashes, by the RFC's recursive definition. */
export function rootFromLeafHashes(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0];
  const k = splitPoint(leaves.length);
  return nodeHash(rootFromLeafHashes(leaves.slice(0, k)), rootFromLeafHashes(leaves.slice(k)));
}

/**
 * The right edge of a tree of `size` leaves: the roots of its perfect subtrees,
 * largest (leftmost) first — one per set bit of `size`. Enough to append and to
 * compute the root in O(log n) without re-reading old leaves.
 */
export interface Frontier {
  size: number;
  nodes: Uint8Array[];
}

export function emptyFrontier(): Frontier {
  return { size: 0, nodes: [] };
}

/** Frontier after appending one leaf hash. Does not modify `frontier`. */
export function appendLeaf(frontier: Frontier, leaf: Uint8Array): Frontier {
  const nodes = frontier.nodes.slice();
  let node = leaf;
  // Each trailing 1-bit of the old size is a perfect subtree the new leaf completes.
  let size = frontier.size;
  while (size & 1) {
    node = nodeHash(nodes.pop()!, node);
    size = Math.floor(size / 2);
  }
  nodes.push(node);
  return { size: frontier.size + 1, nodes };
}

/** Root of the tree a frontier describes: fold the subtrees from the right. */
export function frontierRoot(frontier: Frontier): Uint8Array {
  const { nodes } = frontier;
  if (nodes.length === 0) return EMPTY_ROOT;
  if (nodes.length === 1) return nodes[0];
  // One buffer carries the fold: no allocation per intermediate node.
  const root = new Uint8Array(32);
  if (nodes.every((n) => n.length === 32)) {
    sha256Node(nodes[nodes.length - 2], nodes[nodes.length - 1], root);
    for (let i = nodes.length - 3; i >= 0; i--) sha256Node(nodes[i], root, root);
    return root;
  }
  let folded = nodes[nodes.length - 1];
  for (let i = nodes.length - 2; i >= 0; i--) folded = nodeHash(nodes[i], folded);
  return folded;
}
