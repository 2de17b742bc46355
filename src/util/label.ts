/**
 * Labels of configured things (remotes, plugin instances): short names that are safe in a
 * URL path segment, a file name and a log line without quoting.
 */
import { DbxError } from "../errors.ts";

/** Longest label. */
export const MAX_LABEL_LENGTH = 64;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Check a label: 1–64 characters, letters, digits, `.`, `_` and `-`, starting with a letter
 * or digit. `what` names it in the message ("remote name", "plugin name").
 *
 * @example
 * ```ts
 * checkLabel("remote name", "standby-1"); // "standby-1"
 * checkLabel("remote name", "../etc"); // throws invalid_input
 * ```
 */
export function checkLabel(what: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new DbxError("invalid_input", `${what} must be a non-empty string`);
  }
  if (value.length > MAX_LABEL_LENGTH) {
    throw new DbxError("invalid_input", `${what} is longer than ${MAX_LABEL_LENGTH} characters`);
  }
  if (!LABEL.test(value)) {
    throw new DbxError(
      "invalid_input",
      `${what} ${JSON.stringify(value.slice(0, MAX_LABEL_LENGTH))} may hold only letters, ` +
        "digits, '.', '_' and '-', and must start with a letter or digit",
    );
  }
  return value;
}
