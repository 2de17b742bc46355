/**
 * Helpers of the load suites (HTTP workers, write queue): configuring a data dir through
 * the CLI, bounded HTTP requests, an overall deadline per test, and the store checks every
 * load test ends with (gap-free positions and versions, acknowledged events stored with
 * the same hash, verify passing for every aggregate).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import type { Engine } from "../../src/engine/engine.ts";
import type { EventRecord } from "../../src/api/operations.ts";
import { randomDek } from "../_helpers/temp.ts";
import { dbx, ok } from "./lifecycle_helpers.ts";

/** How long one HTTP request of a load test may take before it counts as hung. */
export const REQUEST_TIMEOUT_MS = 15_000;

/**
 * Create the configuration of a fresh data dir (new DEK) with extra `dbx config` flags,
 * e.g. `["--http-workers", "2"]`.
 */
export async function configure(dir: string, flags: string[]): Promise<void> {
  const dek = Buffer.from(randomDek()).toString("base64");
  ok(await dbx(["config", "--data-dir", dir, "--dek", dek, ...flags]), "dbx config");
}

/** Run `fn`, failing with a clear message once `ms` passed (cleanup still runs outside). */
export async function withDeadline<T>(ms: number, label: string, fn: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A response read whole. */
export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** Send one request with a bearer token (JSON body when given), bounded in time. */
export async function request(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}

/** What a 201 acknowledged. */
export interface Ack {
  type: string;
  id: string;
  event_id: string;
  version: number;
  position: number;
  hash: string;
}

// deno-lint-ignore no-explicit-any
export function ackOf(record: any): Ack {
  return {
    type: record.aggregate_type,
    id: record.aggregate_id,
    event_id: record.metadata.event_id,
    version: record.version,
    position: record.position,
    hash: record.hash,
  };
}

/** Every committed event of the store, in position order. */
export async function allEvents(engine: Engine): Promise<EventRecord[]> {
  const last = await engine.lastPosition();
  const all = await engine.eventsAfter(0, last + 100);
  assert.equal(all.length, last, "no event beyond the last position, none missing before it");
  return all;
}

/**
 * The checks every load test ends with, on the reopened store: global positions are
 * 1..n without gaps, versions of every aggregate are 1..k without gaps and its head says
 * k, every acknowledged event is stored at its position with the same aggregate, version,
 * event id and hash, and verify passes for every aggregate. Returns the stored events.
 */
export async function checkStore(engine: Engine, acked: Ack[]): Promise<EventRecord[]> {
  const all = await allEvents(engine);
  assert.deepEqual(
    all.map((e) => e.position),
    Array.from({ length: all.length }, (_, i) => i + 1),
    "global positions are gap-free",
  );
  const byPosition = new Map(all.map((e) => [e.position, e]));
  for (const a of acked) {
    const stored = byPosition.get(a.position);
    assert(
      stored,
      `acknowledged position ${a.position} (${a.type}/${a.id} v${a.version}) is stored`,
    );
    assert.equal(stored.metadata.event_id, a.event_id, `event id at position ${a.position}`);
    assert.equal(`${stored.aggregate_type}/${stored.aggregate_id}`, `${a.type}/${a.id}`);
    assert.equal(stored.version, a.version, `version at position ${a.position}`);
    assert.equal(stored.hash, a.hash, `hash at position ${a.position}`);
  }
  const versions = new Map<string, { type: string; id: string; list: number[] }>();
  for (const e of all) {
    const key = `${e.aggregate_type}/${e.aggregate_id}`;
    const entry = versions.get(key) ?? { type: e.aggregate_type, id: e.aggregate_id, list: [] };
    entry.list.push(e.version);
    versions.set(key, entry);
  }
  for (const [key, { type, id, list }] of versions) {
    assert.deepEqual(list, list.map((_, i) => i + 1), `versions of ${key} are gap-free`);
    assert.equal((await engine.getAggregate(type, id)).version, list.length, `head of ${key}`);
    const result = await engine.verify(type, id);
    assert.equal(result.verified, true, `verify ${key}: ${JSON.stringify(result)}`);
  }
  return all;
}

/** Wait (bounded) until `<dir>/dbx.log` matches `pattern`; returns the log. */
export async function waitForLog(dir: string, pattern: RegExp, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let log = "";
  while (Date.now() < deadline) {
    log = await Deno.readTextFile(join(dir, "dbx.log")).catch(() => "");
    if (pattern.test(log)) return log;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`dbx.log never matched ${pattern} within ${timeoutMs} ms:\n${log}`);
}
