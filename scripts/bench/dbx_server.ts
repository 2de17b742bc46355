/**
 * The real `dbx` server for the surface benchmarks (GraphQL, gRPC): a fresh data dir
 * configured through the CLI (`dbx config --dek …`, one token from `dbx token generate`),
 * `[api]` set to the surfaces the benchmark wants on the port, then `dbx start
 * --foreground --host 127.0.0.1 --port 0` as a subprocess, ready once its PID file names
 * the port and `GET /health` answers. The server's CPU time per thread kind can be read
 * from /proc while it runs, to say where a rate limit lies.
 */
import { Buffer } from "node:buffer";
import { randomDek } from "./engine_bench.ts";
import { DENO_CONFIG, here } from "./harness.ts";

const MAIN_TS = here("../../main.ts");

/** Which surfaces the port serves (`[api]` of config.toml). */
export interface Surfaces {
  rest: boolean;
  graphql: boolean;
  grpc: boolean;
}

export interface DbxServerOptions {
  dataDir: string;
  /** `[server] http_workers` (default "auto": on 2 CPUs, HTTP on the engine's thread). */
  httpWorkers?: string;
  /** The surfaces on the port; absent: as `dbx config` wrote them. */
  surfaces?: Surfaces;
  /** Extra `deno run` flags for the server (e.g. `--cpu-prof-dir=…` to profile it). */
  denoFlags?: string[];
}

/** A running server. */
export interface DbxServer {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** `127.0.0.1:<port>`: the gRPC target when gRPC shares the port. */
  target: string;
  port: number;
  /** The control socket's port, when the server listens on one. */
  socketPort?: number;
  pid: number;
  /** A token of group "bench", user "bench", every scope. */
  token: string;
  /** SIGTERM, then wait (SIGKILL after 30 s); rejects when the exit was not clean. */
  stop(): Promise<void>;
}

/** Run one `dbx` CLI command to completion; its stdout. */
export async function dbx(args: string[]): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", DENO_CONFIG, MAIN_TS, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(
      `dbx ${args[0]} failed (exit ${output.code}): ${decoder.decode(output.stderr).trim()}`,
    );
  }
  return decoder.decode(output.stdout);
}

/** Set the `[api]` table's three switches in a config.toml written by `dbx config`. */
async function setSurfaces(configPath: string, surfaces: Surfaces): Promise<void> {
  let toml = await Deno.readTextFile(configPath);
  for (const [name, on] of Object.entries(surfaces)) {
    const line = new RegExp(`^${name} = (true|false)$`, "m");
    if (!line.test(toml)) throw new Error(`${configPath} has no "${name} = …" line in [api]`);
    toml = toml.replace(line, `${name} = ${on}`);
  }
  await Deno.writeTextFile(configPath, toml);
}

/** Keep reading a child's stream so it never blocks; remember the tail for error messages. */
function drain(stream: ReadableStream<Uint8Array>, tail: { text: string }): void {
  stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        tail.text = (tail.text + chunk).slice(-4000);
      },
    }),
  ).catch(() => {});
}

/**
 * Configure `dataDir`, start the server on it and wait until it serves.
 *
 * @example
 * ```ts
 * const server = await startDbxServer({
 *   dataDir: await Deno.makeTempDir(),
 *   surfaces: { rest: true, graphql: false, grpc: true },
 * });
 * await fetch(`${server.baseUrl}/health`).then((r) => r.body?.cancel());
 * await server.stop();
 * ```
 */
export async function startDbxServer(options: DbxServerOptions): Promise<DbxServer> {
  const { dataDir } = options;
  const dek = Buffer.from(randomDek()).toString("base64");
  await dbx([
    "config",
    "--dek",
    dek,
    "--http-workers",
    options.httpWorkers ?? "auto",
    "--data-dir",
    dataDir,
  ]);
  if (options.surfaces) await setSurfaces(`${dataDir}/config.toml`, options.surfaces);
  const token = (await dbx([
    "token",
    "generate",
    "--group",
    "bench",
    "--user",
    "bench",
    "--data-dir",
    dataDir,
  ])).trim();
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) {
    throw new Error("dbx token generate printed no token");
  }
  return { ...await serveDataDir(dataDir, options.denoFlags), token };
}

/** A running server on a data directory someone else configured (no token made for it). */
export type ServedDataDir = Omit<DbxServer, "token">;

/**
 * Start `dbx start --foreground` on an already configured `dataDir` (port picked by the OS)
 * and wait until it serves.
 *
 * @example
 * ```ts
 * const server = await serveDataDir("/tmp/bench-source");
 * console.log(server.socketPort);
 * await server.stop();
 * ```
 */
