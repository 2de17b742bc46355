/**
 * The PID file `<data-dir>/dbx.pid`: which process serves a data directory, and where.
 *
 * It is written (atomically, mode 0600) only once the listener is up, so a PID file that
 * names a live process means "a server answers here". A file naming a dead process is
 * stale (the server crashed or was killed) and is removed with a notice. The RocksDB lock
 * is the real guard against two servers; this file is how the CLI finds the one that runs.
 */
import { kill } from "node:process";
import { join } from "node:path";
import { writeFileAtomic } from "../config/mod.ts";
import type { RestrictMode } from "../config/types.ts";

/** Name of the PID file inside the data directory. */
export const PID_FILE_NAME = "dbx.pid";
/** Name of the daemon's log file inside the data directory. */
export const LOG_FILE_NAME = "dbx.log";
/** Mode of the PID file. */
export const PID_FILE_MODE = 0o600;

/** What a running server records about itself. */
export interface PidInfo {
  pid: number;
  /** The address the listener is bound to (may be a wildcard such as 0.0.0.0). */
  host: string;
  /** The actual port (after `--port 0`, the one the OS picked). */
  port: number;
  /** RFC 3339. */
  started_at: string;
  restrict: RestrictMode;
  /** Surfaces being served, e.g. ["rest"]. */
  api: string[];
  /** HTTP worker isolates (0: HTTP on the engine thread); absent in files of older servers. */
  http_workers?: number;
  /** Every surface served and where; absent in files of older servers. */
  served?: { surface: string; url: string }[];
}

/** What the PID file says about a data directory. */
export type PidState =
  | { state: "none" }
  | { state: "running"; info: PidInfo }
  | { state: "stale"; info?: PidInfo; reason: string };

/**
 * Path of the PID file of a data directory.
 *
 * @example
 * ```ts
 * pidFilePath("/tmp/db"); // "/tmp/db/dbx.pid"
 * ```
 */
export function pidFilePath(dataDir: string): string {
  return join(dataDir, PID_FILE_NAME);
}

/**
 * Path of the daemon log of a data directory.
 *
 * @example
 * ```ts
 * logFilePath("/tmp/db"); // "/tmp/db/dbx.log"
 * ```
 */
export function logFilePath(dataDir: string): string {
  return join(dataDir, LOG_FILE_NAME);
}

/**
 * Record the running server, atomically and durably, mode 0600.
 *
 * @example
 * ```ts
 * await writePidFile("/tmp/db", { pid: Deno.pid, host: "127.0.0.1", port: 7070,
 *   started_at: new Date().toISOString(), restrict: "default", api: ["rest"] });
 * ```
 */
export async function writePidFile(dataDir: string, info: PidInfo): Promise<void> {
  const text = JSON.stringify(info, null, 2) + "\n";
  await writeFileAtomic(pidFilePath(dataDir), new TextEncoder().encode(text), PID_FILE_MODE);
}

/**
 * Read and check the PID file; undefined when there is none, `null` when it is unreadable
 * garbage (treated as stale by {@link inspectPidFile}).
 *
 * @example
 * ```ts
 * const info = await readPidFile("/tmp/db");
 * ```
 */
