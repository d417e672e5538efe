/** Bad command-line usage: printed as one line with the command's usage hint, exit status 2. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

/** A command: `sentinel <name> [options]`. `run` returns the exit status. */
export interface Command {
  name: string;
  /** One line for `sentinel --help`. */
  summary: string;
  /** Usage line(s) for `sentinel <name> --help` and usage errors. */
  usage: string;
  run(argv: string[]): Promise<number>;
}
