/**
 * Short-lived byte arrays carved out of shared 64 KiB buffers.
 *
 * V8 gives every typed array over 64 bytes its own malloc'd backing store,
 * freed only when the garbage collector finds it dead. The write path makes
 * several such values per event, and between collections those dead stores
 * pile up in the allocator and fragment it: resident memory then grows with
 * the write rate rather than with what is live. Values that live only until
 * their batch is written (the storage binding copies them) are therefore taken
 * from a slab instead; a slab is freed once its last view is.
 *
 * Never hand out a slab view that outlives the write: it pins the whole slab.
 *
 * @example
 * ```ts
 * const slab = new ByteSlab();
 * const value = slab.take(300); // a view into a shared buffer
 * ```
 */
export class ByteSlab {
  readonly #size: number;
  #buffer = new Uint8Array(0);
  #at = 0;

  constructor(size = 64 * 1024) {
    this.#size = size;
  }

  /** A zero-filled view of `length` bytes; large requests get their own buffer. */
  take(length: number): Uint8Array {
    if (length > this.#size / 8) return new Uint8Array(length);
    if (this.#at + length > this.#buffer.length) {
      this.#buffer = new Uint8Array(this.#size);
      this.#at = 0;
    }
    const view = this.#buffer.subarray(this.#at, this.#at + length);
    this.#at += length;
    return view;
  }
}
