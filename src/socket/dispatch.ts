/**
 * One control request → the API operations it means → one response. The socket adds no
 * rule of its own: every request is an API call for the token of the hello (or the token
 * the request carries), checked and authorized there. What is the socket's is the
 * protocol's shape: JSON texts in, the clients' JSON shapes out, `found: false` for a
 * missing aggregate, lists cut so that an answer fits in one frame.
 */
import type { Api } from "../api/api.ts";
import { type Caller, tokenCaller } from "../api/caller.ts";
import { isObject } from "../api/checks.ts";
import type { AggregateRecord, CursorPage, EventRecord } from "../api/operations.ts";
import type { EventRequestData, RequestBody, ResponseBody } from "../control_protocol/messages.ts";
import { DbxError, isDbxError } from "../errors.ts";
import { controlError } from "./errors.ts";
import { aggregateShape, eventShape, selectedValue } from "./shapes.ts";

/** Runs one `dbx` command for a caller (`dbx --remote`); see commands.ts. */
export type CommandRunner = (
  args: string[],
  caller: Caller,
) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

export interface DispatchOptions {
  api: Api;
  /** The largest answer a frame can carry (lists are cut to fit in it). */
  maxAnswerBytes: number;
  /** Remote command execution; absent: refused. */
  runCommand?: CommandRunner;
}

/** What a request's answer is built from. */
export type Dispatch = (body: RequestBody, sessionToken: string) => Promise<ResponseBody>;

/** Room left in a frame for everything around a list's JSON (cursor, Cap'n Proto, Noise). */
const FRAME_OVERHEAD = 2048;
const encoder = new TextEncoder();

function malformedJson(field: string, err: unknown): DbxError {
  return new DbxError(
    "invalid_input",
    `${field} is not valid JSON: ${(err as Error).message}`,
    { reason: "malformed" },
  );
}

function parseJson(field: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw malformedJson(field, err);
  }
}

/**
 * The append input of an event request: the payload (`null`, the JS client's "no payload",
 * is an empty one) or the patch, the note, and what the protocol carries that this server
 * does not store (metadata other than a note, publish targets), refused rather than lost.
 */
function eventInput(r: EventRequestData, patch: boolean): Record<string, unknown> {
  const input: Record<string, unknown> = {
    aggregate_type: r.aggregateType,
    aggregate_id: r.aggregateId,
    event_type: r.eventType,
  };
  if (patch) input.patch = parseJson("patchJson", r.json);
  else {
    const payload = r.json.trim() === "" ? null : parseJson("payloadJson", r.json);
    input.payload = payload === null ? {} : payload;
  }
  let note = r.note;
  if (r.metadataJson !== undefined && r.metadataJson.trim() !== "") {
    const metadata = parseJson("metadataJson", r.metadataJson);
    if (metadata !== null) {
      if (!isObject(metadata)) {
        throw new DbxError("invalid_input", "metadataJson must be an object");
      }
      const keys = Object.keys(metadata).filter((k) => k !== "note");
      if (keys.length > 0) {
        throw new DbxError(
          "invalid_input",
          `event metadata ${keys.map((k) => JSON.stringify(k)).join(", ")} is not stored by ` +
            "this server (only a note is); put such fields in the payload",
        );
      }
      if (metadata.note !== undefined && metadata.note !== null) {
        if (note !== undefined && note !== metadata.note) {
          throw new DbxError("invalid_input", "note and metadata.note differ; give one of them");
        }
        note = metadata.note as string;
      }
    }
  }
  if (r.publishTargets.length > 0) {
    throw new DbxError(
      "invalid_input",
      "publish targets are not supported by this server: every plugin receives every event",
    );
  }
  if (note !== undefined) input.note = note;
  return input;
}

/** The UTF-8 size of a text. */
const bytes = (text: string) =>
  text.length * 3 <= 1024 ? text.length * 3 : encoder.encode(text).length;

/**
 * A page's items as one JSON array that fits in `budget` bytes: when the page is larger, it
 * is asked for again with as many items as fit (then its cursor points after them).
 */
async function fittedPage<T>(
  fetch: (take: number | undefined) => Promise<CursorPage<T>>,
  shape: (item: T) => unknown,
  budget: number,
  take: number | undefined,
): Promise<{ json: string; next_cursor?: string }> {
  let want = take;
  for (let attempt = 0; attempt < 4; attempt++) {
    const page = await fetch(want);
    const texts = page.items.map((item) => JSON.stringify(shape(item)));
    let size = 2;
    let fit = 0;
    for (const text of texts) {
      size += bytes(text) + 1;
      if (size > budget) break;
      fit++;
    }
    if (fit === texts.length) {
      const out: { json: string; next_cursor?: string } = { json: `[${texts.join(",")}]` };
      if (page.next_cursor !== undefined) out.next_cursor = page.next_cursor;
      return out;
    }
    if (fit === 0) {
      throw new DbxError(
        "too_large",
        `one item of this page is larger than a socket frame (${budget} bytes); read it by REST`,
      );
    }
    want = fit;
  }
  throw new DbxError("too_large", "the page does not fit in a socket frame; ask for fewer items");
}

/**
 * Build the dispatcher of a socket.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const dispatch = createDispatch({ api, maxAnswerBytes: 65_535 });
 * await dispatch({ kind: "verifyAggregate", aggregateType: "order", aggregateId: "o-1" }, "eyJ…");
 * ```
 */
