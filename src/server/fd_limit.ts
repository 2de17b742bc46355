/**
 * The process's open-file limit: raised from its soft to its hard value at start (as Node and
 * most servers do), so that connections and the store's files fit, and read to size the
 * connection caps. Uses libc's getrlimit/setrlimit through FFI on Linux and macOS; elsewhere
 * (or when FFI is not permitted) the limit is left as it is and reported as unknown.
 */

/** RLIMIT_NOFILE on each system. */
const RLIMIT_NOFILE: Record<string, number> = { linux: 7, darwin: 8 };
const LIBC: Record<string, string> = { linux: "libc.so.6", darwin: "libSystem.dylib" };

/** The open-file limit before and after raising it. */
export interface FdLimit {
  /** The soft limit now in force (undefined when it cannot be read). */
  soft?: number;
  hard?: number;
  /** The soft limit before it was raised. */
  before?: number;
}

/**
 * Raise the soft open-file limit to the hard one where the OS allows.
 *
 * @example
 * ```ts
 * const { soft, before } = raiseFdLimit();
 * if (soft !== undefined && before !== soft) console.log(`open files: ${before} -> ${soft}`);
 * ```
 */
export function raiseFdLimit(): FdLimit {
  const resource = RLIMIT_NOFILE[Deno.build.os];
  const path = LIBC[Deno.build.os];
  if (resource === undefined || path === undefined) return {};
  let lib;
  try {
    lib = Deno.dlopen(path, {
      getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    });
  } catch {
    return {}; // FFI not permitted here
  }
  try {
    // struct rlimit { rlim_t cur; rlim_t max; }: two 64-bit values on both systems.
    const limits = new BigUint64Array(2);
    const bytes = new Uint8Array(limits.buffer);
    if (lib.symbols.getrlimit(resource, bytes) !== 0) return {};
    const before = toNumber(limits[0]);
    const hard = toNumber(limits[1]);
    if (limits[0] < limits[1]) {
      // macOS refuses more than OPEN_MAX for the soft limit even when the hard one is unlimited.
      const target = Deno.build.os === "darwin" && hard > 10240 ? 10240n : limits[1];
      const wanted = new BigUint64Array([target, limits[1]]);
      if (lib.symbols.setrlimit(resource, new Uint8Array(wanted.buffer)) === 0) {
        return { soft: toNumber(target), hard, before };
      }
    }
    return { soft: before, hard, before };
  } finally {
    lib.close();
  }
}

function toNumber(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(value);
}

/**
 * The most connections a listener may hold open: the configured cap, but never so many that
 * the process runs out of descriptors (each connection costs three: the client's, the gate's
 * one to the server behind it, and that server's end), keeping room for the store's files.
 *
 * @example
 * ```ts
 * connectionCap(1024, 1024); // 174: what 1024 descriptors leave room for
 * connectionCap(1024, 1_048_576); // 1024
 * ```
 */
export function connectionCap(configured: number, fdLimit: number | undefined): number {
  if (fdLimit === undefined || !Number.isFinite(fdLimit)) return configured;
  // The store keeps up to 500 files open; small limits keep half for it and the rest.
  const reserve = Math.min(500, Math.floor(fdLimit / 2));
  return Math.max(8, Math.min(configured, Math.floor((fdLimit - reserve) / 3)));
}
