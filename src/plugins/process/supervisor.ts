/**
 * A process plugin's subprocess, supervised: started with the configured arguments,
 * environment and working directory, greeted with a hello it must acknowledge, fed one
 * message at a time on stdin and read for one acknowledgement per message on stdout. When
 * it exits (or stops answering, or answers out of turn) it is killed and started again
 * after an exponential backoff, also while no event waits, so a plugin that crashes keeps
 * coming back without hammering the machine. Its stderr goes to the server's log.
 *
 * The environment is not the server's: only PATH, HOME, USER, LANG, LC_ALL, TZ, TMPDIR
 * (and Windows' SYSTEMROOT) pass, plus what the plugin's configuration sets, so that no
 * secret in the server's environment reaches a plugin by accident.
 */
import { type BackoffPolicy, retryDelay } from "../delivery/backoff.ts";
import { errorText } from "../delivery/sinks/sink.ts";
import {
  type AckData,
  decodeAck,
  encodeHello,
  MAX_ACK_BYTES,
  MessageReader,
  PLUGIN_PROTOCOL_VERSION,
} from "./messages.ts";

/** Environment variables passed from the server to every plugin. */
export const PASSED_ENV = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT"];

/** Restarts start at 200 ms and double up to 30 s. */
export const RESTART_BACKOFF: BackoffPolicy = { baseMs: 200, maxMs: 30_000 };

/** What to run and how. */
export interface ProcessOptions {
  /** The plugin instance's name (for the hello and the log). */
  instance: string;
  plugin: string;
  version: string;
  /** Find the binary and its directory (at every start: a reinstall takes effect). */
  locate: () => Promise<{ path: string; dir: string }>;
  args: string[];
  env: Record<string, string>;
  /** Working directory; default the binary's directory. */
  cwd?: string;
  /** Longest wait for an acknowledgement (the hello's included). */
  timeoutMs: number;
  /** Start again after an exit (false for a one-off connectivity check). */
  restart: boolean;
  backoff?: BackoffPolicy;
  log?: (line: string) => void;
}

interface Waiter {
  resolve(ack: AckData): void;
  reject(err: Error): void;
}

interface Running {
  child: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  reader: MessageReader;
  exited: Promise<Deno.CommandStatus>;
}

/**
 * A supervised plugin process.
 *
 * @example
 * ```ts
 * const proc = new PluginProcess({
 *   instance: "audit", plugin: "example", version: "1.0.0",
 *   locate: () => Promise.resolve({ path: "/opt/example/run", dir: "/opt/example" }),
 *   args: [], env: {}, timeoutMs: 5000, restart: true,
 * });
 * await proc.ready();
 * await proc.close();
 * ```
 */
export class PluginProcess {
  readonly #o: ProcessOptions;
  #running: Running | undefined;
  #starting: Promise<Running> | undefined;
  #waiters = new Map<bigint, Waiter>();
  #sequence = 0n;
  #failures = 0;
  #restartAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #endPause: (() => void) | undefined;
  #closed = false;
  /** Processes started so far. */
  starts = 0;

  constructor(options: ProcessOptions) {
    this.#o = options;
  }

  /** The running process's id, if one runs. */
  get pid(): number | undefined {
    return this.#running?.child.pid;
  }

