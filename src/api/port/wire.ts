/**
 * The messages an API crosses a message port with (between the engine's thread and the
 * worker isolates that serve a surface). Every message is a list of frames, so that many
 * calls made together cost one message; each request frame gets exactly one reply frame
 * with the same id.
 */
import type { ErrorData } from "../../errors.ts";
import type { Caller } from "../caller.ts";

/** A request from the surface's side. */
export type RequestFrame =
  | { id: number; kind: "call"; caller: Caller; name: string; input: unknown }
  | { id: number; kind: "subscribe"; caller: Caller; input: unknown }
  | { id: number; kind: "next"; subscription: number; waitMs: number }
  | { id: number; kind: "close"; subscription: number };

/** The answer to one request frame. */
export type ReplyFrame =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorData };

/** What both ends need of a port (a MessagePort, a Worker, a worker's global scope). */
export interface PortLike {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  removeEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}

/**
 * Collects frames and posts them as one message at the end of the current microtask
 * checkpoint: calls made together (a burst of requests) cross the port together.
 *
 * @example
 * ```ts
 * const { port1 } = new MessageChannel();
 * const out = new FrameBatcher<number>(port1);
 * out.push(1);
 * out.push(2); // one message [1, 2]
 * port1.close();
 * ```
 */
export class FrameBatcher<T> {
  readonly #port: PortLike;
  readonly #unsendable?: (frame: T, err: unknown) => void;
  #frames: T[] = [];
  #scheduled = false;

  /**
   * `unsendable` is told of a frame the port cannot carry (a value nested too deeply for the
   * structured clone, or not plain data), so that its caller gets an answer; the other
   * frames of the batch still go.
   */
  constructor(port: PortLike, unsendable?: (frame: T, err: unknown) => void) {
    this.#port = port;
    this.#unsendable = unsendable;
  }

  push(frame: T): void {
    this.#frames.push(frame);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Post what is queued now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#frames.length === 0) return;
    const frames = this.#frames;
    this.#frames = [];
    try {
      this.#port.postMessage(frames);
    } catch {
      // One frame spoils the batch: send each alone, and report the ones that cannot go.
      for (const frame of frames) {
        try {
          this.#port.postMessage([frame]);
        } catch (err) {
          this.#unsendable?.(frame, err);
        }
      }
    }
  }
}
