/**
 * Reading what a command works on from a file or from stdin (`-`, or no file and data
 * piped in). A terminal on stdin with no file named is a usage error rather than a wait
 * for input that the user did not know was expected.
 *
 * Reads stop at {@link MAX_INPUT_BYTES}: a body, a capture or a data file is a webhook's
 * size, and `/dev/zero`, a FIFO that never ends or a multi-gigabyte file named by mistake
 * would otherwise take the machine's memory before failing. A read that fails names the
 * file: Node's own message does not for a directory (`EISDIR: illegal operation on a
 * directory, read`), and a command that reads two files would leave the user guessing.
 */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CliIo } from './cli-io.js';
import { UsageError } from './usage-error.js';

/** Most bytes a command reads from one file or from stdin: 64 MiB. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/**
 * The bytes of `path` (relative to the working directory), or of stdin for `-` or no path.
 * @param what - what the input is, for the usage error (`the body`).
 * @throws UsageError past {@link MAX_INPUT_BYTES}; Node's error of a failed read (exit 1), with the path in its message.
 */
export async function readInput(io: CliIo, path: string | undefined, what: string, command: string): Promise<Buffer> {
  if (path !== undefined && path !== '-') return readInputFile(io, path, what, command);
  if (io.stdin.isTTY === true) throw new UsageError(`Expected ${what} in a file argument or piped to stdin, got a terminal on stdin`, command);
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of io.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buffer.length;
    if (bytes > MAX_INPUT_BYTES) throw tooLarge(what, 'stdin', command);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The bytes of the file at `path` (relative to the working directory), at most {@link MAX_INPUT_BYTES}.
 * @throws UsageError past the cap; Node's error of a failed open or read, with the path in its message.
 */
export async function readInputFile(io: CliIo, path: string, what: string, command: string): Promise<Buffer> {
  const absolute = resolve(io.cwd, path);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(absolute, 'r');
    const chunks: Buffer[] = [];
    let bytes = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, MAX_INPUT_BYTES + 1 - bytes));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      bytes += bytesRead;
      if (bytes > MAX_INPUT_BYTES) throw tooLarge(what, path, command);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, bytes);
  } catch (error) {
    throw namingPath(error, absolute);
  } finally {
    await handle?.close();
  }
}

function tooLarge(what: string, from: string, command: string): UsageError {
  return new UsageError(`Expected ${what} of at most ${MAX_INPUT_BYTES / 1024 / 1024} MiB, got more from ${from}`, command);
}

/** Node's error of a read, its message naming `path` when Node's does not (EISDIR names none); its `code` kept. */
export function namingPath(error: unknown, path: string): unknown {
  if (!(error instanceof Error) || error instanceof UsageError || error.message.includes(path)) return error;
  const named = new Error(`${error.message} '${path}'`, { cause: error });
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(named, { code });
  return named;
}
