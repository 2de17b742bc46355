/**
 * Integrity API: SHA-256, canonical JSON, RFC 9162 Merkle trees and proofs.
 *
 * @example
 * ```ts
 * import {
 *   buildInclusionProof,
 *   eventLeafHash,
 *   sha256,
 *   toHex,
 *   verifyInclusionJson,
 * } from "./mod.ts";
 * const eventHash = toHex(sha256("event 1")); // an event's `hash`
 * const proof = await buildInclusionProof(0, 1, [eventLeafHash(eventHash)]);
 * verifyInclusionJson(proof); // true
 * ```
 *
 * @module
 */
export { fromHex, sha256, toHex } from "./sha256.ts";
export { canonicalJson } from "./canonical_json.ts";
export {
  appendLeaf,
  EMPTY_ROOT,
  emptyFrontier,
  type Frontier,
  frontierRoot,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  splitPoint,
} from "./merkle.ts";
export {
  buildConsistencyProof,
  buildInclusionProof,
  consistencyProof,
  type ConsistencyProofJson,
  eventLeafHash,
  HASH_LENGTH,
  type HashInput,
  inclusionProof,
  type InclusionProofJson,
  type LeafHashes,
  type LeafSource,
  rootFromInclusionProof,
  verifyConsistency,
  type VerifyConsistencyInput,
  verifyConsistencyJson,
  verifyInclusion,
  type VerifyInclusionInput,
  verifyInclusionJson,
} from "./proof.ts";
