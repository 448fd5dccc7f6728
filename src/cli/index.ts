#!/usr/bin/env node
/**
 * The `bookkeeper-webhooks` bin (`npx @bookkeeper/webhooks …`). Sets the exit code rather
 * than calling `process.exit`, so that stdout is flushed when piped.
 */
import { processIo } from './cli-io.js';
import { runCli } from './run-cli.js';

// A reader that stops early (`… | head`) closes the pipe: that ends the output, not in a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

void runCli(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
