/**
 * Progress of a long command (backup, restore, verify, upgrade): one line on stderr, redrawn
 * in place, only when stderr is a terminal, so piped output and logs stay clean.
 */

/** One line of progress on stderr, redrawn in place, only when stderr is a terminal. */
export class ProgressLine {
  readonly #on = Deno.stderr.isTerminal();
  readonly #encoder = new TextEncoder();
  #last = 0;
  #shown = false;

  update(text: string, force = false): void {
    if (!this.#on) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    let columns = 80;
    try {
      columns = Deno.consoleSize().columns;
    } catch {
      // not a console
    }
    const line = text.length >= columns ? text.slice(0, columns - 2) + "…" : text;
    Deno.stderr.writeSync(this.#encoder.encode(`\r\x1b[2K${line}`));
    this.#shown = true;
  }

  clear(): void {
    if (this.#on && this.#shown) Deno.stderr.writeSync(this.#encoder.encode("\r\x1b[2K"));
    this.#shown = false;
  }
}

/**
 * A byte count for people.
 *
 * @example
 * ```ts
 * formatBytes(12345678); // "11.8 MiB"
 * ```
 */
export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
