/**
 * Request bodies: read once, up to a size limit, as UTF-8 text.
 *
 * A declared Content-Length over the limit is refused before anything is read
 * (a body within it is read whole: the server frames it to that length); a
 * streamed (chunked) body is counted as it arrives and refused as soon as it
 * passes the limit, so an oversized body is never held in memory whole.
 */
import type { Context } from "hono";
import type { AppEnv } from "./auth.ts";

// Reading with a size limit is shared by every HTTP surface.
export { readBodyText } from "../http/body.ts";

/**
 * The body the guard read ("" when the request had none).
 *
 * @example
 * ```ts
 * import type { Context } from "hono";
 * import type { AppEnv } from "./auth.ts";
 * declare const c: Context<AppEnv>;
 * const text = bodyText(c);
 * ```
 */
export function bodyText(c: Context<AppEnv>): string {
  return c.get("body") ?? "";
}
