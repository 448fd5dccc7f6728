/**
 * The shape of a CLI command and the parsing of its arguments with node's `util.parseArgs`
 * (strict: an unknown flag, a flag without its value or an extra argument is a usage error
 * that names what was expected and what came).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CliIo } from './cli-io.js';
import { UsageError } from './usage-error.js';

/** The flags of a command, as `util.parseArgs` takes them. */
export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** Flag values after parsing: strings, booleans, or arrays of them for repeatable flags. */
export type FlagValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** A parsed command line. */
export interface CommandArgs {
  readonly values: FlagValues;
  readonly positionals: readonly string[];
}

/** One command (or subcommand: `catalog export`). */
export interface Command {
  /** As typed: `sign`, `catalog export`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The `--help` text, usage line first. */
  readonly help: string;
  readonly options: CommandOptions;
  /** The positional arguments, by name, in order; a `?` suffix marks an optional one. */
  readonly positionals: readonly string[];
  /** Runs the command; resolves to the exit code (0 ok, 1 failure). */
  run(args: CommandArgs, io: CliIo): Promise<number>;
}

/** `--json`, shared by every read command. */
export const jsonOption = { json: { type: 'boolean' } } as const satisfies CommandOptions;

/** The flags every command accepts beside its own. */
const commonOptions = { help: { type: 'boolean', short: 'h' } } as const satisfies CommandOptions;

/**
 * Parses `argv` (the arguments after the command's name) for `command`.
 * @returns `null` when `--help` was asked for.
 * @throws UsageError for anything `command` does not accept.
 */
export function parseCommandArgs(command: Command, argv: readonly string[]): CommandArgs | null {
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: { ...command.options, ...commonOptions }, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError(parseErrorMessage(error, command), command.name);
  }
  if (parsed.values.help === true) return null;
  const required = command.positionals.filter((name) => !name.endsWith('?'));
  if (parsed.positionals.length < required.length) {
    const missing = required.slice(parsed.positionals.length).map((name) => `<${name}>`);
    throw new UsageError(`Expected ${missing.join(' ')} after \`${command.name}\`, got ${describeGot(parsed.positionals)}`, command.name);
  }
  if (parsed.positionals.length > command.positionals.length) {
    const extra = parsed.positionals.slice(command.positionals.length);
    const expected = command.positionals.length === 0 ? 'no arguments' : `at most ${command.positionals.map((name) => `<${name.replace(/\?$/, '')}>`).join(' ')}`;
    throw new UsageError(`Expected ${expected} after \`${command.name}\`, got the extra ${extra.map((arg) => JSON.stringify(arg)).join(' ')}`, command.name);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

function describeGot(positionals: readonly string[]): string {
  return positionals.length === 0 ? 'nothing' : positionals.map((arg) => JSON.stringify(arg)).join(' ');
}

/** util.parseArgs' messages are long and name its own API; this says what the command expected. */
function parseErrorMessage(error: unknown, command: Command): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const flags = Object.entries(command.options)
    .map(([name, option]) => `--${name}${option.type === 'string' ? ' <value>' : ''}`)
    .join(', ');
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'([^']+)'/.exec(message)?.[1] ?? message;
    return `Unknown flag ${flag} for \`${command.name}\`: expected one of ${flags || 'no flags'} (or --help)`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /Option '(?:-\w, )?(--[^ ']+)/.exec(message)?.[1];
    if (flag === undefined) return message;
    // parseArgs reads a value that starts with "-" (a negative number) as the next flag.
    return message.includes('argument missing')
      ? `Expected a value after ${flag}, got none`
      : `Expected a value after ${flag}, got a flag (a value that starts with "-" is given as ${flag}=<value>)`;
  }
  return message;
}

/** The value of a string flag, or `undefined`. */
export function stringFlag(args: CommandArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The values of a repeatable string flag. */
export function stringFlags(args: CommandArgs, name: string): string[] {
  const value = args.values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((item): item is string => typeof item === 'string');
}

/** A required string flag. @throws UsageError when it is missing. */
export function requiredFlag(args: CommandArgs, command: Command, name: string, shape: string): string {
  const value = stringFlag(args, name);
  if (value === undefined) throw new UsageError(`Expected --${name} ${shape} for \`${command.name}\`, got none`, command.name);
  return value;
}

/** Whether a boolean flag was given. */
export function booleanFlag(args: CommandArgs, name: string): boolean {
  return args.values[name] === true;
}
