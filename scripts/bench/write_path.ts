/**
 * What the write path did during one measured run, from two readings of the engine's write
 * counters (in-process `engine.writeStats()`, or a server's `GET /v1/stats/writes`) and of
 * the engine thread's CPU time: events per synced write, WAL bytes per event, time per
 * synced write and the engine thread's busy share. Every write-path target reports it.
 */
import type { WriteStats } from "../../src/engine/types.ts";

/** The write path over one or more runs. */
export interface WritePath {
  writes: number;
  rounds: number;
  events: number;
  wal_bytes: number;
  write_ms: number;
  /** Wall time of the runs, and the engine thread's CPU time during them (ms). */
  elapsed_ms: number;
  engine_cpu_ms: number;
}

/** The write path between two readings. */
export function writePathBetween(
  before: WriteStats,
  after: WriteStats,
  elapsedMs: number,
  engineCpuMs: number,
): WritePath {
  return {
    writes: after.writes - before.writes,
    rounds: after.rounds - before.rounds,
    events: after.events - before.events,
    wal_bytes: after.wal_bytes - before.wal_bytes,
    write_ms: after.write_ms - before.write_ms,
    elapsed_ms: elapsedMs,
    engine_cpu_ms: engineCpuMs,
  };
}

/** Several runs taken together. */
export function sumWritePaths(paths: readonly WritePath[]): WritePath {
  const total: WritePath = {
    writes: 0,
    rounds: 0,
    events: 0,
    wal_bytes: 0,
    write_ms: 0,
    elapsed_ms: 0,
    engine_cpu_ms: 0,
  };
  for (const p of paths) {
    for (const key of Object.keys(total) as (keyof WritePath)[]) total[key] += p[key];
  }
  return total;
}

/** The four figures, derived. */
export function writePathFigures(p: WritePath) {
  return {
    events_per_write: p.writes > 0 ? p.events / p.writes : NaN,
    rounds_per_write: p.writes > 0 ? p.rounds / p.writes : NaN,
    wal_bytes_per_event: p.events > 0 ? p.wal_bytes / p.events : NaN,
    ms_per_write: p.writes > 0 ? p.write_ms / p.writes : NaN,
    engine_busy: p.elapsed_ms > 0 ? p.engine_cpu_ms / p.elapsed_ms : NaN,
  };
}

/** e.g. "14.7 ev/write, 1.3 kB WAL/ev, 1.06 ms/write, engine 97% busy". */
export function fmtWritePath(p: WritePath): string {
  const f = writePathFigures(p);
  const busy = Number.isFinite(f.engine_busy)
    ? `, engine ${(f.engine_busy * 100).toFixed(0)}% busy`
    : "";
  return `${f.events_per_write.toFixed(1)} ev/write, ${
    (f.wal_bytes_per_event / 1000).toFixed(2)
  } kB WAL/ev, ${f.ms_per_write.toFixed(2)} ms/write${busy}`;
}

/** A server's write counters (the token needs aggregate.read on every aggregate). */
export async function serverWriteStats(baseUrl: string, token: string): Promise<WriteStats> {
  const response = await fetch(`${baseUrl}/v1/stats/writes`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  if (response.status !== 200) {
    throw new Error(`GET /v1/stats/writes answered ${response.status}: ${text.slice(0, 200)}`);
  }
  return JSON.parse(text) as WriteStats;
}
