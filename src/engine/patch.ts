import jsonpatch from "fast-json-patch";
import { DbxError } from "../errors.ts";
import { validateName } from "./names.ts";
import type { JsonPatchOperation } from "./types.ts";

const { applyPatch, validate } = jsonpatch;

// History is append-only: an operation that takes a value away is refused.
const REMOVING_OPS = new Set(["remove", "move"]);

function topLevelKey(path: string): string | undefined {
  if (path === "") return undefined;
  const first = path.split("/")[1];
  return first.replace(/~1/g, "/").replace(/~0/g, "~");
}

/**
 * Apply an RFC 6902 patch to the current state and return the event payload it
 * implies: the new values of the top-level keys the patch touched.
 *
 * @example
 * ```ts
 * payloadFromPatch({ address: { city: "Oslo" } }, [
 *   { op: "replace", path: "/address/city", value: "Bergen" },
 * ]); // { address: { city: "Bergen" } }
 * ```
 */
export function payloadFromPatch(
  state: Record<string, unknown>,
  patch: unknown,
): Record<string, unknown> {
  if (!Array.isArray(patch) || patch.length === 0) {
    throw new DbxError("invalid_input", "patch must be a non-empty JSON array of operations");
  }
  const touched = new Set<string>();
  for (const [index, op] of patch.entries()) {
    if (typeof op !== "object" || op === null || Array.isArray(op)) {
      throw new DbxError("invalid_input", `patch operation ${index} is not an object`);
    }
    const { op: name, path } = op as JsonPatchOperation;
    if (REMOVING_OPS.has(name)) {
      throw new DbxError(
        "invalid_input",
        `patch operation ${index} ("${name}") would remove data; events are append-only`,
      );
    }
    if (typeof path !== "string") {
      throw new DbxError("invalid_input", `patch operation ${index} has no path`);
    }
    if (path !== "" && !path.startsWith("/")) {
      throw new DbxError("invalid_input", `patch operation ${index} path must start with "/"`);
    }
    if (path === "" && name !== "test") {
      throw new DbxError("invalid_input", `patch operation ${index} replaces the whole document`);
    }
    const key = topLevelKey(path);
    // The touched keys become payload fields, so they obey the field-name rules.
    if (key !== undefined && name !== "test") touched.add(validateName("field name", key));
  }
  const error = validate(patch as jsonpatch.Operation[], state);
  // validate() applies the patch to a copy, so a failing "test" op surfaces here already.
  if (error?.name === "TEST_OPERATION_FAILED") {
    throw new DbxError("conflict", `patch test failed: ${error.message.split("\n")[0]}`);
  }
  if (error) {
    throw new DbxError("invalid_input", `patch is invalid: ${error.message.split("\n")[0]}`);
  }
  let next: Record<string, unknown>;
  try {
    next = applyPatch(structuredClone(state), patch as jsonpatch.Operation[], true, false)
      .newDocument as Record<string, unknown>;
  } catch (err) {
    const message = (err as Error).message?.split("\n")[0] ?? String(err);
    if ((err as Error).name === "TEST_OPERATION_FAILED") {
      throw new DbxError("conflict", `patch test failed: ${message}`);
    }
    throw new DbxError("invalid_input", `patch cannot be applied: ${message}`);
  }
  const payload: Record<string, unknown> = {};
  for (const key of touched) payload[key] = next[key];
  return payload;
}
