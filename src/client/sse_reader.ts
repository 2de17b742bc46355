/**
 * Reading a Server-Sent Events stream message by message, with a time limit per wait.
 * Comment lines (heartbeats) are skipped; `id`, `event` and `data` fields are kept.
 */

/** One SSE message. */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * A reader over an SSE body.
 *
 * @example
 * ```ts
 * const body = new Response("event: event\ndata: {}\n\n").body!;
 * const reader = new SseReader(body);
 * await reader.next(1000); // { event: "event", data: "{}" }
 * ```
 */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #text = "";
  #messages: SseMessage[] = [];
  #pending: Promise<ReadableStreamReadResult<string>> | undefined;
  #done = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** True when a parsed message is waiting (no read needed). */
  get buffered(): boolean {
    return this.#messages.length > 0;
  }

  /** The next message; `null` at the end of the stream; `undefined` when `waitMs` passed. */
  async next(waitMs: number): Promise<SseMessage | null | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const message = this.#messages.shift();
      if (message) return message;
      if (this.#done) return null;
      this.#pending ??= this.#reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      });
      const result = await Promise.race([this.#pending, timeout]).finally(() =>
        clearTimeout(timer)
      );
      if (result === "timeout") return undefined;
      this.#pending = undefined;
      if (result.done) {
        this.#done = true;
        continue;
      }
      this.#parse(result.value);
    }
  }

  cancel(): void {
    this.#done = true;
    this.#reader.cancel().catch(() => {});
  }

  #parse(chunk: string): void {
    this.#text += chunk.replace(/\r\n?/g, "\n");
    let end: number;
    while ((end = this.#text.indexOf("\n\n")) >= 0) {
      const block = this.#text.slice(0, end);
      this.#text = this.#text.slice(end + 2);
      const message: SseMessage = { event: "message", data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "event") message.event = value;
        else if (field === "id") message.id = value;
      }
      if (data.length === 0 && message.id === undefined) continue;
      message.data = data.join("\n");
      this.#messages.push(message);
    }
  }
}
