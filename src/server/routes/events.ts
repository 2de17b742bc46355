/**
 * Appending events: `POST /v1/events` (aggregate in the body, current seed),
 * `POST /v1/aggregates/{type}/{id}/events` (older seed) and the atomic
 * `POST /v1/events/batch`.
 *
 * Body of one event: `{aggregate_type, aggregate_id, event_type, payload? |
 * patch?, note?, metadata?: {note?}, event_id?, expected_version?}`; the
 * per-aggregate route takes the aggregate from the path. A write answers 201
 * with the EventRecord; an idempotent retry (same `event_id`) answers 200 with
 * the original record.
 */
import type { Context } from "hono";
import { aggregateResource } from "../../auth/authority.ts";
import { validateName } from "../../engine/names.ts";
import type { AppendInput, EventRecord, JsonPatchOperation } from "../../engine/types.ts";
import { DbxError } from "../../errors.ts";
import { type AppEnv, authorizeFor } from "../auth_middleware.ts";
import type { App, RouteDeps } from "./deps.ts";
import { aggregatePath, checkObject, isObject, readJson } from "./params.ts";

const EVENT_FIELDS = [
  "aggregate_type",
  "aggregate_id",
  "event_type",
  "payload",
  "patch",
  "note",
  "metadata",
  "event_id",
  "expected_version",
] as const;

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * Turn one event of a request body into an AppendInput. `target` is the
 * aggregate named by the path; body fields naming another one are refused.
 * Value types (payload an object, expected_version an integer, ...) are
 * checked by the engine.
 *
 * @example
 * ```ts
 * parseEventBody({ event_type: "patient-updated", payload: {} }, "the request body",
 *   { type: "patient", id: "p-001" });
 * ```
 */
export function parseEventBody(
  raw: unknown,
  what: string,
  target?: { type: string; id: string },
): AppendInput {
  const body = checkObject(raw, EVENT_FIELDS, what);
  const aggregate = (field: "aggregate_type" | "aggregate_id", fromPath?: string): string => {
    const value = body[field];
    if (fromPath !== undefined) {
      if (value !== undefined && value !== null && value !== fromPath) {
        throw invalid(`${what}: ${field} ${JSON.stringify(value)} differs from the path's`);
      }
      return fromPath;
    }
    if (value === undefined || value === null) throw invalid(`${what}: ${field} is required`);
    return validateName(field === "aggregate_type" ? "aggregate type" : "aggregate id", value);
  };
  const input: AppendInput = {
    aggregate_type: aggregate("aggregate_type", target?.type),
    aggregate_id: aggregate("aggregate_id", target?.id),
    event_type: body.event_type as string,
  };
  if (body.event_type === undefined || body.event_type === null) {
    throw invalid(`${what}: event_type is required`);
  }
  if (body.payload !== undefined) input.payload = body.payload as Record<string, unknown>;
  if (body.patch !== undefined) {
    if (!Array.isArray(body.patch)) {
      throw invalid(`${what}: patch must be a JSON array of RFC 6902 operations`);
    }
    input.patch = body.patch as JsonPatchOperation[];
  }
  const note = noteOf(body, what);
  if (note !== undefined) input.note = note as string;
  if (body.event_id !== undefined && body.event_id !== null) {
    input.event_id = body.event_id as string;
  }
  if (body.expected_version !== undefined && body.expected_version !== null) {
    input.expected_version = body.expected_version as number;
  }
  return input;
}

/** `note` or `metadata.note` (the older upstream spelling); both must agree. */
function noteOf(body: Record<string, unknown>, what: string): unknown {
  let note = body.note ?? undefined;
  if (body.metadata !== undefined && body.metadata !== null) {
    const metadata = checkObject(body.metadata, ["note"], `${what}: metadata`);
    const inner = metadata.note ?? undefined;
    if (inner !== undefined) {
      if (note !== undefined && note !== inner) {
        throw invalid(`${what}: note and metadata.note differ; give one of them`);
      }
      note = inner;
    }
  }
  return note;
}

/** Append events whose aggregates the caller may append to; 201 unless all were retries. */
async function appendAndRespond(
  c: Context<AppEnv>,
  deps: RouteDeps,
  inputs: AppendInput[],
  single: boolean,
): Promise<Response> {
  const { ctx } = deps;
  let who;
  const checked = new Set<string>();
  for (const input of inputs) {
    const resource = aggregateResource(input.aggregate_type, input.aggregate_id);
    if (checked.has(resource)) continue;
    checked.add(resource);
    who = authorizeFor(c, ctx.auth, "aggregate.append", resource);
  }
  if (!who) throw invalid("a batch needs at least one event");
  // A retried event_id returns a record committed before this request began.
  const before = await ctx.engine.lastPosition();
  const records: EventRecord[] = await ctx.engine.appendBatch(inputs, {
    issued_by: who.issued_by,
    charge: who.charge,
  });
  const status = records.some((r) => r.position > before) ? 201 : 200;
  return single ? c.json(records[0], status) : c.json({ events: records }, status);
}

/**
 * Register the append routes.
 *
 * @example
 * ```ts
 * registerEventRoutes(app, { ctx, guard });
 * ```
 */
export function registerEventRoutes(app: App, deps: RouteDeps): void {
  app.post("/v1/events", deps.guard, async (c) => {
    const input = parseEventBody(readJson(c), "the request body");
    return await appendAndRespond(c, deps, [input], true);
  });

  app.post("/v1/aggregates/:aggregate_type/:aggregate_id/events", deps.guard, async (c) => {
    const target = aggregatePath(c);
    const input = parseEventBody(readJson(c), "the request body", target);
    return await appendAndRespond(c, deps, [input], true);
  });

  app.post("/v1/events/batch", deps.guard, async (c) => {
    const body = readJson(c);
    let events: unknown;
    if (Array.isArray(body)) events = body;
    else if (isObject(body)) events = checkObject(body, ["events"], "the request body").events;
    if (!Array.isArray(events)) {
      throw invalid('the request body must be {"events": [...]} or a JSON array of events');
    }
    if (events.length === 0) throw invalid("a batch needs at least one event");
    const inputs = events.map((raw, i) => parseEventBody(raw, `event ${i + 1}`));
    return await appendAndRespond(c, deps, inputs, false);
  });
}
