/**
 * A throwaway PostgreSQL 15 server for the server benchmarks: the Debian package's
 * binaries, a fresh cluster in a temp dir, listening only on 127.0.0.1 (a free port) with
 * its Unix socket inside that temp dir, and the durability settings stated explicitly
 * (`fsync=on`, `synchronous_commit=on`: PostgreSQL's defaults, so a commit returns only
 * once its WAL is flushed to disk). `stop()` shuts it down and removes the directory; an
 * exit of this process (Ctrl-C) stops it too, so no server outlives the benchmark.
 *
 * initdb and the server refuse to run as root, so when this process is root they run as
 * the `postgres` OS user (created by the package) on a temp dir chowned to that user.
 */

/** Where the Debian package puts the PostgreSQL 15 binaries. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Server settings passed on the command line (and reported with the results). */
export const PG_SETTINGS: Readonly<Record<string, string>> = {
  fsync: "on",
  synchronous_commit: "on",
  full_page_writes: "on",
  max_connections: "200",
};

/** Concurrent clients of the 64-client write benchmarks. */
export const WORKERS = 64;
/** The aggregate type and event type of every benchmark append (REST and PostgreSQL). */
export const AGGREGATE_TYPE = "bench";
export const EVENT_TYPE = "updated";

/** The PostgreSQL side's event table: one row per event, unique (type, id, version). */
export const CREATE_TABLE = `CREATE TABLE events (
  aggregate_type text NOT NULL,
  aggregate_id text NOT NULL,
  version bigint NOT NULL,
  event_type text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (aggregate_type, aggregate_id, version)
)`;

export const INSERT_EVENT =
  "INSERT INTO events(aggregate_type, aggregate_id, version, event_type, " +
  "payload, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, now())";

/** A running throwaway server. */
export interface PostgresServer {
  host: string;
  port: number;
  user: string;
  database: string;
  /** e.g. "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)". */
  version: string;
  /** The settings it was started with. */
  settings: Readonly<Record<string, string>>;
  /** Temp dir holding the cluster, the socket and the log. */
  dir: string;
  /** Fast shutdown, then remove the directory. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Progress lines (installing, starting). */
  log?: (message: string) => void;
  /** Install `postgresql-15` with apt-get when the binaries are missing (default true). */
  install?: boolean;
}

/**
 * Start a fresh PostgreSQL 15 server on loopback. Throws (having cleaned up) when it
 * cannot: binaries missing and not installable, initdb or start failing.
 *
 * @example
 * ```ts
 * const pg = await startPostgres({ log: console.log });
 * try {
 *   console.log(`postgres://${pg.user}@${pg.host}:${pg.port}/${pg.database}`);
 * } finally {
 *   await pg.stop();
 * }
 * ```
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const log = options.log ?? (() => {});
  await ensureInstalled(options.install ?? true, log);
  const version = (await run([`${PG_BIN}/postgres`, "--version"])).trim();

  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "dbx-bench-pg-" });
  const data = `${dir}/data`;
  const asRoot = Deno.uid() === 0;
  let started = false;
  const stopSync = () => {
    if (started) {
      try {
        const [program, ...args] = asPostgres(asRoot, [
          `${PG_BIN}/pg_ctl`,
          "stop",
          "-D",
          data,
          "-m",
          "immediate",
          "-w",
        ]);
        new Deno.Command(program, { args, stdout: "null", stderr: "null" }).outputSync();
      } catch {
        // Best effort while exiting.
      }
    }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  };
  // Runs on Deno.exit (the bench runner's Ctrl-C handler exits without awaiting cleanups).
  const onUnload = () => stopSync();
  globalThis.addEventListener("unload", onUnload);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      globalThis.removeEventListener("unload", onUnload);
      try {
        if (started) {
          await run(
            asPostgres(asRoot, [`${PG_BIN}/pg_ctl`, "stop", "-D", data, "-m", "fast", "-w"]),
          );
        }
      } finally {
        started = false;
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    })();
    return stopping;
  };

  try {
    if (asRoot) {
      const uid = Number((await run(["id", "-u", "postgres"])).trim());
      const gid = Number((await run(["id", "-g", "postgres"])).trim());
      await Deno.chown(dir, uid, gid);
    }
    // --no-sync only skips initdb's final flush of the empty cluster; the server itself
    // runs with fsync=on.
    await run(asPostgres(asRoot, [
      `${PG_BIN}/initdb`,
      "-D",
      data,
      "--auth=trust",
      "--username=postgres",
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
      "--no-instructions",
    ]));
    const port = await freePort();
    const settings: Record<string, string> = {
      ...PG_SETTINGS,
      listen_addresses: "127.0.0.1",
      port: String(port),
      unix_socket_directories: dir,
    };
    const serverArgs = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(" ");
    log(`starting ${version} on 127.0.0.1:${port}`);
    started = true;
    await run(asPostgres(asRoot, [
      `${PG_BIN}/pg_ctl`,
      "start",
      "-D",
      data,
      "-w",
      "-t",
      "60",
      "-l",
      `${dir}/postgres.log`,
      "-o",
      serverArgs,
    ])).catch(async (err) => {
      const serverLog = await Deno.readTextFile(`${dir}/postgres.log`).catch(() => "");
      throw new Error(`${(err as Error).message}\n${serverLog.slice(-2000)}`);
    });
    return {
      host: "127.0.0.1",
      port,
      user: "postgres",
      database: "postgres",
      version,
      settings: PG_SETTINGS,
      dir,
      stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function ensureInstalled(install: boolean, log: (message: string) => void): Promise<void> {
  if (await exists(`${PG_BIN}/postgres`)) return;
  if (!install) throw new Error(`${PG_BIN}/postgres is missing`);
  log("PostgreSQL 15 is not installed: apt-get install -y postgresql-15");
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run(["apt-get", "update"], env);
  await run(["apt-get", "install", "-y", "postgresql-15"], env);
  if (!(await exists(`${PG_BIN}/postgres`))) {
    throw new Error(`apt-get installed postgresql-15 but ${PG_BIN}/postgres is still missing`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** `runuser -u postgres -- cmd…` when root (PostgreSQL refuses root), else the command. */
function asPostgres(asRoot: boolean, cmd: string[]): string[] {
  return asRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
}

/** Run a command to completion; its stdout, or an error naming it with its stderr. */
export async function run(cmd: string[], env?: Record<string, string>): Promise<string> {
  const [program, ...args] = cmd;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(program, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    throw new Error(`cannot run ${program}: ${(err as Error).message}`);
  }
  const decoder = new TextDecoder();
  if (!output.success) {
    const stderr = decoder.decode(output.stderr).trim().split("\n").slice(-5).join(" | ");
    throw new Error(`${[program, ...args].join(" ")} failed (exit ${output.code}): ${stderr}`);
  }
  return decoder.decode(output.stdout);
}

/** A port that was free a moment ago (the OS picks it; the listener is closed at once). */
async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  await Promise.resolve();
  return port;
}
