/**
 * Choosing where a mutating CLI command runs: through the running server's API when one
 * holds the data directory, else against the local store.
 *
 * Token for proxied calls: `--token`, else `EVENTDBX_TOKEN`, else a 60-second token the
 * CLI mints with the node key (it already holds the data directory and the DEK). Minting
 * only reads `node.key` and `tokens.json` and signs in memory: it writes no file the
 * server also writes.
 */
import { TokenAuthority } from "../auth/authority.ts";
import type { CommonOptions } from "../cli/common.ts";
import { dekBytes, loadConfig, resolveLocation } from "../config/mod.ts";
import { DbxHttpClient } from "./http_client.ts";
import { findRunningServer } from "./running_server.ts";

/** Environment variable holding the token for proxied CLI calls. */
export const TOKEN_ENV = "EVENTDBX_TOKEN";

/**
 * The token a proxied call uses: the flag, else the environment, else a fresh short-lived
 * one minted for the data directory.
 *
 * @example
 * ```ts
 * const token = await proxyToken({ dataDir: "/tmp/db" }, undefined);
 * ```
 */
export async function proxyToken(options: CommonOptions, flag?: string): Promise<string> {
  if (flag !== undefined && flag !== "") return flag;
  const fromEnv = Deno.env.get(TOKEN_ENV);
  if (fromEnv !== undefined && fromEnv.trim() !== "") return fromEnv.trim();
  const { config, dataDir } = await loadConfig(
    { configPath: options.config, dataDir: options.dataDir },
    { create: false },
  );
  const auth = await TokenAuthority.open({ dataDir, dek: dekBytes(config) });
  try {
    return auth.mintShortLived();
  } finally {
    await auth.close();
  }
}

/**
 * A client for the server running on the command's data directory, or undefined when
 * no server runs there (the command then works on the local store).
 *
 * @example
 * ```ts
 * const server = await serverClient(options, options.token);
 * if (server) await server.append(type, id, body);
 * else await withLocalStore(options, "write", ...);
 * ```
 */
export async function serverClient(
  options: CommonOptions,
  tokenFlag?: string,
): Promise<DbxHttpClient | undefined> {
  const { dataDir } = resolveLocation({ configPath: options.config, dataDir: options.dataDir });
  const server = await findRunningServer(dataDir);
  if (!server) return undefined;
  const token = await proxyToken(options, tokenFlag);
  return new DbxHttpClient({ baseUrl: server.url, token });
}
