/**
 * Argon2id (RFC 9106) through `hash-wasm`, computed in a worker isolate so that no thread
 * that asked is blocked. A worker lives only while hashes are pending: it starts with the
 * first job and ends when the last one is answered, so nothing lingers in a CLI process or
 * after a server shut down. Where workers cannot start, the hash runs on this thread.
 */
import { argon2id } from "hash-wasm";

/** Argon2id cost parameters: memory in KiB, passes, lanes, and the output length. */
export interface Argon2Params {
  m: number;
  t: number;
  p: number;
  length: number;
}

/** A job for the worker. */
export interface Argon2Job {
  id: number;
  password: string;
  salt: Uint8Array;
  params: Argon2Params;
}

/** The worker's answer to one job. */
export type Argon2Reply = { id: number; hash: Uint8Array } | { id: number; error: string };

interface Pending {
  resolve(hash: Uint8Array): void;
  reject(err: Error): void;
}

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

function stopWorker(): void {
  worker?.terminate();
  worker = undefined;
}

function startWorker(): Worker {
  const started = new Worker(new URL("./argon2_worker.ts", import.meta.url).href, {
    type: "module",
    name: "dbx-argon2",
  });
  started.onmessage = (event: MessageEvent<Argon2Reply>) => {
    const reply = event.data;
    const job = pending.get(reply.id);
    if (!job) return;
    pending.delete(reply.id);
    if ("hash" in reply) job.resolve(reply.hash);
    else job.reject(new Error(`argon2id failed: ${reply.error}`));
    if (pending.size === 0 && worker === started) stopWorker();
  };
  started.onerror = (event) => {
    event.preventDefault();
    if (worker === started) worker = undefined;
    started.terminate();
    const failed = [...pending.values()];
    pending.clear();
    for (const job of failed) job.reject(new Error(`argon2id worker failed: ${event.message}`));
  };
  return started;
}

/**
 * Argon2id of `password` with `salt`: the raw hash bytes.
 *
 * @example
 * ```ts
 * const salt = crypto.getRandomValues(new Uint8Array(16));
 * const hash = await argon2idHash("secret", salt, { m: 19456, t: 2, p: 1, length: 32 });
 * hash.length; // 32
 * ```
 */
export function argon2idHash(
  password: string,
  salt: Uint8Array,
  params: Argon2Params,
): Promise<Uint8Array> {
  try {
    worker ??= startWorker();
  } catch {
    // No workers here (e.g. a compiled binary without the worker module): hash in place.
    return onThisThread(password, salt, params);
  }
  const id = nextId++;
  const done = Promise.withResolvers<Uint8Array>();
  pending.set(id, done);
  worker.postMessage({ id, password, salt, params } satisfies Argon2Job);
  return done.promise;
}

function onThisThread(password: string, salt: Uint8Array, params: Argon2Params) {
  return argon2id({
    password,
    salt,
    parallelism: params.p,
    iterations: params.t,
    memorySize: params.m,
    hashLength: params.length,
    outputType: "binary",
  });
}
