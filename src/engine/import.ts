/**
 * Importing replicated events (fast-forward only): a batch of one aggregate's events as
 * another node committed them. They keep their `event_id`, `created_at`, `issued_by`, note,
 * hash and Merkle root; this node gives them its own global positions and seals them under
 * its own DEK.
 *
 * Nothing the sender claims is trusted: the batch goes through the single writer like an
 * append, which recomputes each event's version, hash and root on top of this node's head
 * (`decideImport`, `checkImported`). A claimed value that differs from the recomputed one
 * refuses the whole batch (a writer request is all-or-nothing), so a tampered, reordered or
 * diverged stream writes nothing.
 */
import { DbxError } from "../errors.ts";
import { canonicalJson } from "../integrity/canonical_json.ts";
import type { AppendDecision, HeadView } from "./decide.ts";
import {
  checkAppendInput,
  type CheckedAppendInput,
  type InputLimits,
  jsonByteLength,
} from "./input.ts";
import { isJsonObject } from "../util/json_file.ts";
import { validateEventId, validateName, validateNote } from "./names.ts";
import type { EventMetadata } from "./types.ts";

/** Most events one import request carries. */
export const MAX_IMPORT_EVENTS = 10_000;

/** One event as the sending node committed it (its `position` there is not used). */
export interface ImportedEvent {
  event_type: string;
  payload: Record<string, unknown>;
  metadata: EventMetadata;
  version: number;
  hash: string;
  merkle_root: string;
}

/** What the sender claims of an event: checked against what the writer recomputes. */
export interface ImportOrigin {
  version: number;
  metadata: EventMetadata;
  hash: string;
  merkle_root: string;
}

/** An append input carrying the origin of an imported event. */
export type CheckedImport = CheckedAppendInput & { readonly origin: ImportOrigin };

const HEX64 = /^[0-9a-f]{64}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function checkMetadata(raw: unknown, at: string): EventMetadata {
  if (!isJsonObject(raw)) throw new DbxError("invalid_input", `${at}: metadata must be an object`);
  const eventId = raw.event_id;
  if (typeof eventId !== "string") {
    throw new DbxError("invalid_input", `${at}: metadata.event_id must be a string`);
  }
  // Every writer stores ids lower-cased: another spelling would not be this event's id.
  if (validateEventId(eventId) !== eventId) {
    throw new DbxError("invalid_input", `${at}: metadata.event_id must be a lower-case UUID`);
  }
  const createdAt = raw.created_at;
  if (
    typeof createdAt !== "string" || !RFC3339_UTC.test(createdAt) ||
    Number.isNaN(Date.parse(createdAt))
  ) {
    throw new DbxError("invalid_input", `${at}: metadata.created_at must be an RFC 3339 UTC time`);
  }
  const issued = raw.issued_by;
  let issuedBy: EventMetadata["issued_by"] = null;
  if (issued !== null && issued !== undefined) {
    if (
      !isJsonObject(issued) || typeof issued.group !== "string" || typeof issued.user !== "string"
    ) {
      throw new DbxError(
        "invalid_input",
        `${at}: metadata.issued_by must be {group, user} or null`,
      );
    }
    issuedBy = { group: issued.group, user: issued.user };
  }
  const metadata: EventMetadata = { event_id: eventId, created_at: createdAt, issued_by: issuedBy };
  const note = validateNote(raw.note, `${at}: metadata.note`);
  if (note !== undefined) metadata.note = note;
  return metadata;
}

/**
 * Check the shape of an import batch for one aggregate and turn it into writer inputs.
 * Versions must follow each other (the writer then checks that the first one follows this
 * node's head). Throws DbxError "invalid_input" naming the first bad event.
 *
 * @example
 * ```ts
 * declare const received: unknown[]; // events as the sending node lists them
 * const inputs = checkImportBatch("patient", "p-1", received);
 * inputs[0].origin.version; // 1 when the aggregate is new here
 * ```
 */
