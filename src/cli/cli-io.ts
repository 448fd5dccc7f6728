/**
 * What a command may touch of its process: its three streams, its environment and its
 * working directory. Passed in, so that every command writes through one place and the
 * colour decision (a TTY, and no NO_COLOR) is made once per stream.
 */
import { createStyle, type Style } from './style.js';

/** A stream the CLI writes to. */
export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** The process as a command sees it. */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Styles for stdout: plain text unless stdout is a TTY and NO_COLOR is unset. */
  readonly style: Style;
  /** Styles for stderr, decided on stderr's own TTY. */
  readonly errorStyle: Style;
  /** Writes a line to stdout. */
  out(line?: string): void;
  /** Writes a line to stderr. */
  err(line?: string): void;
}

/** The io of the running process. */
export function processIo(): CliIo {
  return createIo({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() });
}

/** An io over given streams. */
export function createIo(parts: Pick<CliIo, 'stdout' | 'stderr' | 'stdin' | 'env' | 'cwd'>): CliIo {
  return {
    ...parts,
    style: createStyle(parts.stdout, parts.env),
    errorStyle: createStyle(parts.stderr, parts.env),
    out: (line = '') => parts.stdout.write(line + '\n'),
    err: (line = '') => parts.stderr.write(line + '\n'),
  };
}
