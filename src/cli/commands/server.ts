/**
 * `dbx start|stop|status|restart|destroy`: the server's lifecycle.
 *
 * `start` runs the server in the foreground (`--foreground`) or as a daemon that logs to
 * `<data-dir>/dbx.log`; either way the PID file `<data-dir>/dbx.pid` says where it runs.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  type Config,
  ensurePrivateDir,
  homeDir,
  parseRestrict,
  resolveLocation,
  type RestrictMode,
  saveConfig,
} from "../../config/mod.ts";
import { DbxError } from "../../errors.ts";
import { answersHealth, spawnDaemon } from "../../server/daemon.ts";
import {
  isProcessAlive,
  logFilePath,
  type PidInfo,
  removePidFile,
  runningServerPid,
  serverUrl,
} from "../../server/pid_file.ts";
import { storeInUse } from "../../api/node.ts";
import { type CommonOptions, printJson, withCommonOptions, withJsonOption } from "../common.ts";
import { CliExit } from "../exit.ts";
import { loadLocalConfig } from "../backend.ts";

/** Address the listener binds unless `--host` or `host` in config.toml say otherwise. */
export const DEFAULT_HOST = "127.0.0.1";
/** How long `stop` waits for the server to finish in-flight work and exit. */
export const STOP_TIMEOUT_MS = 30_000;

/** API surfaces of `--api`. */
const API_CHOICES = ["rest", "graphql", "grpc", "all"] as const;
/** Surfaces this version serves. */
const AVAILABLE_SURFACES = new Set(["rest", "graphql", "grpc"]);
const SURFACE_NAMES: Record<string, string> = { rest: "REST", graphql: "GraphQL", grpc: "gRPC" };

interface StartOptions extends CommonOptions {
  port?: number;
  host?: string;
  foreground?: boolean;
  restrict?: string | true;
  api?: (typeof API_CHOICES)[number];
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65_535) {
    throw new InvalidArgumentError("must be a port from 0 to 65535 (0 = any free port)");
  }
  return Number(value);
}

function parseHost(value: string): string {
  // deno-lint-ignore no-control-regex
  if (value.trim() === "" || /[\s\x00-\x1f\x7f/]/.test(value) || value.length > 253) {
    throw new InvalidArgumentError("must be a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0");
  }
  return value;
}

