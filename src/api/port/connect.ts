/**
 * An API across a message port: the surface's side of a worker boundary. It implements the
 * same `Api` interface as the in-process one, so a surface does not know which it has.
 */
import { DbxError, fromErrorData } from "../../errors.ts";
import type { Api, Subscription } from "../api.ts";
import type { EventRecord } from "../operations.ts";
import { FrameBatcher, type PortLike, type ReplyFrame, type RequestFrame } from "./wire.ts";

/** An API reached over a port; `close` fails what is still waiting. */
export interface PortApi extends Api {
  close(): void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

type Pending = { resolve: (value: unknown) => void; reject: (err: unknown) => void };

/**
 * Connect to an API served on the other end of `port` (see `serveApiOnPort`).
 *
 * @example
 * ```ts
 * const { port1, port2 } = new MessageChannel();
 * const api = connectApiOverPort(port2);
 * api.close();
 * port1.close();
 * port2.close();
 * ```
 */
export function connectApiOverPort(port: PortLike): PortApi {
  const pending = new Map<number, Pending>();
  const out = new FrameBatcher<RequestFrame>(port, (frame) => {
    const waiting = pending.get(frame.id);
    pending.delete(frame.id);
    waiting?.reject(
      new DbxError(
        "invalid_input",
        "the input cannot be passed on: it is not plain data or is nested too deeply",
      ),
    );
  });
  let nextId = 1;
  let closed = false;

  const request = <T>(frame: DistributiveOmit<RequestFrame, "id">) => {
    if (closed) return Promise.reject(new DbxError("unavailable", "the API connection is closed"));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      out.push({ ...frame, id } as RequestFrame);
    });
  };

  const onMessage = (event: MessageEvent) => {
    const frames = event.data as ReplyFrame[];
    if (!Array.isArray(frames)) return;
    for (const frame of frames) {
      const waiting = pending.get(frame.id);
      if (!waiting) continue;
      pending.delete(frame.id);
      if (frame.ok) waiting.resolve(frame.value);
      else waiting.reject(fromErrorData(frame.error));
    }
  };
  port.addEventListener("message", onMessage);
  (port as { start?: () => void }).start?.();

  return {
    // The input is taken when the call is made (the batch is posted a moment later).
    call: (caller, name, input, options) => {
      let copy: unknown = input;
      if (!options?.owned) {
        try {
          copy = structuredClone(input);
        } catch {
          return Promise.reject(new DbxError("invalid_input", "the input is not plain data"));
        }
      }
      return request({ kind: "call", caller, name, input: copy });
    },
    async subscribe(caller, input): Promise<Subscription> {
      const id = await request<number>({ kind: "subscribe", caller, input });
      let ended = false;
      return {
        async next(waitMs) {
          if (ended) return null;
          const records = await request<EventRecord[] | null>({
            kind: "next",
            subscription: id,
            waitMs,
          }).catch((err) => {
            ended = true;
            throw err;
          });
          if (records === null) ended = true;
          return records;
        },
        close() {
          if (ended) return;
          ended = true;
          request({ kind: "close", subscription: id }).catch(() => {});
        },
      };
    },
    close() {
      if (closed) return;
      closed = true;
      port.removeEventListener("message", onMessage);
      const failure = new DbxError("unavailable", "the API connection is closed");
      for (const waiting of pending.values()) waiting.reject(failure);
      pending.clear();
    },
  };
}