export async function readPidFile(dataDir: string): Promise<PidInfo | null | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(pidFilePath(dataDir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  try {
    const raw = JSON.parse(text);
    const ok = typeof raw === "object" && raw !== null &&
      Number.isSafeInteger(raw.pid) && raw.pid > 0 &&
      typeof raw.host === "string" && raw.host !== "" &&
      Number.isInteger(raw.port) && raw.port > 0 && raw.port <= 65_535 &&
      typeof raw.started_at === "string" &&
      ["off", "default", "strict"].includes(raw.restrict) &&
      Array.isArray(raw.api) && raw.api.every((a: unknown) => typeof a === "string") &&
      (raw.http_workers === undefined ||
        (Number.isSafeInteger(raw.http_workers) && raw.http_workers >= 0));
    return ok ? raw as PidInfo : null;
  } catch {
    return null;
  }
}

/**
 * Remove the PID file. With `pid`, only when the file still names that process (a
 * server never removes the file of a newer one).
 *
 * @example
 * ```ts
 * await removePidFile("/tmp/db", Deno.pid);
 * ```
 */
export async function removePidFile(dataDir: string, pid?: number): Promise<void> {
  if (pid !== undefined) {
    const current = await readPidFile(dataDir).catch(() => undefined);
    if (current && current.pid !== pid) return;
  }
  await Deno.remove(pidFilePath(dataDir)).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}

/**
 * Is a process with this id alive? Signal 0 checks without sending anything: ESRCH means
 * no such process; EPERM means it exists but belongs to someone else (alive).
 *
 * @example
 * ```ts
 * isProcessAlive(Deno.pid); // true
 * ```
 */
export function isProcessAlive(pid: number): boolean {
  try {
    kill(pid, 0);
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
  return !isZombie(pid);
}

/**
 * An exited process nobody has reaped yet still answers signal 0. Where /proc exists
 * (Linux), its state tells: "Z" is a zombie, i.e. dead. A killed multi-threaded process
 * shows its main thread as a zombie while its other threads are still exiting (and still
 * hold its files, such as the store's lock): it is dead only once no other thread is left.
 */
function isZombie(pid: number): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The state follows the command name, which is in parentheses and may contain spaces.
    if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z") return false;
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      if (Number(task.name) !== pid) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Does this live process look like a dbx server? Guards against a stale PID file whose
 * pid was reused by an unrelated process (common after a reboot). Only Linux exposes the
 * command line cheaply; elsewhere any live process counts.
 */
function looksLikeServer(pid: number): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    const args = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    return args.includes("start") || args.includes("restart");
  } catch {
    return true; // no /proc access: trust the liveness check
  }
}

/**
 * What the PID file of a data directory says: no server, a running one, or a stale file.
 *
 * @example
 * ```ts
 * const found = await inspectPidFile("/tmp/db");
 * if (found.state === "running") console.log(found.info.port);
 * ```
 */
export async function inspectPidFile(dataDir: string): Promise<PidState> {
  const info = await readPidFile(dataDir);
  if (info === undefined) return { state: "none" };
  if (info === null) return { state: "stale", reason: "the PID file is malformed" };
  if (!isProcessAlive(info.pid)) {
    return { state: "stale", info, reason: `process ${info.pid} is not running` };
  }
  if (!looksLikeServer(info.pid)) {
    return { state: "stale", info, reason: `process ${info.pid} is not a dbx server` };
  }
  return { state: "running", info };
}

/**
 * Like {@link inspectPidFile}, but a stale file is removed with a notice on stderr.
 *
 * @example
 * ```ts
 * const server = await runningServerPid("/tmp/db"); // PidInfo | undefined
 * ```
 */
export async function runningServerPid(dataDir: string): Promise<PidInfo | undefined> {
  const found = await inspectPidFile(dataDir);
  if (found.state === "running") return found.info;
  if (found.state === "stale") {
    await removePidFile(dataDir, found.info?.pid);
    console.error(`removed stale PID file ${pidFilePath(dataDir)} (${found.reason})`);
  }
  return undefined;
}

/**
 * The address a client on this machine uses to reach a listener bound to `host`:
 * wildcards become loopback, IPv6 literals get brackets.
 *
 * @example
 * ```ts
 * connectHost("0.0.0.0"); // "127.0.0.1"
 * connectHost("::1"); // "[::1]"
 * ```
 */
export function connectHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  if (host.includes(":") && !host.startsWith("[")) return `[${host}]`;
  return host;
}

/**
 * Base URL of a running server, for clients on this machine.
 *
 * @example
 * ```ts
 * serverUrl({ host: "0.0.0.0", port: 7070 }); // "http://127.0.0.1:7070"
 * ```
 */
export function serverUrl(info: { host: string; port: number }): string {
  return `http://${connectHost(info.host)}:${info.port}`;
}
