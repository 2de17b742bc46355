/**
 * A reused byte buffer for bytes that are consumed (hashed, copied) before the
 * buffer's next use, so hot paths need not allocate one per call. Needs over
 * MAX_SCRATCH_BYTES should get their own allocation: the buffer never shrinks.
 *
 * @example
 * ```ts
 * const scratch = new ScratchBuffer();
 * const text = "Grüße";
 * const bytes = scratch.reserve(text.length * 3);
 * const view = bytes.subarray(0, new TextEncoder().encodeInto(text, bytes).written);
 * ```
 */
export const MAX_SCRATCH_BYTES = 1 << 20;

export class ScratchBuffer {
  #bytes: Uint8Array;

  constructor(initialBytes = 4096) {
    this.#bytes = new Uint8Array(initialBytes);
  }

  /** A buffer of at least `length` bytes, holding whatever its last use left. */
  reserve(length: number): Uint8Array {
    if (length > this.#bytes.length) {
      this.#bytes = new Uint8Array(Math.max(length, this.#bytes.length * 2));
    }
    return this.#bytes;
  }
}
