/**
 * When a failed delivery is tried again: exponential backoff with jitter, on a clock that
 * tests can drive.
 */

/** Where delivery reads the time (epoch milliseconds); tests pass one they move by hand. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** How long to wait between attempts. */
export interface BackoffPolicy {
  /** Wait after the first failure (before jitter). */
  baseMs: number;
  /** Longest wait. */
  maxMs: number;
}

/** Half a second, doubling, at most five minutes. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 5 * 60_000 };

/**
 * The wait after the `attempts`-th failed attempt: `baseMs * 2^(attempts-1)`, capped at
 * `maxMs`, of which a random half is taken off ("equal jitter"), so that many events that
 * failed together do not all come back at the same instant.
 *
 * @example
 * ```ts
 * retryDelay(3, { baseMs: 1000, maxMs: 60_000 }, () => 1); // 4000
 * retryDelay(3, { baseMs: 1000, maxMs: 60_000 }, () => 0); // 2000
 * ```
 */
export function retryDelay(
  attempts: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempts, 1) - 1, 52);
  const full = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return Math.round(full / 2 + random() * (full / 2));
}
