/**
 * The data encryption key as bytes.
 */
import { parseDek } from "../crypto/aead.ts";
import { DbxError } from "../errors.ts";
import type { Config } from "./types.ts";

/**
 * The configured DEK (32 bytes), or a DbxError saying how to configure one.
 *
 * @example
 * ```ts
 * import { generateDek } from "../crypto/aead.ts";
 * import { defaultConfig } from "./defaults.ts";
 * const config = { ...defaultConfig("/tmp/db"), dek: generateDek() };
 * const key = dekBytes(config); // Uint8Array(32)
 * ```
 */
export function dekBytes(config: Config): Uint8Array {
  if (config.dek === undefined) {
    throw new DbxError("invalid_input", "no DEK configured; run `dbx config --dek <base64>`");
  }
  return parseDek(config.dek);
}
