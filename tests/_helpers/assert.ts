/**
 * Tiny assertion helpers for every test suite (`@std/assert` is out of reach).
 * Built on `node:assert`, plus checks for DbxError codes.
 */
import nodeAssert, { deepStrictEqual, notDeepStrictEqual } from "node:assert";
import { DbxError, type ErrorCode } from "../../src/errors.ts";

/**
 * Fail unless `condition` is truthy.
 *
 * @example
 * ```ts
 * assert(list.length > 0, "list is empty");
 * ```
 */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/**
 * Deep, strict equality (same types, same structure).
 *
 * @example
 * ```ts
 * assertEquals({ a: [1] }, { a: [1] });
 * ```
 */
export function assertEquals<T>(
  actual: unknown,
  expected: T,
  message?: string,
): asserts actual is T {
  deepStrictEqual(actual, expected, message);
}

/**
 * Fail when the two values are deeply equal.
 *
 * @example
 * ```ts
 * assertNotEquals(a.hash, b.hash);
 * ```
 */
export function assertNotEquals(actual: unknown, expected: unknown, message?: string): void {
  notDeepStrictEqual(actual, expected, message);
}

/**
 * Expect `fn` to throw (synchronously) a DbxError, with `code` when given.
 *
 * @example
 * ```ts
 * assertThrows(() => validateName("type", ""), "invalid_input");
 * ```
 */
export function assertThrows(fn: () => unknown, code?: ErrorCode, messagePart?: string): DbxError {
  try {
    fn();
  } catch (err) {
    return checkDbxError(err, code, messagePart);
  }
  throw new nodeAssert.AssertionError({
    message: `expected a DbxError${code ? ` "${code}"` : ""}, nothing was thrown`,
  });
}

/**
 * Expect the promise `fn` returns to reject with a DbxError, with `code` when given.
 *
 * @example
 * ```ts
 * await assertRejects(() => engine.append(bad), "invalid_input");
 * ```
 */
export async function assertRejects(
  fn: () => Promise<unknown>,
  code?: ErrorCode,
  messagePart?: string,
): Promise<DbxError> {
  try {
    await fn();
  } catch (err) {
    return checkDbxError(err, code, messagePart);
  }
  throw new nodeAssert.AssertionError({
    message: `expected a DbxError${code ? ` "${code}"` : ""}, the promise resolved`,
  });
}

function checkDbxError(err: unknown, code?: ErrorCode, messagePart?: string): DbxError {
  if (!(err instanceof DbxError)) {
    throw new nodeAssert.AssertionError({ message: `expected a DbxError, got: ${err}` });
  }
  if (code !== undefined && err.code !== code) {
    throw new nodeAssert.AssertionError({
      message: `expected code "${code}", got "${err.code}": ${err.message}`,
    });
  }
  if (messagePart !== undefined && !err.message.includes(messagePart)) {
    throw new nodeAssert.AssertionError({
      message: `expected the message to contain "${messagePart}": ${err.message}`,
    });
  }
  return err;
}
