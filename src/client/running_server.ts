/**
 * Is a server running on a data directory, and where? A live PID file alone is not
 * enough (the pid may have been reused); the server must also answer `GET /health`.
 */
import { answersHealth } from "../server/daemon.ts";
import { type PidInfo, runningServerPid, serverUrl } from "../server/pid_file.ts";

/** A server found running on a data directory. */
export interface RunningServerRef {
  info: PidInfo;
  /** Base URL for clients on this machine, e.g. "http://127.0.0.1:7070". */
  url: string;
}

/**
 * The server serving `dataDir`, or undefined when none answers. A stale PID file (dead
 * process) is removed with a notice on stderr.
 *
 * @example
 * ```ts
 * const server = await findRunningServer("/tmp/db");
 * if (server) console.log(`proxying through ${server.url}`);
 * ```
 */
export async function findRunningServer(dataDir: string): Promise<RunningServerRef | undefined> {
  const info = await runningServerPid(dataDir);
  if (!info) return undefined;
  const url = serverUrl(info);
  return await answersHealth(url) ? { info, url } : undefined;
}