export async function serveDataDir(
  dataDir: string,
  denoFlags: string[] = [],
): Promise<ServedDataDir> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      DENO_CONFIG,
      ...denoFlags,
      MAIN_TS,
      "start",
      "--foreground",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--data-dir",
      dataDir,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = { text: "" };
  drain(child.stdout, output);
  drain(child.stderr, output);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  // The bench runner's Ctrl-C handler exits without awaiting cleanups: take the server down.
  const onUnload = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  globalThis.addEventListener("unload", onUnload);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      globalThis.removeEventListener("unload", onUnload);
      if (exited) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => exited || child.kill("SIGKILL"), 30_000);
      const { code, signal } = await status;
      clearTimeout(timer);
      if (code !== 0) {
        throw new Error(
          `dbx server exited with ${signal ?? `code ${code}`} on SIGTERM: ${output.text.trim()}`,
        );
      }
    })();
    return stopping;
  };

  try {
    const deadline = Date.now() + 60_000;
    let port = 0;
    let socketPort: number | undefined;
    while (port === 0) {
      if (exited) throw new Error(`dbx start exited early: ${output.text.trim()}`);
      if (Date.now() > deadline) throw new Error(`dbx start did not come up: ${output.text}`);
      try {
        const info = JSON.parse(await Deno.readTextFile(`${dataDir}/dbx.pid`));
        if (info.pid === child.pid && info.port > 0) port = info.port;
        const socket = (info.served as { surface: string; url: string }[] | undefined)
          ?.find((s) => s.surface === "socket");
        if (socket) socketPort = Number(new URL(socket.url).port);
      } catch {
        // Not written yet (it is written once every listener is up).
      }
      if (port === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const baseUrl = `http://127.0.0.1:${port}`;
    const health = await fetch(`${baseUrl}/health`);
    await health.body?.cancel();
    if (!health.ok) throw new Error(`GET /health answered ${health.status}`);
    return { baseUrl, target: `127.0.0.1:${port}`, port, socketPort, pid: child.pid, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

/** CPU time (ms) of a server's threads, by kind. */
export interface ServerCpu {
  /** The main thread: the engine, and HTTP when it is served in-thread. */
  engine: number;
  /** The gRPC worker isolate (when the server was started with gRPC on). */
  grpc: number;
  /** The other worker isolates: the gate, the control socket, HTTP workers. */
  workers: number;
  /** Tokio's I/O threads, RocksDB, V8's helpers. */
  other: number;
}

/** A server's threads: id and name (`comm`, cut to 15 characters by the kernel). */
function threads(pid: number): { tid: number; comm: string }[] {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/task`)].flatMap((entry) => {
      try {
        const comm = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/comm`).trim();
        return [{ tid: Number(entry.name), comm }];
      } catch {
        return []; // A thread that ended meanwhile.
      }
    });
  } catch {
    return [];
  }
}

/**
 * The thread of the gRPC worker of a server that just started with gRPC on (Linux): Deno
 * names worker threads `worker-<n>` in the order they start, and the server starts the gRPC
 * worker after the gate, HTTP workers and the control socket (and the Admin API, which
 * comes later, is off in the benchmarks). Undefined when there is no worker thread.
 *
 * @example
 * ```ts
 * const tid = grpcWorkerThread(Deno.pid);
 * ```
 */
export function grpcWorkerThread(pid: number): number | undefined {
  const workers = threads(pid)
    .map((t) => ({ tid: t.tid, n: Number(/^worker-(\d+)$/.exec(t.comm)?.[1]) }))
    .filter((t) => Number.isInteger(t.n));
  if (workers.length === 0) return undefined;
  return workers.reduce((a, b) => (b.n > a.n ? b : a)).tid;
}

/**
 * A server process's CPU time so far, by thread kind (Linux; zeros elsewhere).
 * `grpcTid` names the gRPC worker's thread (grpcWorkerThread).
 *
 * @example
 * ```ts
 * const before = serverCpuMs(Deno.pid);
 * const after = serverCpuMs(Deno.pid);
 * console.log(after.engine - before.engine);
 * ```
 */
export function serverCpuMs(pid: number, grpcTid?: number): ServerCpu {
  const ticksToMs = 10; // USER_HZ is 100 on Linux
  const cpu: ServerCpu = { engine: 0, grpc: 0, workers: 0, other: 0 };
  for (const { tid, comm } of threads(pid)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ms = (Number(fields[11]) + Number(fields[12])) * ticksToMs;
      if (tid === pid) cpu.engine += ms;
      else if (tid === grpcTid) cpu.grpc += ms;
      else if (/^(worker-|dbx-)/.test(comm)) cpu.workers += ms;
      else cpu.other += ms;
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return cpu;
}

/** `after - before`, per kind. */
export function cpuSince(before: ServerCpu, after: ServerCpu): ServerCpu {
  return {
    engine: after.engine - before.engine,
    grpc: after.grpc - before.grpc,
    workers: after.workers - before.workers,
    other: after.other - before.other,
  };
}
