/**
 * The worker isolate in which a server runs one `dbx` command for a remote caller
 * (`dbx --remote`): the command is checked against the allowlist (remote_commands.ts), then
 * runs as the CLI always does, but every command's backend is the API this worker was given
 * (a message port to the server's API, bound by the server to the caller's token), and what
 * it prints is captured instead of written. One command per worker; the server terminates
 * it afterwards (or when it takes too long).
 */
import { connectApiOverPort } from "../api/port/connect.ts";
import { bindCaller } from "../api/api.ts";
import { useApiForEveryCommand } from "./backend.ts";
import { remoteCommandRefusal } from "./remote_commands.ts";
import { runCommandLine } from "./run.ts";

/** What the server sends: the arguments, the API port and the output cap. */
export interface RemoteRun {
  type: "run";
  args: string[];
  api: MessagePort;
  maxOutputBytes: number;
}

/** What the worker answers. */
export interface RemoteDone {
  type: "done";
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Collects printed text up to a cap (what is past it is counted, not kept). */
class Capture {
  #parts: string[] = [];
  #size = 0;
  dropped = 0;
  constructor(readonly max: number) {}

  add(text: string): void {
    if (this.#size + text.length > this.max) {
      const room = Math.max(0, this.max - this.#size);
      this.#parts.push(text.slice(0, room));
      this.dropped += text.length - room;
      this.#size = this.max;
      return;
    }
    this.#parts.push(text);
    this.#size += text.length;
  }

  text(): string {
    const out = this.#parts.join("");
    return this.dropped > 0 ? `${out}\n[${this.dropped} more characters not shown]\n` : out;
  }
}

/** Route everything the command prints (console, Deno.stdout/stderr) into the captures. */
function capture(stdout: Capture, stderr: Capture): void {
  const decoder = new TextDecoder();
  const format = (args: unknown[]) =>
    args.map((a) => typeof a === "string" ? a : Deno.inspect(a, { colors: false })).join(" ") +
    "\n";
  const out = (...args: unknown[]) => stdout.add(format(args));
  const err = (...args: unknown[]) => stderr.add(format(args));
  globalThis.console = { ...console, log: out, info: out, debug: out, error: err, warn: err };
  const redirect = (stream: object, into: Capture) => {
    const sink = stream as unknown as Record<string, unknown>;
    sink.writeSync = (bytes: Uint8Array) => {
      into.add(decoder.decode(bytes));
      return bytes.length;
    };
    sink.write = (bytes: Uint8Array) => {
      into.add(decoder.decode(bytes));
      return Promise.resolve(bytes.length);
    };
    sink.isTerminal = () => false;
  };
  redirect(Deno.stdout, stdout);
  redirect(Deno.stderr, stderr);
}

declare global {
  /**
   * Window-only (the worker's lib lacks it), but the CLI this worker runs names it for its
   * confirmations: declared so that the worker's module graph type-checks. No command
   * allowed remotely prompts.
   */
  function prompt(message?: string, defaultValue?: string): string | null;
}

/**
 * The worker's own scope. Typed here rather than with the `deno.worker` lib: that lib would
 * apply to the whole CLI this module imports (which prompts, a window-only API), and the
 * check of the worker's module graph would fail.
 */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<RemoteRun>) => void) | null;
  postMessage(message: RemoteDone): void;
};

scope.onmessage = async (event: MessageEvent<RemoteRun>) => {
  const { args, api, maxOutputBytes } = event.data;
  const stdout = new Capture(maxOutputBytes);
  const stderr = new Capture(maxOutputBytes);
  capture(stdout, stderr);
  let exitCode: number;
  const refusal = remoteCommandRefusal(args);
  if (refusal !== undefined) {
    stderr.add(`error: dbx --remote: ${refusal}\n`);
    exitCode = 2;
  } else {
    const port = connectApiOverPort(api);
    // The server binds the port to the caller: the caller named here is not trusted.
    useApiForEveryCommand(bindCaller(port, { kind: "token", token: "" }));
    try {
      exitCode = await runCommandLine(args);
    } catch (err) {
      stderr.add(`error: ${(err as Error)?.message ?? String(err)}\n`);
      exitCode = 1;
    } finally {
      port.close();
    }
  }
  const done: RemoteDone = { type: "done", exitCode, stdout: stdout.text(), stderr: stderr.text() };
  scope.postMessage(done);
};
