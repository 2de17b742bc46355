/** System tools some suites need: found on PATH, or installed from Debian's packages. */

async function onPath(binary: string): Promise<boolean> {
  try {
    const r = await new Deno.Command("sh", {
      args: ["-c", `command -v ${binary}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}

async function apt(args: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const r = await new Deno.Command("apt-get", {
      args: ["-y", "-qq", "-o", "DPkg::Lock::Timeout=120", ...args],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return { ok: r.success, output: decoder.decode(r.stdout) + decoder.decode(r.stderr) };
  } catch (err) {
    return { ok: false, output: String(err) };
  }
}

const installing = new Map<string, Promise<void>>();

/**
 * Make sure `binary` is on PATH, installing the Debian package `pkg` (quietly, with
 * apt-get; the suites run as root) when it is missing. Throws with a clear message when
 * it cannot be had: a test that needs the tool fails instead of skipping silently.
 *
 * @example
 * ```ts
 * await ensureTool("strace", "strace");
 * ```
 */
export function ensureTool(binary: string, pkg: string): Promise<void> {
  let pending = installing.get(binary);
  if (!pending) {
    pending = (async () => {
      if (await onPath(binary)) return;
      let attempt = await apt(["install", "--no-install-recommends", pkg]);
      if (!attempt.ok) {
        // A fresh machine may have no package lists yet.
        await apt(["update"]);
        attempt = await apt(["install", "--no-install-recommends", pkg]);
      }
      if (!attempt.ok || !(await onPath(binary))) {
        throw new Error(
          `this test needs \`${binary}\` (Debian package ${pkg}); it is not installed and ` +
            `\`apt-get install -y ${pkg}\` failed:\n${attempt.output.trim()}`,
        );
      }
    })();
    installing.set(binary, pending);
  }
  return pending;
}