export function checkImportBatch(
  aggregateType: unknown,
  aggregateId: unknown,
  events: unknown,
  limits?: InputLimits,
): CheckedImport[] {
  const type = validateName("aggregate type", aggregateType);
  const id = validateName("aggregate id", aggregateId);
  if (!Array.isArray(events) || events.length === 0) {
    throw new DbxError("invalid_input", "an import needs at least one event");
  }
  if (events.length > MAX_IMPORT_EVENTS) {
    throw new DbxError("too_large", `an import carries at most ${MAX_IMPORT_EVENTS} events`);
  }
  const out: CheckedImport[] = [];
  let previous: number | undefined;
  for (const [i, raw] of events.entries()) {
    const at = `event #${i + 1} of ${type}/${id}`;
    if (!isJsonObject(raw)) throw new DbxError("invalid_input", `${at} must be an object`);
    for (const field of ["aggregate_type", "aggregate_id"] as const) {
      const named = raw[field];
      if (named !== undefined && named !== (field === "aggregate_type" ? type : id)) {
        throw new DbxError("invalid_input", `${at} names another aggregate`);
      }
    }
    const version = raw.version;
    if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) {
      throw new DbxError("invalid_input", `${at}: version must be a positive integer`);
    }
    if (previous !== undefined && version !== previous + 1) {
      throw new DbxError(
        "invalid_input",
        `${at}: version ${version} does not follow version ${previous} (out of order)`,
      );
    }
    previous = version;
    if (typeof raw.hash !== "string" || !HEX64.test(raw.hash)) {
      throw new DbxError("invalid_input", `${at}: hash must be 64 lowercase hex digits`);
    }
    if (typeof raw.merkle_root !== "string" || !HEX64.test(raw.merkle_root)) {
      throw new DbxError("invalid_input", `${at}: merkle_root must be 64 lowercase hex digits`);
    }
    const metadata = checkMetadata(raw.metadata, at);
    const input = checkAppendInput({
      aggregate_type: type,
      aggregate_id: id,
      event_type: raw.event_type as string,
      payload: raw.payload as Record<string, unknown>,
      note: metadata.note,
      // No event id for the writer to look up first: the whole history is checked against
      // its hashes and roots instead, and the writer indexes the id (writer.ts).
    }, limits);
    const origin: ImportOrigin = {
      version,
      metadata,
      hash: raw.hash,
      merkle_root: raw.merkle_root,
    };
    out.push(Object.assign(input, { origin }) as CheckedImport);
  }
  return out;
}

/**
 * The origin of an input, when it is an imported event.
 *
 * @example
 * ```ts
 * declare const input: CheckedImport;
 * importOrigin(input)?.version; // the version the sender gave it
 * ```
 */
export function importOrigin(input: CheckedAppendInput): ImportOrigin | undefined {
  return (input as Partial<CheckedImport>).origin;
}

/**
 * Decide one imported event against the aggregate's head: it must be the next version
 * (fast-forward only) and the aggregate not archived. No
 * schema applies: the event was accepted by the node that committed it, and its history is
 * copied, not re-decided.
 *
 * @example
 * ```ts
 * declare const input: CheckedImport;
 * const head = { exists: false, version: 0, archived: false, state: {} };
 * decideImport(head, input, { maxPayloadBytes: 1 << 20 }); // { kind: "write", version: 1, … }
 * ```
 */
export function decideImport(
  head: HeadView,
  input: CheckedImport,
  limits: InputLimits,
): AppendDecision {
  const name = `${input.aggregate_type}/${input.aggregate_id}`;
  const version = input.origin.version;
  if (version !== head.version + 1) {
    throw new DbxError(
      "conflict",
      `cannot import version ${version} of ${name}: this node has version ${head.version} ` +
        "(imports are fast-forward only)",
      { current_version: head.version },
    );
  }
  if (head.archived) {
    throw new DbxError("archived", `aggregate ${name} is archived here; restore it to import`);
  }
  const payload = input.payload ?? {};
  const payloadJson = canonicalJson(payload);
  const max = limits.maxPayloadBytes;
  if (jsonByteLength(payloadJson, max) > max) {
    throw new DbxError(
      "too_large",
      `payload of ${name} version ${version} is larger than ${max} bytes`,
    );
  }
  return { kind: "write", version, payload, payloadJson };
}

/**
 * Compare what the writer recomputed for an imported event with what the sender claimed:
 * a different hash means the content was altered on the way; a different root means the
 * event does not extend this node's history (a diverged aggregate, or a forged root).
 *
 * @example
 * ```ts
 * declare const origin: ImportOrigin;
 * checkImported("patient/p-1", origin, origin.hash, origin.merkle_root); // ok
 * ```
 */
export function checkImported(
  name: string,
  origin: ImportOrigin,
  hash: string,
  root: string,
): void {
  if (hash !== origin.hash) {
    // Altered input, not damage here: the sender's batch is refused as bad input.
    throw new DbxError(
      "invalid_input",
      `version ${origin.version} of ${name} does not match its hash: its content was altered ` +
        "(nothing of this batch was written)",
      { version: origin.version, reason: "hash_mismatch" },
    );
  }
  if (root !== origin.merkle_root) {
    throw new DbxError(
      "conflict",
      `version ${origin.version} of ${name} does not extend this node's history: ` +
        `the sender's Merkle root ${origin.merkle_root} differs from ${root} computed here ` +
        "(diverged; nothing of this batch was written)",
      { version: origin.version, reason: "root_mismatch" },
    );
  }
}
