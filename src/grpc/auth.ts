/**
 * Bearer tokens on the gRPC surface: the `authorization` metadata entry, `Bearer <token>`.
 * This only names the caller; whether the token is valid and what it may do is the API's
 * decision, made by every operation a handler calls.
 */
import type { Metadata } from "@grpc/grpc-js";
import { type Caller, tokenCaller } from "../api/caller.ts";
import { DbxError } from "../errors.ts";

/**
 * The caller a call's metadata names; DbxError "unauthorized" without one well-formed
 * `authorization: Bearer <token>` entry.
 *
 * @example
 * ```ts
 * import { Metadata } from "@grpc/grpc-js";
 * const metadata = new Metadata();
 * metadata.set("authorization", "Bearer eyJhbGciOi...");
 * callerOf(metadata); // { kind: "token", token: "eyJhbGciOi..." }
 * ```
 */
export function callerOf(metadata: Metadata): Caller {
  const values = metadata.get("authorization");
  if (values.length === 0) {
    throw new DbxError(
      "unauthorized",
      "a token is required: send the metadata authorization: Bearer <token>",
    );
  }
  const value = values.length === 1 && typeof values[0] === "string" ? values[0] : undefined;
  const match = value === undefined ? null : /^\s*Bearer\s+(\S+)\s*$/i.exec(value);
  if (!match) {
    throw new DbxError(
      "unauthorized",
      "the authorization metadata must be one entry Bearer <token> (no other scheme)",
    );
  }
  return tokenCaller(match[1]);
}
