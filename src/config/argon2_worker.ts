/**
 * Argon2id in a worker isolate: the hash takes tens of milliseconds of CPU in WebAssembly,
 * which would otherwise stall the thread that asked (on a server, the engine's thread).
 * Started and stopped by `argon2.ts`; it only computes, it never logs what it is given.
 */
/// <reference lib="deno.worker" />
import { argon2id } from "hash-wasm";
import type { Argon2Job, Argon2Reply } from "./argon2.ts";

self.onmessage = async (event: MessageEvent<Argon2Job>) => {
  const { id, password, salt, params } = event.data;
  let reply: Argon2Reply;
  try {
    const hash = await argon2id({
      password,
      salt,
      parallelism: params.p,
      iterations: params.t,
      memorySize: params.m,
      hashLength: params.length,
      outputType: "binary",
    });
    reply = { id, hash };
  } catch (err) {
    reply = { id, error: (err as Error)?.message ?? String(err) };
  }
  self.postMessage(reply);
};
