/**
 * Where a CLI command runs, chosen once when it starts: through the running server's API
 * (over HTTP) when a server holds the data directory, else on the local node. Either way
 * the command sees the same `Api` and calls the same operations; only the caller differs.
 *
 * - Through a server: the token from `--token`, else `EVENTDBX_TOKEN`, else a 60-second
 *   token minted with the node key (the CLI holds the data directory and the DEK already).
 * - Locally: the token from `--token` (its scope and write limit apply, its group and user
 *   are recorded), else the local OS user in the group "local", who may do everything.
 */
import { userInfo } from "node:os";
import { bindCaller, type BoundApi, createApi } from "../api/api.ts";
import { type Caller, tokenCaller } from "../api/caller.ts";
import { mintLocalToken, openNode } from "../api/node.ts";
import { HttpApi } from "../client/http_api.ts";
import {
  type Config,
  defaultConfig,
  loadConfig,
  type LoadedConfig,
  resolveLocation,
} from "../config/mod.ts";
import { type DbxError, isDbxError } from "../errors.ts";
import { answersHealth } from "../server/daemon.ts";
import { runningServerPid, serverUrl } from "../server/pid_file.ts";
import type { CommonOptions } from "./common.ts";

/** Environment variable holding the token for commands sent through a server. */
export const TOKEN_ENV = "EVENTDBX_TOKEN";

/** The API a command runs against, bound to its caller. */
export interface Backend extends BoundApi {
  /** True when the command goes through a running server. */
  readonly remote: boolean;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** What a command that may write needs: its token option. */
export interface BackendOptions extends CommonOptions {
  token?: string;
}

/** Load the configuration; writers create it (with a new DEK) when missing, and say so. */
export async function loadLocalConfig(
  options: CommonOptions,
  create: boolean,
): Promise<LoadedConfig> {
  const loaded = await loadConfig({ configPath: options.config, dataDir: options.dataDir }, {
    create,
  });
  if (loaded.created) {
    console.error(
      `created configuration ${loaded.configPath} with a new data encryption key (mode 0600)`,
    );
  }
  return loaded;
}

/** The local operating-system user, as a caller. */
export function localCaller(): Caller {
  let user = Deno.env.get("USER") ?? Deno.env.get("USERNAME");
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  return { kind: "local", user };
}

/** The base URL of the server running on `dataDir`, if one answers there. */
async function runningServerUrl(dataDir: string): Promise<string | undefined> {
  const info = await runningServerPid(dataDir);
  if (!info) return undefined;
  const url = serverUrl(info);
  return await answersHealth(url) ? url : undefined;
}

/** The token for a command sent through a server: flag, environment, or a minted one. */
async function serverToken(options: BackendOptions, config: () => Promise<Config>) {
  if (options.token !== undefined && options.token !== "") return options.token;
  const fromEnv = Deno.env.get(TOKEN_ENV)?.trim();
  if (fromEnv) return fromEnv;
  const { dataDir } = resolveLocation({ configPath: options.config, dataDir: options.dataDir });
  return await mintLocalToken(dataDir, await config());
}

/**
 * Set on a server running one command for a remote caller (`remote_runner.ts`): every
 * command then goes to this API (already bound to the caller), never to local files.
 */
let remoteApi: BoundApi | undefined;

/** Run every command of this isolate against `api` (see `remoteApi`). */
export function useApiForEveryCommand(api: BoundApi): void {
  remoteApi = api;
}

/**
 * Open the backend of a command. `mode` "write" creates the configuration when missing;
 * "read" requires it, and reads a store another process holds through a read-only view.
 *
 * @example
 * ```ts
 * const db = await openBackend({ dataDir: "/tmp/db" }, "read");
 * const page = await db.call("listAggregates", {});
 * await db.close();
 * ```
 */
export async function openBackend(
  options: BackendOptions,
  mode: "read" | "write",
): Promise<Backend> {
  if (remoteApi) {
    return { ...remoteApi, remote: true, dataDir: "(remote)", close: () => Promise.resolve() };
  }
  const { dataDir } = resolveLocation({ configPath: options.config, dataDir: options.dataDir });
  const url = await runningServerUrl(dataDir);
  if (url) {
    const token = await serverToken(
      options,
      async () => (await loadLocalConfig(options, false)).config,
    );
    return {
      ...bindCaller(new HttpApi({ baseUrl: url }), tokenCaller(token)),
      remote: true,
      dataDir,
      close: () => Promise.resolve(),
    };
  }
  let loaded: { config: Config; dataDir: string };
  let keyMissing: DbxError | undefined;
  try {
    loaded = await loadLocalConfig(options, mode === "write");
  } catch (err) {
    // A reader of a directory never configured can still read what needs no key (schemas).
    if (mode === "write" || !isDbxError(err, "not_found")) throw err;
    loaded = { config: defaultConfig(dataDir), dataDir };
    keyMissing = err;
  }
  const node = await openNode({
    dataDir: loaded.dataDir,
    config: loaded.config,
    mode,
    keyMissing: missingKey(keyMissing),
  });
  const caller = options.token !== undefined ? tokenCaller(options.token) : localCaller();
  return {
    ...bindCaller(createApi(node), caller),
    remote: false,
    dataDir: loaded.dataDir,
    close: () => node.close(),
  };
}

function missingKey(err: DbxError | undefined): (() => DbxError) | undefined {
  return err === undefined ? undefined : () => err;
}

/** Run `fn` with the backend open, closing it afterwards. */
export async function withBackend<T>(
  options: BackendOptions,
  mode: "read" | "write",
  fn: (db: Backend) => Promise<T>,
): Promise<T> {
  const db = await openBackend(options, mode);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
