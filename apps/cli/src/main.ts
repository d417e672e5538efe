#!/usr/bin/env node
/**
 * `sentinel <command> [options]`: the command-line tool. Each command lives in commands/ and is
 * registered in commands/index.ts. Failures print exactly one line on stderr and exit non-zero
 * (2 for usage errors, 1 for bad input or anything else); set SENTINEL_DEBUG=1 for stack traces.
 */
import { CliUsageError } from './cli-error.js';
import { commands } from './commands/index.js';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: sentinel <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'sentinel <command> --help shows a command’s options.',
  ].join('\n');
}

/** One line: messages from deep inside (e.g. a JSON parse error) must not spill over several. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(
      `sentinel: unknown command "${name}" (commands: ${commands.map((c) => c.name).join(', ')})\n`,
    );
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (process.env.SENTINEL_DEBUG) process.stderr.write(`${e.stack}\n`);
    if (e instanceof CliUsageError) {
      process.stderr.write(`sentinel ${name}: ${oneLine(e.message)} (see sentinel ${name} --help)\n`);
      return 2;
    }
    process.stderr.write(`sentinel ${name}: ${oneLine(e.message)}\n`);
    return 1;
  }
}

// Exit explicitly: a WebGPU device can keep the event loop alive after its work is done.
process.exit(await main(process.argv.slice(2)));
