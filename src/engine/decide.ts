/**
 * The decisions of the write path, apart from its mechanics: given an aggregate's head, is
 * an append, a write charge or a control operation allowed, and what does it write? Pure
 * functions of their arguments: the writer applies what they decide (hashing, Merkle tree,
 * encoding), `Engine.check` and staging ask the same questions without writing.
 */
import { DbxError } from "../errors.ts";
import { canonicalJson } from "../integrity/canonical_json.ts";
import {
  type CheckedAppendInput,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type InputLimits,
  jsonByteLength,
} from "./input.ts";
import { payloadFromPatch } from "./patch.ts";
import type { EventRecord, EventValidator, WriteCharge } from "./types.ts";

/** What the decisions need to know of an aggregate's head. */
export interface HeadView {
  readonly exists: boolean;
  readonly version: number;
  readonly archived: boolean;
  readonly state: Record<string, unknown>;
}

/**
 * What one append does: return an earlier record (an idempotent retry) or write a new one
 * (with its payload and the payload's canonical JSON text, which is hashed and stored).
 */
export type AppendDecision =
  | { kind: "replay"; record: EventRecord }
  | { kind: "write"; version: number; payload: Record<string, unknown>; payloadJson: string };

/**
 * Decide one append against the aggregate's head. `earlier` is the record already committed
 * (or prepared) with the input's `event_id`, if any. Throws DbxError "archived", "conflict"
 * (expected version, failed patch test), "invalid_input" (patch, a value JSON cannot hold),
 * "too_large" (the payload, also one a patch made, past `limits`) or the validator's error.
 *
 * @example
 * ```ts
 * import { checkAppendInput } from "./input.ts";
 * const head = { exists: false, version: 0, archived: false, state: {} };
 * const input = checkAppendInput({
 *   aggregate_type: "patient", aggregate_id: "p-1", event_type: "added", payload: { a: 1 },
 * });
 * decideAppend(head, input, undefined);
 * // { kind: "write", version: 1, payload: { a: 1 }, payloadJson: '{"a":1}' }
 * ```
 */
export function decideAppend(
  head: HeadView,
  input: CheckedAppendInput,
  earlier: EventRecord | undefined,
  validator?: EventValidator,
  limits: InputLimits = { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES },
): AppendDecision {
  if (earlier) return { kind: "replay", record: earlier };
  const name = `${input.aggregate_type}/${input.aggregate_id}`;
  if (head.archived) {
    throw new DbxError("archived", `aggregate ${name} is archived; restore it before appending`);
  }
  const expected = input.expected_version;
  if (expected !== undefined && expected !== head.version) {
    throw new DbxError(
      "conflict",
      `version conflict on ${name}: expected version ${expected}, current version is ${head.version}`,
      { expected_version: expected, current_version: head.version },
    );
  }
  const payload = input.patch !== undefined
    ? payloadFromPatch(head.state, input.patch)
    : input.payload ?? {};
  let payloadJson: string;
  try {
    payloadJson = canonicalJson(payload);
  } catch {
    throw new DbxError("invalid_input", "payload is not valid JSON");
  }
  const max = limits.maxPayloadBytes;
  if (jsonByteLength(payloadJson, max) > max) {
    throw new DbxError("too_large", `payload is larger than ${max} bytes`);
  }
  validator?.({
    aggregate_type: input.aggregate_type,
    aggregate_id: input.aggregate_id,
    event_type: input.event_type,
    payload,
    current_version: head.version,
    state: head.state,
  });
  return { kind: "write", version: head.version + 1, payload, payloadJson };
}

/**
 * The new count of a write-limit counter after `events` more writes, or DbxError
 * "limit_reached" when that would pass the limit.
 *
 * @example
 * ```ts
 * decideCharge(9, 1, { key: "token-id", limit: 10 }); // 10
 * decideCharge(10, 1, { key: "token-id", limit: 10 }); // throws limit_reached
 * ```
 */
export function decideCharge(used: number, events: number, charge: WriteCharge): number {
  if (used + events > charge.limit) {
    throw new DbxError(
      "limit_reached",
      `the token's write limit of ${charge.limit} is reached`,
      { limit: charge.limit, used },
    );
  }
  return used + events;
}

/** Operations on an aggregate that write no event. */
export type ControlOp = "archive" | "restore" | "snapshot";

/**
 * Decide a control operation on an aggregate's head: it must exist, and archive / restore
 * must change something. Throws DbxError "not_found" or "conflict".
 *
 * @example
 * ```ts
 * const head = { exists: true, version: 3, archived: false, state: {} };
 * decideControl(head, "archive", "patient/p-1"); // ok
 * decideControl(head, "restore", "patient/p-1"); // throws conflict: not archived
 * ```
 */
export function decideControl(head: HeadView, op: ControlOp, name: string): void {
  if (!head.exists) throw new DbxError("not_found", `aggregate ${name} not found`);
  if (op === "snapshot") return;
  const archive = op === "archive";
  if (head.archived === archive) {
    throw new DbxError("conflict", `aggregate ${name} is ${archive ? "already" : "not"} archived`);
  }
}
