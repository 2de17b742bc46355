/**
 * JSON Patch (RFC 6902) on an aggregate's state, with JSON Pointer (RFC 6901)
 * paths evaluated exactly.
 *
 * History is append-only, so a patch may only add or change values: `remove`
 * and `move` (which takes its source away) are refused, and so is any
 * operation on the whole document (path ""), except `test`. The state is
 * always an object; the event payload a patch implies is the new value of
 * every top-level key it touched.
 *
 * Every rule of RFC 6901 is enforced on every operation: an array index is
 * "0" or digits without a leading zero, `-` (the element after the last) is
 * allowed only as the last token of an `add` or `copy` target, `~` must be
 * followed by "0" or "1", and an index beyond the end, a non-numeric token on
 * an array, or a token on a scalar is an error. Object members are looked up
 * as own properties only (`/constructor` of `{}` does not exist).
 *
 * Errors are `invalid_input` and name the operation index, except a `test`
 * that does not hold (a different value, or nothing at its path), which is a
 * `conflict`: the state is not what the caller expected.
 */
import { DbxError } from "../errors.ts";
import { validateName } from "./names.ts";
import type { JsonPatchOperation } from "./types.ts";

/** The operations a patch may use. */
const APPLIED_OPS = new Set(["add", "replace", "test", "copy"]);
// History is append-only: an operation that takes a value away is refused.
const REMOVING_OPS = new Set(["remove", "move"]);

/** A pointer that cannot be evaluated: "invalid" never can, "missing" names nothing now. */
class PointerFailure {
  constructor(readonly kind: "invalid" | "missing", readonly detail: string) {}
}

/** A checked operation, its pointers split into decoded reference tokens. */
interface Step {
  index: number;
  op: "add" | "replace" | "test" | "copy";
  path: string;
  tokens: string[];
  value?: unknown;
  from?: string;
  fromTokens?: string[];
}

