/**
 * Reading what a command works on from a file or from stdin (`-`, or no file and data
 * piped in). A terminal on stdin with no file named is a usage error rather than a wait
 * for input that the user did not know was expected.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CliIo } from './cli-io.js';
import { UsageError } from './usage-error.js';

/**
 * The bytes of `path` (relative to the working directory), or of stdin for `-` or no path.
 * @param what - what the input is, for the usage error (`the body`).
 */
export async function readInput(io: CliIo, path: string | undefined, what: string, command: string): Promise<Buffer> {
  if (path !== undefined && path !== '-') return readFile(resolve(io.cwd, path));
  if (io.stdin.isTTY === true) throw new UsageError(`Expected ${what} in a file argument or piped to stdin, got a terminal on stdin`, command);
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
