/** Thrown by a command to end with a given exit code after it printed its own output. */
export class CliExit extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message = "") {
    super(message);
    this.exitCode = exitCode;
  }
}