function parseRestrictFlag(value: string): string {
  try {
    parseRestrict(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

/**
 * Which surfaces to serve for `--api` (or the `[api]` table when the flag is absent).
 * Asking only for surfaces that do not exist yet is an error; asking for them together
 * with REST serves REST and explains the rest in `notice`.
 */
export function resolveApi(
  flag: StartOptions["api"],
  config: Config,
): { serve: string[]; notice?: string } {
  const requested = flag === undefined
    ? (["rest", "graphql", "grpc"] as const).filter((s) => config.api[s])
    : flag === "all"
    ? ["rest", "graphql", "grpc"]
    : [flag];
  if (requested.length === 0) {
    throw new DbxError(
      "invalid_input",
      "no API surface is enabled: set rest = true in the [api] table of config.toml " +
        "or pass --api rest",
    );
  }
  const serve = requested.filter((s) => AVAILABLE_SURFACES.has(s));
  const missing = requested.filter((s) => !AVAILABLE_SURFACES.has(s)).map((s) => SURFACE_NAMES[s]);
  const missingText = missing.join(" and ");
  if (serve.length === 0) {
    throw new DbxError(
      "invalid_input",
      `the ${missingText} API is not available yet in this version of dbx; ` +
        "use --api rest (or --api all)",
    );
  }
  if (missing.length === 0) return { serve };
  return {
    serve,
    notice: `note: ${missingText} ${
      missing.length === 1 ? "is" : "are"
    } not available yet in this version; serving ${
      serve.map((s) => SURFACE_NAMES[s]).join(" and ")
    } only`,
  };
}

/** The data directory (and config file) a command names. */
function location(o: CommonOptions): { dataDir: string; configPath: string } {
  return resolveLocation({ configPath: o.config, dataDir: o.dataDir });
}

async function start(o: StartOptions): Promise<void> {
  const loaded = await loadLocalConfig(o, true);
  const { config, dataDir, configPath } = loaded;
  if (o.restrict !== undefined) {
    const mode: RestrictMode = o.restrict === true ? "default" : parseRestrict(o.restrict);
    if (mode !== config.restrict) {
      config.restrict = mode;
      await saveConfig(configPath, config);
    }
  }
  const { serve, notice } = resolveApi(o.api, config);
  const host = o.host ?? config.host ?? DEFAULT_HOST;
  const port = o.port ?? config.port;

  const running = await runningServerPid(dataDir);
  if (running) {
    throw new DbxError(
      "conflict",
      `dbx is already running (pid ${running.pid}, port ${running.port})`,
    );
  }
  if (notice) console.error(notice);
  await ensurePrivateDir(dataDir);

  if (o.foreground) {
    // Loaded on demand: the HTTP app is not needed by any other command.
    const { runForeground } = await import("../../server/serve.ts");
    await runForeground({
      dataDir,
      config,
      configPath,
      hostname: host,
      port,
      api: serve,
      // `dbx --remote` commands run in this CLI's runner worker, with the caller's token.
      remoteCommands: new URL("../remote_runner.ts", import.meta.url).href,
    });
    return;
  }
  const args = ["--data-dir", dataDir, "--port", String(port), "--host", host];
  if (o.config !== undefined) args.push("--config", configPath);
  if (o.api !== undefined) args.push("--api", o.api);
  const daemon = await spawnDaemon({ dataDir, args });
  console.log(
    `dbx started: pid ${daemon.pid}, ${serverUrl(daemon.info)}, log ${daemon.logPath}`,
  );
}

/** Send SIGTERM and wait for the process to exit; false when it outlived the timeout. */
async function terminate(info: PidInfo, timeoutMs: number): Promise<boolean> {
  try {
    // On Windows this ends the process at once; acknowledged writes are durable anyway.
    Deno.kill(info.pid, "SIGTERM");
  } catch (err) {
    if (isProcessAlive(info.pid)) throw err; // else it exited meanwhile
  }
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(info.pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Stop the server of `dataDir`; throws when none runs or it does not stop in time. */
async function stopServer(dataDir: string): Promise<PidInfo> {
  const info = await runningServerPid(dataDir);
  if (!info) throw new DbxError("not_found", `dbx is not running (data dir ${dataDir})`);
  if (!(await terminate(info, STOP_TIMEOUT_MS))) {
    throw new DbxError(
      "unavailable",
      `dbx (pid ${info.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s; it may still be ` +
        `finishing writes: see ${logFilePath(dataDir)}, then run dbx stop again`,
    );
  }
  // A clean shutdown removed it already; after a crash during shutdown it is stale.
  await removePidFile(dataDir, info.pid);
  return info;
}

async function stop(o: CommonOptions): Promise<void> {
  const info = await stopServer(location(o).dataDir);
  console.log(`dbx stopped (pid ${info.pid})`);
}

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [d ? `${d}d` : "", d || h ? `${h}h` : "", d || h || m ? `${m}m` : "", `${s}s`]
    .filter((p) => p !== "").join(" ");
}

const RESTRICT_MEANING: Record<RestrictMode, string> = {
  off: "no schema validation",
  default: "validate events when a schema exists",
  strict: "every aggregate needs a schema",
};

async function status(o: CommonOptions & { json?: boolean }): Promise<void> {
  const { dataDir } = location(o);
  const info = await runningServerPid(dataDir);
  if (!info) {
    if (o.json) printJson({ running: false, data_dir: dataDir });
    throw new CliExit(1, o.json ? "" : `dbx is not running (data dir ${dataDir})`);
  }
  const url = serverUrl(info);
  const responding = await answersHealth(url);
  const started = Date.parse(info.started_at);
  const uptime = Number.isNaN(started) ? 0 : Math.max(0, Math.floor((Date.now() - started) / 1000));
  if (o.json) {
    printJson({
      running: true,
      responding,
      pid: info.pid,
      host: info.host,
      port: info.port,
      url,
      started_at: info.started_at,
      uptime_seconds: uptime,
      restrict: info.restrict,
      api: info.api,
      http_workers: info.http_workers ?? 0,
      served: info.served ?? [],
      data_dir: dataDir,
      log: logFilePath(dataDir),
    });
    return;
  }
  const rows: [string, string][] = [
    ["pid", String(info.pid)],
    ["port", String(info.port)],
    ["address", url + (info.host === "127.0.0.1" ? "" : ` (bound to ${info.host})`)],
    ["uptime", `${formatUptime(uptime)} (since ${info.started_at})`],
    ["restrict", `${info.restrict} (${RESTRICT_MEANING[info.restrict]})`],
    ["api", info.api.join(", ")],
    ...(info.served ?? []).map(({ surface, url }): [string, string] => [`  ${surface}`, url]),
    [
      "http",
      info.http_workers ? `${info.http_workers} worker isolates` : "on the engine thread",
    ],
    ["responding", responding ? "yes" : "no (GET /health did not answer)"],
    ["data dir", dataDir],
    ["log", logFilePath(dataDir)],
  ];
  console.log("dbx is running");
  for (const [key, value] of rows) console.log(`${`${key}:`.padEnd(12)}${value}`);
}

async function restart(o: StartOptions): Promise<void> {
  const { dataDir } = location(o);
  if (await runningServerPid(dataDir)) {
    const info = await stopServer(dataDir);
    console.log(`dbx stopped (pid ${info.pid})`);
  }
  await start(o);
}

/** Entries that mark a directory as an EventDBX data directory. */
const DATA_DIR_MARKERS = ["config.toml", "store", "dbx.pid", "node.key", "tokens.json"];

/** Refuse when another process holds the store (a server without a PID file). */
async function assertStoreUnlocked(dataDir: string): Promise<void> {
  if (await storeInUse(dataDir)) {
    throw new DbxError(
      "conflict",
      `the store in ${dataDir} is in use by another process; stop it before destroying`,
    );
  }
}

async function destroy(o: CommonOptions & { yes?: boolean }): Promise<void> {
  const { dataDir, configPath } = location(o);
  const running = await runningServerPid(dataDir);
  if (running) {
    throw new DbxError(
      "conflict",
      `dbx is running (pid ${running.pid}, port ${running.port}); stop it first with dbx stop`,
    );
  }
  const dirExists = existsSync(dataDir);
  const configExists = existsSync(configPath);
  if (!dirExists && !configExists) {
    console.log(`nothing to destroy: ${dataDir} does not exist`);
    return;
  }
  const resolved = resolve(dataDir);
  if (dirExists) {
    if (resolved === resolve("/") || resolved === resolve(homeDir())) {
      throw new DbxError("invalid_input", `refusing to destroy ${resolved}`);
    }
    if (!DATA_DIR_MARKERS.some((name) => existsSync(join(dataDir, name)))) {
      throw new DbxError(
        "invalid_input",
        `refusing to destroy ${dataDir}: it does not look like an EventDBX data directory ` +
          `(none of ${DATA_DIR_MARKERS.join(", ")})`,
      );
    }
    await assertStoreUnlocked(dataDir);
  }
  const outsideConfig = configExists && resolve(dirname(configPath)) !== resolved;
  if (!o.yes) {
    if (!Deno.stdin.isTerminal()) {
      throw new DbxError(
        "invalid_input",
        `refusing to destroy ${dataDir} without confirmation: pass --yes`,
      );
    }
    console.log(
      `This permanently deletes ${dataDir} (every event, schema and token)` +
        (outsideConfig ? ` and ${configPath}` : "") + ".",
    );
    const answer = prompt("Type the data directory path to confirm:");
    if (answer === null || resolve(answer.trim() || ".") !== resolved) {
      throw new CliExit(1, "not confirmed; nothing was deleted");
    }
  }
  await removePidFile(dataDir);
  if (dirExists) await Deno.remove(dataDir, { recursive: true });
  if (outsideConfig) await Deno.remove(configPath).catch(() => {});
  console.log(`destroyed ${dataDir}` + (outsideConfig ? ` and ${configPath}` : ""));
}

/** Adds the options of `start` (shared by `restart`). */
function withStartOptions(cmd: Command): Command {
  return withCommonOptions(cmd)
    .option(
      "--port <u16>",
      "HTTP port for this run (default: port in config.toml, 7070)",
      parsePort,
    )
    .option(
      "--host <addr>",
      `address to listen on (default: host in config.toml, else ${DEFAULT_HOST}; ` +
        "0.0.0.0 exposes it to the network)",
      parseHost,
    )
    .option("--foreground", "run in this terminal instead of as a daemon")
    .option(
      "--restrict [mode]",
      "schema enforcement: off, default or strict (also true/false); " +
        "bare --restrict means default; saved in config.toml",
      parseRestrictFlag,
    )
    .addOption(
      new Option("--api <surface>", "API surfaces to serve (default: the [api] table)")
        .choices([...API_CHOICES]),
    );
}

/**
 * Register `dbx start|stop|status|restart|destroy`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * const program = new Command("dbx");
 * registerServer(program);
 * await program.parseAsync(["status", "--json"], { from: "user" });
 * ```
 */
export function registerServer(program: Command): void {
  withStartOptions(
    program.command("start").description(
      "start the server (a daemon logging to <data-dir>/dbx.log unless --foreground)",
    ),
  ).action(start);

  withCommonOptions(program.command("stop").description("stop the running server gracefully"))
    .action(stop);

  withJsonOption(
    withCommonOptions(
      program.command("status").description(
        "show the running server's port, PID, uptime, restriction and APIs (exit 1 if none)",
      ),
    ),
  ).action(status);

  withStartOptions(
    program.command("restart").description(
      "stop the running server (if any) and start it again with the given options",
    ),
  ).action(restart);

  withCommonOptions(
    program.command("destroy").description(
      "delete the data directory, PID file and configuration (asks unless --yes)",
    ),
  )
    .option("--yes", "do not ask for confirmation")
    .action(destroy);
}