  #log(line: string): void {
    this.#o.log?.(`plugin ${this.#o.instance}: ${line}`);
  }

  /** A process that has acknowledged its hello (started now if none runs). */
  ready(): Promise<Running> {
    if (this.#closed) return Promise.reject(new Error("the plugin process is closed"));
    // Until its hello is acknowledged a process is not ready, though it runs.
    if (this.#starting) return this.#starting;
    if (this.#running) return Promise.resolve(this.#running);
    const wait = this.#restartAt - Date.now();
    if (wait > 0 && !this.#o.restart) {
      return Promise.reject(
        new Error(`the plugin process is restarting (next start in ${wait} ms)`),
      );
    }
    // While a restart is due, an event waits for it instead of failing: failing would spend
    // one of its attempts on the plugin's own trouble, and an event that keeps killing the
    // process would starve every other event of a running one.
    this.#starting ??= (wait > 0 ? this.#pause(wait) : Promise.resolve())
      .then(() => this.#start())
      .finally(() => {
        this.#starting = undefined;
      });
    return this.#starting;
  }

  /** Wait `ms` (cut short by close, which then fails the start). */
  async #pause(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#endPause = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.#endPause = undefined;
    if (this.#closed) throw new Error("the plugin process is closed");
  }

  async #start(): Promise<Running> {
    clearTimeout(this.#timer);
    let running: Running;
    try {
      const { path, dir } = await this.#o.locate();
      const env: Record<string, string> = {};
      for (const name of PASSED_ENV) {
        const value = Deno.env.get(name);
        if (value !== undefined) env[name] = value;
      }
      Object.assign(env, this.#o.env);
      const child = new Deno.Command(path, {
        args: this.#o.args,
        env,
        clearEnv: true,
        cwd: this.#o.cwd ?? dir,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      this.starts++;
      running = {
        child,
        writer: child.stdin.getWriter(),
        reader: new MessageReader(child.stdout, MAX_ACK_BYTES),
        exited: child.status,
      };
    } catch (err) {
      this.#failed(`cannot start: ${errorText(err)}`);
      throw new Error(`cannot start the plugin process: ${errorText(err)}`);
    }
    this.#running = running;
    void this.#readStderr(running.child.stderr);
    void this.#readAcks(running);
    void running.exited.then((status) => this.#exited(running, status));
    this.#sequence = 0n;
    try {
      const ack = await this.#send(
        running,
        0n,
        encodeHello({
          protocolVersion: PLUGIN_PROTOCOL_VERSION,
          instance: this.#o.instance,
          plugin: this.#o.plugin,
          version: this.#o.version,
        }),
      );
      if (!ack.ok) throw new Error(`refused the hello: ${ack.error ?? "no reason given"}`);
    } catch (err) {
      this.#kill(running, `the hello failed: ${errorText(err)}`);
      throw new Error(`the plugin process did not start: ${errorText(err)}`);
    }
    return running;
  }

  /** Send one message and wait for its acknowledgement (at most `timeoutMs`). */
  #send(running: Running, sequence: bigint, bytes: Uint8Array): Promise<AckData> {
    return new Promise<AckData>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(sequence);
        const error = new Error(
          `no acknowledgement of message ${sequence} within ${this.#o.timeoutMs} ms`,
        );
        reject(error);
        // A plugin that does not answer is stuck or lost its place: start it afresh.
        this.#kill(running, error.message);
      }, this.#o.timeoutMs);
      this.#waiters.set(sequence, {
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      running.writer.write(bytes).catch((err) => {
        this.#waiters.get(sequence)?.reject(
          new Error(`cannot write to the plugin process: ${errorText(err)}`),
        );
        this.#waiters.delete(sequence);
      });
    });
  }

  /**
   * Deliver one message (its sequence number is given here) and wait for its
   * acknowledgement; throws when the plugin refused it, did not answer, or is not running.
   */
  async deliver(encode: (sequence: bigint) => Uint8Array): Promise<void> {
    const running = await this.ready();
    const sequence = ++this.#sequence;
    const ack = await this.#send(running, sequence, encode(sequence));
    if (!ack.ok) throw new Error(`the plugin refused it: ${ack.error ?? "no reason given"}`);
    this.#failures = 0; // it works: the next crash starts the backoff afresh
  }

  async #readAcks(running: Running): Promise<void> {
    try {
      while (true) {
        const bytes = await running.reader.next();
        if (bytes === undefined) return;
        const ack = decodeAck(bytes);
        const waiter = this.#waiters.get(ack.sequence);
        if (!waiter) {
          this.#kill(running, `acknowledged message ${ack.sequence}, which is not waiting`);
          return;
        }
        this.#waiters.delete(ack.sequence);
        waiter.resolve(ack);
      }
    } catch (err) {
      if (this.#running === running) this.#kill(running, `bad output: ${errorText(err)}`);
    }
  }

  async #readStderr(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        if (rest.length > 4000) {
          lines.push(rest);
          rest = "";
        }
        for (const line of lines) if (line.trim()) this.#log(line.slice(0, 1000));
      }
      if (rest.trim()) this.#log(rest.slice(0, 1000));
    } catch { /* the process went away */ }
  }

  #kill(running: Running, why: string): void {
    if (this.#running !== running) return;
    this.#log(`${why}; stopping it`);
    try {
      running.child.kill("SIGKILL");
    } catch { /* gone already */ }
  }

  #exited(running: Running, status: Deno.CommandStatus): void {
    if (this.#running === running) this.#running = undefined;
    running.reader.cancel();
    const why = status.signal
      ? `the plugin process was killed by ${status.signal}`
      : `the plugin process exited with code ${status.code}`;
    for (const [sequence, waiter] of this.#waiters) {
      this.#waiters.delete(sequence);
      waiter.reject(new Error(why));
    }
    if (!this.#closed) this.#failed(why);
  }

  /** Count a failure and schedule the next start. */
  #failed(why: string): void {
    if (this.#closed) return;
    this.#failures++;
    const delay = retryDelay(this.#failures, this.#o.backoff ?? RESTART_BACKOFF);
    this.#restartAt = Date.now() + delay;
    if (!this.#o.restart) return;
    this.#log(`${why}; starting it again in ${delay} ms`);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed && !this.#running) this.ready().catch(() => {});
    }, delay);
  }

  /**
   * Stop the process: stdin is closed (a plugin should exit at its end), then it is killed
   * if it is still there after `graceMs`.
   */
  async close(graceMs = 2000): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#endPause?.();
    await this.#starting?.catch(() => {});
    const running = this.#running;
    this.#running = undefined;
    if (!running) return;
    await running.writer.close().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gone = await Promise.race([
      running.exited.then(() => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
    ]);
    clearTimeout(timer);
    if (!gone) {
      try {
        running.child.kill("SIGKILL");
      } catch { /* gone already */ }
      await running.exited.catch(() => {});
    }
    await running.reader.cancel();
  }
}
