/**
 * Remote commands (`dbx --remote`): each one runs in a worker isolate of its own, given by
 * the server's composition (the CLI's runner module: the socket does not know the CLI), with
 * a message port to the API on which every call is made for the caller — whatever the
 * command asks, it cannot act as anyone else. The worker is terminated when the command is
 * done or its time is up; a few run at once, more are refused.
 */
import type { Api } from "../api/api.ts";
import type { Caller } from "../api/caller.ts";
import { serveApiOnPort } from "../api/port/serve.ts";
import { DbxError } from "../errors.ts";
import type { CommandRunner } from "./dispatch.ts";

export interface CommandRunnerOptions {
  api: Api;
  /** URL of the runner worker module (`src/cli/remote_runner.ts`). */
  workerUrl: string;
  /** Longest a command may run (default 60 s). */
  timeoutMs?: number;
  /** Commands running at once (default 4). */
  maxConcurrent?: number;
  /** Room for the output in the answer frame, in bytes. */
  maxOutputBytes: number;
}

/** An API on which every call is made for `caller`, whoever the call names. */
function boundTo(api: Api, caller: Caller): Api {
  return {
    call: (_claimed, name, input, options) => api.call(caller, name, input, options),
    subscribe: (_claimed, input) => api.subscribe(caller, input),
  };
}

/** Cut `text` to at most `max` UTF-8 bytes (on a character boundary). */
function cut(text: string, max: number): { text: string; cut: boolean } {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return { text, cut: false };
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return { text: new TextDecoder().decode(bytes.subarray(0, end)), cut: true };
}

/**
 * The command runner of a socket.
 *
 * @example
 * ```ts
 * import type { Api } from "../api/api.ts";
 * declare const api: Api;
 * const run = createCommandRunner({
 *   api,
 *   workerUrl: new URL("../cli/remote_runner.ts", import.meta.url).href,
 *   maxOutputBytes: 60_000,
 * });
 * const { exitCode } = await run(["aggregate", "list"], { kind: "token", token: "eyJ…" });
 * ```
 */
export function createCommandRunner(options: CommandRunnerOptions): CommandRunner {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxConcurrent = options.maxConcurrent ?? 4;
  let running = 0;
  return async (args, caller) => {
    if (running >= maxConcurrent) {
      throw new DbxError("overloaded", "too many remote commands are running; retry shortly");
    }
    running++;
    const worker = new Worker(options.workerUrl, { type: "module", name: "dbx-remote-command" });
    const channel = new MessageChannel();
    const served = serveApiOnPort(boundTo(options.api, caller), channel.port1);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const done = await new Promise<{ exitCode: number; stdout: string; stderr: string }>(
        (resolve, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new DbxError("unavailable", `the command did not finish within ${timeoutMs} ms`),
              ),
            timeoutMs,
          );
          worker.onmessage = (event) => resolve(event.data);
          worker.onerror = (event) => {
            event.preventDefault();
            // The reason goes to the server's log; the caller gets no internals.
            console.error(`error: a remote command's worker failed: ${event.message}`);
            reject(new DbxError("internal", "the command's worker failed"));
          };
          worker.postMessage(
            { type: "run", args, api: channel.port2, maxOutputBytes: options.maxOutputBytes },
            [channel.port2],
          );
        },
      );
      // Both outputs fit in one frame: stderr first (it says what went wrong), stdout after.
      const stderr = cut(done.stderr, Math.floor(options.maxOutputBytes / 4));
      const stdout = cut(
        done.stdout,
        options.maxOutputBytes - new TextEncoder().encode(stderr.text).length - 200,
      );
      const note = stdout.cut || stderr.cut
        ? `\n[output cut to fit one socket frame (${options.maxOutputBytes} bytes); page with --take/--skip]\n`
        : "";
      return {
        exitCode: typeof done.exitCode === "number" ? done.exitCode : 1,
        stdout: stdout.text,
        stderr: stderr.text + note,
      };
    } finally {
      clearTimeout(timer);
      running--;
      served.close();
      channel.port1.close();
      worker.terminate();
    }
  };
}
