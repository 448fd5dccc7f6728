/**
 * The `bookkeeper-webhooks` command line: finds the command (`sign`, `catalog export`, …),
 * parses its flags and runs it, and turns what went wrong into an exit code scripts can
 * use — 0 ok, 1 failure (a refused signature, a non-2xx answer, a coded library error),
 * 2 usage (an unknown command or flag, a missing argument).
 */
import { isWebhookError } from '../errors.js';
import type { CliIo } from './cli-io.js';
import { parseCommandArgs, type Command } from './command.js';
import { commands } from './commands/index.js';
import { UsageError } from './usage-error.js';

const programName = 'bookkeeper-webhooks';

/** Exit codes. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Runs the command line `argv` (without node and the script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command: Command | undefined;
  try {
    const found = findCommand(argv);
    if (typeof found === 'string') {
      io.out(found);
      return EXIT_OK;
    }
    command = found.command;
    const args = parseCommandArgs(command, found.rest);
    if (args === null) {
      io.out(command.help);
      return EXIT_OK;
    }
    return await command.run(args, io);
  } catch (error) {
    return reportError(io, error, command);
  }
}

/** The command and its arguments, or a help text to print. */
function findCommand(argv: readonly string[]): { command: Command; rest: readonly string[] } | string {
  const [first, second] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') return programHelp();
  const single = commands.find((command) => command.name === first);
  if (single !== undefined) return { command: single, rest: argv.slice(1) };
  const group = commands.filter((command) => command.name.startsWith(`${first} `));
  if (group.length === 0) {
    throw new UsageError(`Unknown command ${JSON.stringify(first)}: expected one of ${topLevelNames().join(', ')}`);
  }
  const names = group.map((command) => command.name.slice(first.length + 1));
  if (second === '--help' || second === '-h') return commandList(`Usage: ${programName} ${first} <${names.join('|')}> [options]`, group);
  if (second === undefined) {
    throw new UsageError(`Expected a subcommand after \`${first}\` (${names.join(', ')}), got ${second === undefined ? 'nothing' : second}`, first);
  }
  const sub = group.find((command) => command.name === `${first} ${second}`);
  if (sub === undefined) throw new UsageError(`Unknown subcommand ${JSON.stringify(second)} of \`${first}\`: expected one of ${names.join(', ')}`, first);
  return { command: sub, rest: argv.slice(2) };
}

function topLevelNames(): string[] {
  return [...new Set(commands.map((command) => command.name.split(' ')[0]!))];
}

function commandList(heading: string, listed: readonly Command[]): string {
  const width = Math.max(...listed.map((command) => command.name.length)) + 2;
  const lines = listed.map((command) => `  ${command.name.padEnd(width)}${command.summary}`);
  return `${heading}\n\nCommands:\n${lines.join('\n')}\n\nRun \`${programName} <command> --help\` for a command's options.\nExit codes: 0 ok, 1 failure, 2 usage error.`;
}

function programHelp(): string {
  return commandList(
    `Usage: ${programName} <command> [options]

Standard Webhooks tools for @bookkeeper/webhooks: receive, send, sign and verify
test events on your machine, export the event catalog, and work with a delivery log.`,
    commands,
  );
}

function reportError(io: CliIo, error: unknown, command: Command | undefined): number {
  const { red, bold } = io.errorStyle;
  if (error instanceof UsageError) {
    io.err(`${red(bold('error'))} ${error.message}`);
    const name = error.command ?? command?.name;
    io.err(name === undefined ? `Run \`${programName} --help\` for the commands.` : `Run \`${programName} ${name} --help\` for usage.`);
    return EXIT_USAGE;
  }
  if (isWebhookError(error)) {
    io.err(`${red(bold('error'))} ${error.code}: ${error.message}`);
    return EXIT_FAILURE;
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  // Node's own errors already begin with their code ("ENOENT: no such file or directory, open …").
  const prefix = typeof code === 'string' && !message.startsWith(`${code}:`) ? `${code}: ` : '';
  io.err(`${red(bold('error'))} ${prefix}${message}`);
  return EXIT_FAILURE;
}
