/**
 * Shared setup of the gRPC suites: a real server (`startServer`: the engine, the public
 * port's gate in its worker, REST, and the gRPC server in its worker) on a temp data dir and
 * an OS-picked loopback port, tokens issued through the API, and the real external client:
 * a separate Node process running tests/grpc/_client.cjs with @grpc/grpc-js. Everything is
 * stopped and removed after each test, whatever happens.
 */
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import type { Api } from "../../src/api/api.ts";
import type { Caller } from "../../src/api/caller.ts";
import type { OperationInput, OperationName, OperationResult } from "../../src/api/operations.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import type { Config } from "../../src/config/types.ts";
import { type RunningServer, startServer } from "../../src/server/serve.ts";
import { outputWithin, serverWorkWithin, shutdownWithin } from "../_helpers/deadline.ts";
import { randomDek } from "../_helpers/temp.ts";

export { assert, assertEquals } from "../_helpers/assert.ts";

/** Daemons, workers and subprocesses outlive a test step by design: sanitizers off. */
export const GRPC_TEST_OPTS = { sanitizeResources: false, sanitizeOps: false };

/** The client script (run by `node`). */
export const CLIENT = fileURLToPath(new URL("./_client.cjs", import.meta.url));
/** The `buf` binary of the npm package @bufbuild/buf. */
export const BUF = fileURLToPath(
  new URL(
    "../../node_modules/.deno/@bufbuild+buf-linux-x64@1.75.0/node_modules/@bufbuild/buf-linux-x64/bin/buf",
    import.meta.url,
  ),
);

/** gRPC status codes the suites check. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The answer to one unary step. */
export interface CallResult {
  ok: boolean;
  // deno-lint-ignore no-explicit-any
  response?: any;
  code?: number;
  details?: string;
  dbx_code?: string;
}

/** The answer to a subscribe step. */
export interface SubscribeResult {
  // deno-lint-ignore no-explicit-any
  events: any[];
  then?: CallResult[];
  status?: { code: number; details: string; dbx_code?: string };
}

/** How long one client process may run before it counts as hung. */
export const CLIENT_DEADLINE_MS = 60_000;

/**
 * Run the Node client with `steps` against `target`; returns one result per step.
 *
 * @example
 * ```ts
 * const [health] = await runClient("127.0.0.1:7070", [{ call: "Health" }]);
 * ```
 */
// deno-lint-ignore no-explicit-any
export async function runClient(target: string, steps: unknown[]): Promise<any[]> {
  const { code, stdout, stderr } = await spawnClient(target, steps);
  if (code !== 0) throw new Error(`the gRPC client failed (exit ${code}): ${stderr}`);
  return JSON.parse(stdout);
}

