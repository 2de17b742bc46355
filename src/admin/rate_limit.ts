/**
 * Failed Admin API key attempts, limited per client address by a token bucket: an address
 * may present a key `burst` times in a row without success, and earns one more try every
 * `refillMs`. Attempts still being verified count against the bucket too, so a client that
 * sends many guesses at once gets no more than one that sends them in turn. A success
 * forgets the address. IPv6 clients are grouped by their /64 (one host usually owns it).
 *
 * Memory is bounded: at most `maxClients` addresses are tracked; past that, addresses whose
 * bucket refilled are dropped first, then the oldest.
 */

export interface LimiterOptions {
  /** Failed attempts allowed in a row (default 10). */
  burst?: number;
  /** Time that gives back one attempt (default 6 s: 10 a minute once the burst is spent). */
  refillMs?: number;
  /** Addresses tracked at most (default 10 000). */
  maxClients?: number;
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
}

/** What `begin` decided. */
export type Admission =
  | { allowed: true }
  | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
  pending: number;
}

/**
 * The key an address is limited by: IPv4 as is (also IPv4-mapped IPv6), IPv6 by its /64.
 *
 * @example
 * ```ts
 * clientKey("::ffff:10.0.0.2"); // "10.0.0.2"
 * clientKey("2001:db8:1:2:3:4:5:6"); // "2001:db8:1:2::/64"
 * ```
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(":")) return address;
  const [head, tail = ""] = address.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = address.includes("::")
    ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
    : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/**
 * Per-address limits of failed attempts.
 *
 * @example
 * ```ts
 * const limiter = new FailureLimiter({ burst: 3 });
 * const admission = limiter.begin("10.0.0.2");
 * if (admission.allowed) limiter.end("10.0.0.2", false); // a wrong key
 * ```
 */
export class FailureLimiter {
  readonly burst: number;
  readonly refillMs: number;
  readonly #maxClients: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: LimiterOptions = {}) {
    this.burst = options.burst ?? 10;
    this.refillMs = options.refillMs ?? 6_000;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  #refill(bucket: Bucket, now: number): void {
    const earned = (now - bucket.at) / this.refillMs;
    bucket.tokens = Math.min(this.burst, bucket.tokens + earned);
    bucket.at = now;
  }

  /**
   * May `address` present a key now? When it may, the attempt is pending until `end`;
   * when not, how many seconds until it may.
   */
  begin(address: string): Admission {
    const key = clientKey(address);
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket) this.#refill(bucket, now);
    else bucket = { tokens: this.burst, at: now, pending: 0 };
    const left = bucket.tokens - bucket.pending;
    if (left < 1) {
      // Waiting on its own guesses still being verified: a second will do.
      const wait = bucket.pending > 0 ? 1000 : (1 - left) * this.refillMs;
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
    }
    bucket.pending++;
    if (!this.#buckets.has(key)) {
      this.#makeRoom(now);
      this.#buckets.set(key, bucket);
    }
    return { allowed: true };
  }

  /**
   * The attempt `begin` allowed is over: `ok` forgets the address, a failure spends one
   * attempt. Returns the attempts left before the address is limited.
   */
  end(address: string, ok: boolean): number {
    const key = clientKey(address);
    const bucket = this.#buckets.get(key);
    if (!bucket) return this.burst;
    bucket.pending = Math.max(0, bucket.pending - 1);
    if (ok) {
      if (bucket.pending === 0) this.#buckets.delete(key);
      else bucket.tokens = this.burst;
      return this.burst;
    }
    this.#refill(bucket, this.#now());
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    return Math.max(0, Math.floor(bucket.tokens - bucket.pending));
  }

  /** Keep the map within its bound before adding an address. */
  #makeRoom(now: number): void {
    if (this.#buckets.size < this.#maxClients) return;
    for (const [key, bucket] of this.#buckets) {
      this.#refill(bucket, now);
      if (bucket.pending === 0 && bucket.tokens >= this.burst) this.#buckets.delete(key);
    }
    for (const [key, bucket] of this.#buckets) {
      if (this.#buckets.size < this.#maxClients) break;
      if (bucket.pending === 0) this.#buckets.delete(key);
    }
  }
}