export function createDispatch(options: DispatchOptions): Dispatch {
  const { api } = options;
  const budget = options.maxAnswerBytes - FRAME_OVERHEAD;
  const owned = { owned: true };

  const handle = async (body: RequestBody, caller: Caller): Promise<ResponseBody> => {
    switch (body.kind) {
      case "listAggregates": {
        const input: Record<string, unknown> = {};
        if (body.cursor !== undefined) input.cursor = body.cursor;
        if (body.filter !== undefined) input.filter = body.filter;
        if (body.sort !== undefined) input.sort = body.sort;
        if (body.includeArchived) input.include_archived = true;
        if (body.archivedOnly) input.archived_only = true;
        const page = await fittedPage(
          (take) => api.call(caller, "queryAggregates", { ...input, take }, owned),
          (item: AggregateRecord) => aggregateShape(item),
          budget,
          body.take,
        );
        return { kind: "listAggregates", aggregatesJson: page.json, nextCursor: page.next_cursor };
      }
      case "getAggregate":
        try {
          const record = await api.call(caller, "getAggregate", {
            aggregate_type: body.aggregateType,
            aggregate_id: body.aggregateId,
          }, owned);
          return {
            kind: "getAggregate",
            found: true,
            aggregateJson: JSON.stringify(aggregateShape(record)),
          };
        } catch (err) {
          if (isDbxError(err, "not_found")) {
            return { kind: "getAggregate", found: false, aggregateJson: "" };
          }
          throw err;
        }
      case "listEvents": {
        const input: Record<string, unknown> = {
          aggregate_type: body.aggregateType,
          aggregate_id: body.aggregateId,
        };
        if (body.cursor !== undefined) input.cursor = body.cursor;
        if (body.filter !== undefined) input.filter = body.filter;
        const page = await fittedPage(
          (take) => api.call(caller, "queryEvents", { ...input, take } as never, owned),
          (item: EventRecord) => eventShape(item),
          budget,
          body.take,
        );
        return { kind: "listEvents", eventsJson: page.json, nextCursor: page.next_cursor };
      }
      case "appendEvent":
      case "patchEvent": {
        const input = eventInput(body, body.kind === "patchEvent");
        const { event } = await api.call(caller, "appendExisting", input as never, owned);
        // A patch is answered as an append (the protocol's union has no patch answer).
        return { kind: "appendEvent", eventJson: JSON.stringify(eventShape(event)) };
      }
      case "createAggregate": {
        const input = eventInput(body, false);
        const { aggregate } = await api.call(caller, "createAggregate", input as never, owned);
        return {
          kind: "createAggregate",
          aggregateJson: JSON.stringify(aggregateShape(aggregate)),
        };
      }
      case "verifyAggregate": {
        const result = await api.call(caller, "verifyAggregate", {
          aggregate_type: body.aggregateType,
          aggregate_id: body.aggregateId,
        }, owned);
        if (!result.verified) {
          throw new DbxError(
            "integrity",
            `verification of ${result.aggregate_type}/${result.aggregate_id} failed at version ` +
              `${result.first_bad_version}: ${result.reason ?? "mismatch"}`,
          );
        }
        return { kind: "verifyAggregate", merkleRoot: result.merkle_root };
      }
      case "selectAggregate":
        try {
          const { selection } = await api.call(caller, "selectAggregate", {
            aggregate_type: body.aggregateType,
            aggregate_id: body.aggregateId,
            fields: body.fields,
          }, owned);
          const shaped = Object.fromEntries(
            Object.entries(selection).map(([k, v]) => [k, selectedValue(v)]),
          );
          return { kind: "selectAggregate", found: true, selectionJson: JSON.stringify(shaped) };
        } catch (err) {
          if (isDbxError(err, "not_found")) {
            return { kind: "selectAggregate", found: false, selectionJson: "" };
          }
          throw err;
        }
      case "setAggregateArchive": {
        const ref = { aggregate_type: body.aggregateType, aggregate_id: body.aggregateId };
        const input = body.note === undefined ? { ...ref } : { ...ref, comment: body.note };
        await api.call(
          caller,
          body.archived ? "archiveAggregate" : "restoreAggregate",
          input,
          owned,
        );
        const record = await api.call(caller, "getAggregate", ref, owned);
        return {
          kind: "setAggregateArchive",
          aggregateJson: JSON.stringify(aggregateShape(record)),
        };
      }
      case "runCommand": {
        if (!options.runCommand) {
          throw new DbxError("unavailable", "remote commands are not available on this server");
        }
        const result = await options.runCommand(body.args, caller);
        return { kind: "runCommand", ...result };
      }
      case "notServed":
        throw new DbxError(
          "invalid_input",
          `request union member ${body.tag} (schemas, tenants, snapshots, referrers, outbox) ` +
            "is not served by this server",
          { reason: "unsupported" },
        );
    }
  };

  return async (body, sessionToken) => {
    const given = "token" in body ? body.token.trim() : "";
    const caller = tokenCaller(given !== "" ? given : sessionToken);
    try {
      return await handle(body, caller);
    } catch (err) {
      if (!(err instanceof DbxError)) {
        console.error("error: a socket request failed:", (err as Error)?.stack ?? err);
      }
      return { kind: "error", ...controlError(err) };
    }
  };
}
