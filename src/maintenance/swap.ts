/**
 * Swap two directories in one step, so that a path always names one complete directory:
 * the old one or the new one, whatever happens (kill -9 included).
 *
 * Linux has `renameat2(RENAME_EXCHANGE)` and macOS `renamex_np(RENAME_SWAP)`: both exchange
 * two paths atomically. They are called through Deno's FFI (the program runs with all
 * permissions). Where neither is available (Windows, a file system that refuses, no FFI
 * permission) the swap is two renames, undone when the second fails; only that fallback has
 * a moment where the path names nothing.
 */

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;
const RENAME_SWAP = 2;

type Exchange = (a: string, b: string) => boolean;

let native: Exchange | null | undefined;

function cString(path: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${path}\0`) as Uint8Array<ArrayBuffer>;
}

/** The platform's atomic exchange, or null where there is none. */
function nativeExchange(): Exchange | null {
  if (native !== undefined) return native;
  native = null;
  try {
    if (Deno.build.os === "linux") {
      for (const name of ["libc.so.6", "libc.so"]) {
        try {
          const lib = Deno.dlopen(name, {
            renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
          });
          native = (a, b) =>
            lib.symbols.renameat2(AT_FDCWD, cString(a), AT_FDCWD, cString(b), RENAME_EXCHANGE) ===
              0;
          break;
        } catch {
          // try the next name
        }
      }
    } else if (Deno.build.os === "darwin") {
      const lib = Deno.dlopen("/usr/lib/libSystem.B.dylib", {
        renamex_np: { parameters: ["buffer", "buffer", "u32"], result: "i32" },
      });
      native = (a, b) => lib.symbols.renamex_np(cString(a), cString(b), RENAME_SWAP) === 0;
    }
  } catch {
    native = null; // no FFI permission, or no such symbol
  }
  return native;
}

/**
 * Exchange the directories at `a` and `b` (both must exist): afterwards `a` holds what `b`
 * held and the other way round. Returns true when it was one atomic step.
 *
 * @example
 * ```ts
 * await Deno.mkdir("/tmp/new"); await Deno.mkdir("/tmp/live");
 * await exchangeDirectories("/tmp/new", "/tmp/live"); // /tmp/live is the new one
 * ```
 */
export async function exchangeDirectories(a: string, b: string): Promise<boolean> {
  const exchange = nativeExchange();
  if (exchange && exchange(a, b)) return true;
  // Two renames through a third name, undone when the second fails.
  const aside = `${a}.swap-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
  await Deno.rename(b, aside);
  try {
    await Deno.rename(a, b);
  } catch (err) {
    await Deno.rename(aside, b);
    throw err;
  }
  await Deno.rename(aside, a);
  return false;
}
