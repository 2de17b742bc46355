/**
 * Request bodies of every HTTP surface: read once, up to a size limit, as UTF-8 text.
 *
 * A declared Content-Length over the limit is refused before anything is read
 * (a body within it is read whole: the server frames it to that length); a
 * streamed (chunked) body is counted as it arrives and refused as soon as it
 * passes the limit, so an oversized body is never held in memory whole.
 */
import { DbxError } from "../errors.ts";

/** Largest accepted request body unless told otherwise (a batch of many 1 MiB payloads fits). */
export const DEFAULT_MAX_BODY_BYTES = 8 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });

function tooLarge(max: number): DbxError {
  return new DbxError("too_large", `the request body is larger than ${max} bytes`);
}

/**
 * Read a request's body (at most `max` bytes, else 413) as text; undefined without a body.
 *
 * @example
 * ```ts
 * const request = new Request("http://x/", { method: "POST", body: "{}" });
 * await readBodyText(request, 1 << 20); // "{}"
 * ```
 */
export async function readBodyText(request: Request, max: number): Promise<string | undefined> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > max) throw tooLarge(max);
  if (!request.body) return undefined;
  // With a length declared (and checked above), the server frames the body to exactly that
  // length: read it whole, without a JS stream reader per chunk.
  return declared !== null ? await readWhole(request) : await readLimited(request.body, max);
}

async function readWhole(request: Request): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await request.arrayBuffer());
  } catch {
    throw new DbxError(
      "invalid_input",
      "the request body could not be read to its declared length",
    );
  }
  return decode(bytes);
}

async function readLimited(body: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        // The client went away (or reset) halfway through its body.
        throw new DbxError("invalid_input", "the request body could not be read to its end");
      }
      const { done, value } = chunk;
      if (done) break;
      size += value.length;
      if (size > max) {
        await reader.cancel().catch(() => {});
        throw tooLarge(max);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return decode(bytes);
}

function decode(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new DbxError("invalid_input", "the request body is not valid UTF-8");
  }
}
