/**
 * Join byte arrays into one new array (a single part is returned as it is).
 *
 * @example
 * ```ts
 * concatBytes(Uint8Array.of(1, 2), Uint8Array.of(3)); // Uint8Array [1, 2, 3]
 * ```
 */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
