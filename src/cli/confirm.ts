/** A yes/no question on the terminal, for actions that send many requests (`deliveries replay`). */
import { createInterface } from 'node:readline/promises';
import type { CliIo } from './cli-io.js';

/** Asks `question` on stderr and reads one answer line from stdin: true for y/yes. */
export async function confirm(io: CliIo, question: string): Promise<boolean> {
  const readline = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream, terminal: false });
  try {
    const answer = await readline.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    readline.close();
  }
}