/** Run the client and return its exit status and output as they are (for kill -9 runs). */
export async function spawnClient(
  target: string,
  steps: unknown[],
): Promise<{ code: number; signal: Deno.Signal | null; stdout: string; stderr: string }> {
  const child = new Deno.Command("node", {
    args: [CLIENT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NODE_NO_WARNINGS: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify({ target, steps })));
  await writer.close();
  const out = await outputWithin(child, CLIENT_DEADLINE_MS, "the gRPC client");
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return {
    code: out.code,
    signal: out.signal,
    stdout: decode(out.stdout),
    stderr: decode(out.stderr),
  };
}

/** A running server and what the tests need of it. */
export interface GrpcServer {
  /** `127.0.0.1:<port>`: gRPC and HTTP share it. */
  target: string;
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  dir: string;
  server: RunningServer;
  api: Api;
  /** A token that may do everything (group "admin", user "root"). */
  admin: string;
  /** Issue a token (defaults: group "test", user "tester", every scope). */
  token(options?: Partial<OperationInput<"generateToken">>): Promise<string>;
  /** Run an operation as the node's local owner (setup and checks). */
  local<N extends OperationName>(name: N, input: OperationInput<N>): Promise<OperationResult<N>>;
  /** Run the client against this server. */
  // deno-lint-ignore no-explicit-any
  client(steps: unknown[]): Promise<any[]>;
}

export interface GrpcServerOptions {
  config?: Partial<Config>;
  /** Subscriptions re-check their token this often (default 200 ms in the tests). */
  recheckMs?: number;
  gracePeriodMs?: number;
  /** What the port serves (default REST and gRPC). */
  surfaces?: string[];
}

const LOCAL: Caller = { kind: "local", user: "grpc-test" };

/**
 * Run `fn` against a fresh server; shut it down and remove its data dir afterwards.
 *
 * @example
 * ```ts
 * await withGrpcServer(async (s) => {
 *   const [health] = await s.client([{ call: "Health" }]);
 * });
 * ```
 */
export async function withGrpcServer<T>(
  fn: (server: GrpcServer) => Promise<T>,
  options: GrpcServerOptions = {},
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dbx-grpc-test-" });
  const config: Config = {
    ...defaultConfig(dir),
    dek: Buffer.from(randomDek()).toString("base64"),
    ...options.config,
  };
  let server: RunningServer | undefined;
  try {
    server = await startServer({
      dataDir: dir,
      config,
      hostname: "127.0.0.1",
      port: 0,
      surfaces: options.surfaces ?? ["rest", "grpc"],
      stream: { recheckMs: options.recheckMs ?? 200, heartbeatMs: 1_000 },
      gracePeriodMs: options.gracePeriodMs ?? 5_000,
    });
    const api = server.api;
    const local = <N extends OperationName>(name: N, input: OperationInput<N>) =>
      api.call(LOCAL, name, input);
    const token = async (o: Partial<OperationInput<"generateToken">> = {}) =>
      (await local("generateToken", { group: "test", user: "tester", ...o })).token;
    const admin = await token({ group: "admin", user: "root" });
    const target = `127.0.0.1:${server.port}`;
    const started = server;
    return await serverWorkWithin(() =>
      fn({
        target,
        base: `http://${target}`,
        port: started.port,
        dir,
        server: started,
        api,
        admin,
        token,
        local,
        client: (steps) => runClient(target, steps),
      })
    );
  } finally {
    await shutdownWithin(server).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Assert a failed call: its gRPC status, the EventDBX code in the trailers, a message part.
 *
 * @example
 * ```ts
 * expectStatus(result, Code.NOT_FOUND, "not_found", "p-404");
 * ```
 */
export function expectStatus(
  result: CallResult | SubscribeResult["status"] | undefined,
  code: number,
  dbxCode?: string,
  messagePart?: string,
): void {
  const where = `expected status ${code}${dbxCode ? ` (${dbxCode})` : ""}, got ${
    JSON.stringify(result)
  }`;
  if (!result || (result as CallResult).ok === true) throw new Error(where);
  if (result.code !== code) throw new Error(where);
  if (dbxCode !== undefined && result.dbx_code !== dbxCode) throw new Error(where);
  if (typeof result.details !== "string" || result.details === "") {
    throw new Error(`no message: ${where}`);
  }
  if (messagePart !== undefined && !result.details.includes(messagePart)) {
    throw new Error(`message lacks ${JSON.stringify(messagePart)}: ${where}`);
  }
}

/** Fail unless the call succeeded; returns its response. */
// deno-lint-ignore no-explicit-any
export function expectOk(result: CallResult, what: string): any {
  if (!result?.ok) throw new Error(`${what}: ${JSON.stringify(result)}`);
  return result.response;
}

/** An AppendEvent request. */
export function appendRequest(
  type: string,
  id: string,
  payload: Record<string, unknown> = { n: 1 },
  more: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    aggregate_type: type,
    aggregate_id: id,
    event_type: "updated",
    payload_json: JSON.stringify(payload),
    ...more,
  };
}
