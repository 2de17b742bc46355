/**
 * Freeze a plain-data value and everything inside it, so that one holder of a shared value
 * (a cache, a subscriber, a caller) can never change what the others see.
 */

/**
 * Freeze `value` deeply and return it.
 *
 * @example
 * ```ts
 * const record = deepFreeze({ payload: { tags: ["a"] } });
 * Object.isFrozen(record.payload.tags); // true
 * ```
 */
export function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (next === null || typeof next !== "object" || Object.isFrozen(next)) continue;
    Object.freeze(next);
    for (const key in next as Record<string, unknown>) {
      pending.push((next as Record<string, unknown>)[key]);
    }
  }
  return value;
}
