/**
 * The CLI as a child process fed bad files and odd times: a directory where a file goes,
 * input that never ends, a listen secret file that is a directory, an impossible date and a
 * date-time without a zone. Each fails with its exit code and a message on stderr that
 * names what was wrong; nothing goes to stdout, and no secret is echoed.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bookkeeperEvents, createWebhooks } from '../../src/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { cleanEnv, runCli } from './cli-process.js';

const secret = 'whsec_' + Buffer.alloc(32, 9).toString('base64');
const work = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-attack-cli-'));
const directory = join(work, 'a-directory');
mkdirSync(directory);
const bodyFile = join(work, 'body.json');
writeFileSync(bodyFile, '{"type":"payment.succeeded"}');

describe('a directory where a file goes', () => {
  it.each([
    ['sign <dir>', ['sign', directory, '--secret', secret]],
    ['verify <body> --headers <dir>', ['verify', bodyFile, '--headers', directory, '--secret', secret]],
    ['verify --message <dir>', ['verify', '--message', directory, '--secret', secret]],
    ['trigger --data <dir>', ['trigger', 'payment.succeeded', '--to', 'http://127.0.0.1:9/', '--secret', secret, '--data', directory]],
  ])('%s fails with exit 1, naming the directory on stderr', async (_what, args) => {
    const run = await runCli(args);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`error EISDIR: illegal operation on a directory, read '${directory}'\n`);
    expect(run.stderr).not.toContain(secret);
  });

  it('listen with its secret file a directory fails with exit 1, naming it', async () => {
    const env = cleanEnv();
    const secretFile = join(env.XDG_CONFIG_HOME!, 'bookkeeper-webhooks', 'listen.json');
    mkdirSync(secretFile, { recursive: true });
    const run = await runCli(['listen', '--port', '0'], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`error EISDIR: illegal operation on a directory, read '${secretFile}'\n`);
  });
});

describe('input that does not end', () => {
  it('sign of more than 64 MiB on stdin fails with exit 2 instead of reading on', async () => {
    const run = await runCli(['sign', '--secret', secret], { input: Buffer.alloc(64 * 1024 * 1024 + 1, 0x20) });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error Expected the body to sign of at most 64 MiB, got more from stdin\n/);
  });

  it.skipIf(!existsSync('/dev/zero'))('sign /dev/zero fails with exit 2 instead of filling the memory', async () => {
    const run = await runCli(['sign', '/dev/zero', '--secret', secret]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error Expected the body to sign of at most 64 MiB, got more from \/dev\/zero\n/);
  }, 30_000);

  it.skipIf(!existsSync('/dev/zero'))('trigger --data /dev/zero fails with exit 2 instead of filling the memory', async () => {
    const run = await runCli(['trigger', 'payment.succeeded', '--to', 'http://127.0.0.1:9/', '--secret', secret, '--data', '/dev/zero']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error Expected the --data file of at most 64 MiB, got more from \/dev\/zero\n/);
  }, 30_000);
});

describe('times of --since and --until', () => {
  let store: string[];

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-attack-cli-store-')), 'webhooks.db');
    const app = createWebhooks({ events: bookkeeperEvents, storage: createSqliteStorage({ filename: file }), meter: false });
    await app.start();
    await app.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['payment.*'] });
    await app.publish('payment.succeeded', bookkeeperEvents.examples['payment.succeeded']);
    await app.close();
    store = ['--storage', `sqlite:${file}`];
  });

  it.each([
    ['an impossible date', '2026-02-30T00:00:00Z'],
    ['hour 24', '2026-01-01T24:00:00Z'],
  ])('refuses %s with exit 2 rather than rolling it over', async (_what, time) => {
    const run = await runCli(['deliveries', 'list', ...store, '--since', time]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`got ${JSON.stringify(time)}`);
  });

  it.each(['2026-01-01T00:00:00', '2026-01-01 00:00', '2026-01-01T00:00:00.5'])(
    'refuses the date-time %j without a zone with exit 2, asking for one, rather than reading it in local time',
    async (time) => {
      const run = await runCli(['deliveries', 'list', ...store, '--until', time], { env: cleanEnv({ TZ: 'Pacific/Kiritimati' }) });
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/with its zone/);
    },
  );

  it('takes a date alone as midnight UTC and a date-time with its zone, whatever the machine\'s time zone', async () => {
    const env = cleanEnv({ TZ: 'Pacific/Kiritimati' });
    const [dateOnly, zoned, later] = await Promise.all([
      runCli(['deliveries', 'list', ...store, '--since', '2026-01-01', '--json'], { env }),
      runCli(['deliveries', 'list', ...store, '--since', '2026-01-01T01:00:00+01:00', '--json'], { env }),
      runCli(['deliveries', 'list', ...store, '--since', '9999-12-31', '--json'], { env }),
    ]);
    for (const run of [dateOnly, zoned, later]) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(dateOnly.stdout).items).toHaveLength(1);
    expect(JSON.parse(zoned.stdout).items).toHaveLength(1);
    expect(JSON.parse(later.stdout).items).toHaveLength(0);
  });
});
