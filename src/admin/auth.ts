/**
 * The Admin API's credential: the master key, sent as `X-Admin-Key: <secret>` or
 * `Authorization: Bearer <secret>`. Only its form is checked here; whether it is the key is
 * the API's decision (the caller kind "admin", checked against the stored Argon2id hash).
 * Messages never contain what was sent.
 */
import { DbxError } from "../errors.ts";

const HOW = "send X-Admin-Key: <secret> or Authorization: Bearer <secret>";

/**
 * The master key a request presents; DbxError "unauthorized" without one (or with two that
 * differ, or an Authorization header of another scheme).
 *
 * @example
 * ```ts
 * adminKey(new Headers({ "X-Admin-Key": "s3cret" })); // "s3cret"
 * adminKey(new Headers({ Authorization: "Bearer s3cret" })); // "s3cret"
 * ```
 */
export function adminKey(headers: Headers): string {
  const direct = headers.get("x-admin-key")?.trim();
  const authorization = headers.get("authorization")?.trim();
  let bearer: string | undefined;
  if (authorization) {
    const match = /^Bearer\s+(\S(?:.*\S)?)$/i.exec(authorization);
    if (!match) {
      throw new DbxError(
        "unauthorized",
        `the Authorization header must use the Bearer scheme; ${HOW}`,
        { reason: "missing_key" },
      );
    }
    bearer = match[1];
  }
  if (direct && bearer !== undefined && direct !== bearer) {
    throw new DbxError(
      "unauthorized",
      "X-Admin-Key and Authorization name different keys; send the master key once",
      { reason: "missing_key" },
    );
  }
  const key = direct || bearer;
  if (!key) {
    throw new DbxError("unauthorized", `the Admin master key is required: ${HOW}`, {
      reason: "missing_key",
    });
  }
  return key;
}
