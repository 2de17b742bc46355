/**
 * Offer an API over a message port: the engine's side of a worker boundary. Each request
 * frame runs on the API as it arrives (calls do not wait for each other: the writer groups
 * concurrent appends itself), and replies go back batched.
 */
import { DbxError, errorData } from "../../errors.ts";
import type { Api, Subscription } from "../api.ts";
import type { OperationName } from "../operations.ts";
import { FrameBatcher, type PortLike, type ReplyFrame, type RequestFrame } from "./wire.ts";

/** A port being served; `close` ends its subscriptions and stops listening. */
export interface ServedPort {
  close(): void;
}

/**
 * Serve `api` on `port`.
 *
 * @example
 * ```ts
 * import type { Api } from "../api.ts";
 * declare const api: Api;
 * const { port1 } = new MessageChannel();
 * const served = serveApiOnPort(api, port1);
 * served.close();
 * port1.close();
 * ```
 */
export function serveApiOnPort(api: Api, port: PortLike): ServedPort {
  // A result the port cannot carry still gets an answer (an error frame always can go).
  const out: FrameBatcher<ReplyFrame> = new FrameBatcher<ReplyFrame>(port, (frame, err) => {
    console.error("error: an API result could not be sent back:", (err as Error)?.message ?? err);
    out.push({
      id: frame.id,
      ok: false,
      error: errorData(new DbxError("internal", "the result could not be sent back")),
    });
  });
  const subscriptions = new Map<number, Subscription>();

  const answer = async (frame: RequestFrame): Promise<unknown> => {
    switch (frame.kind) {
      case "call":
        // The frame's input was just cloned out of the message: nobody else holds it.
        return await api.call(frame.caller, frame.name as OperationName, frame.input as never, {
          owned: true,
        });
      case "subscribe": {
        const subscription = await api.subscribe(frame.caller, frame.input as never);
        subscriptions.set(frame.id, subscription);
        return frame.id;
      }
      case "next": {
        const subscription = subscriptions.get(frame.subscription);
        if (!subscription) return null;
        try {
          const records = await subscription.next(frame.waitMs);
          if (records === null) subscriptions.delete(frame.subscription);
          return records;
        } catch (err) {
          subscriptions.delete(frame.subscription);
          throw err;
        }
      }
      case "close":
        subscriptions.get(frame.subscription)?.close();
        subscriptions.delete(frame.subscription);
        return null;
      default:
        throw new DbxError("invalid_input", "unknown request frame");
    }
  };

  const onMessage = (event: MessageEvent) => {
    const frames = event.data as RequestFrame[];
    if (!Array.isArray(frames)) return;
    for (const frame of frames) {
      answer(frame).then(
        (value) => out.push({ id: frame.id, ok: true, value }),
        (err) => {
          if (!(err instanceof DbxError)) {
            console.error("error: an API call failed:", (err as Error)?.stack ?? err);
          }
          out.push({ id: frame.id, ok: false, error: errorData(err) });
        },
      );
    }
  };
  port.addEventListener("message", onMessage);
  (port as { start?: () => void }).start?.();
  return {
    close() {
      port.removeEventListener("message", onMessage);
      for (const subscription of subscriptions.values()) subscription.close();
      subscriptions.clear();
    },
  };
}
