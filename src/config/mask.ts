/**
 * Secret-free views of a config, for printing.
 */
import type { Config } from "./types.ts";

/** What a secret is shown as. */
export const MASK = "********";

/**
 * A copy of the config with the DEK and the master-key hash replaced by `********`.
 *
 * @example
 * ```ts
 * import { generateDek } from "../crypto/aead.ts";
 * import { defaultConfig } from "./defaults.ts";
 * const config = { ...defaultConfig("/tmp/db"), dek: generateDek() };
 * maskConfig(config).dek; // "********"
 * ```
 */
export function maskConfig(config: Config): Config {
  const copy = structuredClone(config);
  if (copy.dek !== undefined) copy.dek = MASK;
  if (copy.admin.master_key_hash !== undefined) copy.admin.master_key_hash = MASK;
  return copy;
}