function show(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

function invalid(index: number, message: string): DbxError {
  return new DbxError("invalid_input", `patch operation ${index} ${message}`);
}

/** Split a JSON Pointer into decoded reference tokens, or say why it is malformed. */
function parsePointer(pointer: string): string[] | string {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return `must be "" or start with "/"`;
  const tokens = pointer.slice(1).split("/");
  for (const token of tokens) {
    if (/~(?![01])/.test(token)) {
      return `has an invalid escape in ${show(token)}: "~" must be followed by "0" or "1"`;
    }
  }
  // One pass, so "~01" decodes to "~1" and not to "/".
  return tokens.map((t) => t.replace(/~[01]/g, (m) => (m === "~1" ? "/" : "~")));
}

/** The pointer made of the first `count` tokens of `pointer` (for messages). */
function prefix(pointer: string, count: number): string {
  return pointer.split("/").slice(0, count + 1).join("/");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Where a token is looked up, for messages: computed only when one is needed. */
type Where = () => string;

/**
 * An array index token (RFC 6901 §4): "0" or digits without a leading zero, or
 * "-" where `end` allows the element after the last. With `end`, the length
 * itself is a valid index (an insertion point); without, only existing ones.
 * `at` is the array's pointer.
 */
function arrayIndex(token: string, array: unknown[], at: Where, end: boolean): number {
  if (token === "-") {
    if (end) return array.length;
    throw new PointerFailure(
      "invalid",
      `"-" names no element of the array ${
        show(at())
      }; it is allowed only as the last token of an add or copy target`,
    );
  }
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    throw new PointerFailure(
      "invalid",
      /^[0-9]+$/.test(token)
        ? `array index ${show(token)} of ${show(at())} has a leading zero`
        : `${show(token)} is not an index of the array ${show(at())}`,
    );
  }
  const index = Number(token);
  if (index > array.length || (index === array.length && !end)) {
    throw new PointerFailure(
      end ? "invalid" : "missing",
      `index ${token} is beyond the end of the array ${show(at())} (length ${array.length})`,
    );
  }
  return index;
}

/** The value of token `i` of `pointer` in `value` (the value of the tokens before it). */
function child(value: unknown, tokens: string[], i: number, pointer: string): unknown {
  const at = () => prefix(pointer, i);
  if (Array.isArray(value)) return value[arrayIndex(tokens[i], value, at, false)];
  if (isObject(value)) {
    if (!Object.hasOwn(value, tokens[i])) {
      throw new PointerFailure("missing", `${show(prefix(pointer, i + 1))} does not exist`);
    }
    return value[tokens[i]];
  }
  throw new PointerFailure("missing", notContainer(value, at()));
}

function notContainer(value: unknown, at: string): string {
  return `${show(at)} is ${value === null ? "null" : `a ${typeof value}`}, not an object or array`;
}

/** Set an own data property, even one named "__proto__". */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/** A JSON deep copy of a value taken from the patch or the document. */
function cloneJson(value: unknown, index: number): unknown {
  try {
    return structuredClone(value);
  } catch {
    throw invalid(index, "has a value that is not JSON");
  }
}

/** Equality of JSON values as RFC 6902 §4.6 defines it (member order does not matter). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i]));
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) =>
    Object.hasOwn(b, key) &&
    jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])
  );
}

/**
 * The document being patched: the current state, read-only, under the new
 * values of the top-level keys changed so far (copied on first write, so a
 * patch costs what it touches, not the size of the state).
 */
class Document {
  readonly #state: Record<string, unknown>;
  readonly #changed = new Map<string, unknown>();

  constructor(state: Record<string, unknown>) {
    this.#state = state;
  }

  has(key: string): boolean {
    return this.#changed.has(key) || Object.hasOwn(this.#state, key);
  }

  get(key: string): unknown {
    return this.#changed.has(key) ? this.#changed.get(key) : this.#state[key];
  }

  set(key: string, value: unknown): void {
    this.#changed.set(key, value);
  }

  /** The value of `key`, copied first if it still belongs to the state. */
  writable(key: string): unknown {
    if (!this.#changed.has(key)) this.#changed.set(key, structuredClone(this.#state[key]));
    return this.#changed.get(key);
  }

  /** The whole document (for a pointer ""). */
  whole(): Record<string, unknown> {
    const doc: Record<string, unknown> = {};
    for (const key of Object.keys(this.#state)) setOwn(doc, key, this.get(key));
    for (const [key, value] of this.#changed) setOwn(doc, key, value);
    return doc;
  }
}

/** Evaluate a pointer to an existing value. */
function resolve(doc: Document, pointer: string, tokens: string[]): unknown {
  if (tokens.length === 0) return doc.whole();
  if (!doc.has(tokens[0])) {
    throw new PointerFailure("missing", `${show(prefix(pointer, 1))} does not exist`);
  }
  let value = doc.get(tokens[0]);
  for (let i = 1; i < tokens.length; i++) value = child(value, tokens, i, pointer);
  return value;
}

/** Write `value` at a non-empty pointer: insert for add and copy, overwrite for replace. */
function write(
  doc: Document,
  pointer: string,
  tokens: string[],
  value: unknown,
  insert: boolean,
): void {
  const [first] = tokens;
  if (tokens.length === 1) {
    if (!insert && !doc.has(first)) {
      throw new PointerFailure("invalid", `${show(pointer)} does not exist`);
    }
    doc.set(first, value);
    return;
  }
  if (!doc.has(first)) {
    throw new PointerFailure("invalid", `${show(prefix(pointer, 1))} does not exist`);
  }
  let parent = doc.writable(first);
  for (let i = 1; i < tokens.length - 1; i++) parent = child(parent, tokens, i, pointer);
  const at = () => prefix(pointer, tokens.length - 1);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    const index = arrayIndex(last, parent, at, insert);
    if (insert) parent.splice(index, 0, value);
    else parent[index] = value;
  } else if (isObject(parent)) {
    if (!insert && !Object.hasOwn(parent, last)) {
      throw new PointerFailure("invalid", `${show(pointer)} does not exist`);
    }
    setOwn(parent, last, value);
  } else {
    throw new PointerFailure("invalid", notContainer(parent, at()));
  }
}

/** Check one operation's form, without the document. */
function checkStep(index: number, raw: unknown, touched: Set<string>): Step {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw invalid(index, "is not an object");
  }
  const { op, path, value, from } = raw as Partial<JsonPatchOperation> & Record<string, unknown>;
  if (typeof op !== "string") throw invalid(index, `has no "op" string`);
  if (REMOVING_OPS.has(op)) {
    throw invalid(index, `("${op}") would remove data; events are append-only`);
  }
  if (!APPLIED_OPS.has(op)) {
    throw invalid(index, `has an unknown op ${show(op)} (use add, replace, test or copy)`);
  }
  const name = op as Step["op"];
  if (typeof path !== "string") throw invalid(index, `(${name}) has no "path" string`);
  const tokens = parsePointer(path);
  if (typeof tokens === "string") throw invalid(index, `(${name}) path ${show(path)} ${tokens}`);
  if (tokens.length === 0 && name !== "test") {
    throw invalid(
      index,
      `(${name}) replaces the whole document; a patch may only add or change fields`,
    );
  }
  const step: Step = { index, op: name, path, tokens };
  if (name === "copy") {
    if (typeof from !== "string") throw invalid(index, `(copy) has no "from" string`);
    const fromTokens = parsePointer(from);
    if (typeof fromTokens === "string") {
      throw invalid(index, `(copy) from ${show(from)} ${fromTokens}`);
    }
    step.from = from;
    step.fromTokens = fromTokens;
  } else {
    const hasValue = Object.hasOwn(raw, "value") && value !== undefined;
    if (!hasValue) throw invalid(index, `(${name}) has no "value"`);
    step.value = value;
  }
  if (name !== "test") {
    // The touched keys become payload fields, so they obey the field-name rules.
    try {
      touched.add(validateName("field name", tokens[0]));
    } catch (err) {
      throw invalid(index, `(${name}) path ${show(path)}: ${(err as Error).message}`);
    }
  }
  return step;
}

function applyStep(doc: Document, step: Step): void {
  const { index, op } = step;
  if (op === "test") {
    let actual: unknown;
    try {
      actual = resolve(doc, step.path, step.tokens);
    } catch (err) {
      throw pointerError(err, step, "path", step.path);
    }
    if (!jsonEqual(actual, step.value)) {
      throw new DbxError(
        "conflict",
        `patch operation ${index} (test) failed: the value at ${
          show(step.path)
        } is not the expected value`,
      );
    }
    return;
  }
  let value: unknown;
  if (op === "copy") {
    try {
      value = resolve(doc, step.from!, step.fromTokens!);
    } catch (err) {
      throw pointerError(err, step, "from", step.from!);
    }
  } else {
    value = step.value;
  }
  // Copied, so no two places of the document (nor the caller's patch) share a value.
  value = cloneJson(value, index);
  try {
    write(doc, step.path, step.tokens, value, op !== "replace");
  } catch (err) {
    throw pointerError(err, step, "path", step.path);
  }
}

/** The DbxError for a pointer that could not be evaluated. */
function pointerError(err: unknown, step: Step, field: string, pointer: string): unknown {
  if (!(err instanceof PointerFailure)) return err;
  // A test of a value that does not exist does not hold: the state is not as expected.
  if (step.op === "test" && err.kind === "missing") {
    return new DbxError(
      "conflict",
      `patch operation ${step.index} (test) failed: path ${show(pointer)}: ${err.detail}`,
    );
  }
  return invalid(step.index, `(${step.op}) ${field} ${show(pointer)}: ${err.detail}`);
}

/**
 * Apply an RFC 6902 patch to the current state and return the event payload it
 * implies: the new values of the top-level keys the patch touched. The state
 * is not modified. Throws DbxError `invalid_input` for a malformed or
 * inapplicable patch and `conflict` for a `test` that does not hold.
 *
 * @example
 * ```ts
 * payloadFromPatch({ address: { city: "Oslo" } }, [
 *   { op: "replace", path: "/address/city", value: "Bergen" },
 * ]); // { address: { city: "Bergen" } }
 * payloadFromPatch({ tags: ["a"] }, [{ op: "add", path: "/tags/-", value: "b" }]);
 * // { tags: ["a", "b"] }
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
  // Every operation's form is checked before any is applied.
  const steps = patch.map((raw, index) => checkStep(index, raw, touched));
  const doc = new Document(state);
  for (const step of steps) applyStep(doc, step);
  const payload: Record<string, unknown> = {};
  for (const key of touched) setOwn(payload, key, doc.get(key));
  return payload;
}
