/**
 * Platforms of plugin bundles. A bundle built for several platforms has one top-level
 * directory per platform, named as its builder names it: `linux-x86_64`, `x86_64-linux`,
 * or a Rust target triple such as `x86_64-unknown-linux-gnu` or `aarch64-apple-darwin`.
 * Installed, it lives under the name of {@link currentTarget}.
 */

/** An operating system and a CPU architecture, normalized. */
export interface Platform {
  os: "linux" | "darwin" | "windows" | "freebsd";
  arch: "x86_64" | "aarch64";
}

const OS_WORDS: Record<string, Platform["os"]> = {
  linux: "linux",
  darwin: "darwin",
  apple: "darwin",
  macos: "darwin",
  osx: "darwin",
  windows: "windows",
  win32: "windows",
  win64: "windows",
  freebsd: "freebsd",
};
const ARCH_WORDS: Record<string, Platform["arch"]> = {
  x86_64: "x86_64",
  amd64: "x86_64",
  x64: "x86_64",
  aarch64: "aarch64",
  arm64: "aarch64",
};

/**
 * The platform a directory name stands for, if it names one (an OS and an architecture
 * among its `-`/`_`-separated words; `x86_64` counts as one word).
 *
 * @example
 * ```ts
 * parsePlatform("x86_64-unknown-linux-gnu"); // { os: "linux", arch: "x86_64" }
 * parsePlatform("docs"); // undefined
 * ```
 */
export function parsePlatform(name: string): Platform | undefined {
  const words = name.toLowerCase().replaceAll("x86_64", "x8664").split(/[-_.]/)
    .map((w) => w === "x8664" ? "x86_64" : w);
  const os = [...new Set(words.map((w) => OS_WORDS[w]).filter((o) => o !== undefined))];
  const arch = [...new Set(words.map((w) => ARCH_WORDS[w]).filter((a) => a !== undefined))];
  if (os.length !== 1 || arch.length !== 1) return undefined;
  return { os: os[0], arch: arch[0] };
}

/** The platform this process runs on (undefined where no bundle can be built for it). */
export function currentPlatform(): Platform | undefined {
  const os = OS_WORDS[Deno.build.os];
  const arch = ARCH_WORDS[Deno.build.arch];
  return os && arch ? { os, arch } : undefined;
}

/**
 * The directory name of this platform's installs: `<os>-<arch>`, e.g. `linux-x86_64`.
 *
 * @example
 * ```ts
 * currentTarget(); // e.g. "linux-x86_64"
 * ```
 */
export function currentTarget(): string {
  const p = currentPlatform();
  return p ? targetName(p) : `${Deno.build.os}-${Deno.build.arch}`;
}

/**
 * The directory name of a platform.
 *
 * @example
 * ```ts
 * targetName({ os: "darwin", arch: "aarch64" }); // "darwin-aarch64"
 * ```
 */
export function targetName(p: Platform): string {
  return `${p.os}-${p.arch}`;
}
