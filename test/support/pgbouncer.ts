/**
 * A real PgBouncer for the tests, started on loopback in front of the test database: Debian's
 * `pgbouncer` package (1.18 on these machines; `.ci/run` installs it when missing). Its
 * config goes to a temporary directory; as root it drops to `nobody` (`-u`), since it
 * refuses to run as root. Three databases: `<db>` with a pool of several server connections;
 * `<db>_single` with one, on which two clients' statements always meet on the same server
 * connection; `<db>_pair` with two, for one test alone, so that its second server connection
 * is opened when that test makes it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForDatabase } from './postgres.js';

/** The pgbouncer binary, or `null` when it is not installed. */
export function pgbouncerBinary(): string | null {
  if (existsSync('/usr/sbin/pgbouncer')) return '/usr/sbin/pgbouncer';
  const found = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : null;
}

/** The version line of the binary, e.g. `PgBouncer 1.18.0`. */
export function pgbouncerVersion(binary: string): string {
  return spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]!.trim();
}

/** A running PgBouncer and how to stop it. */
export interface RunningPgBouncer {
  /** The test database through PgBouncer, pooled in transaction mode. */
  url: string;
  /** The same, through a pool of one server connection. */
  singleServerUrl: string;
  /** The same, through a pool of at most two server connections. */
  pairServerUrl: string;
  /** What it wrote to stderr (its log), for a failing test's message. */
  log: () => string;
  stop: () => Promise<void>;
}

/** Starts PgBouncer in `pool_mode = transaction` in front of `upstreamUrl`; resolves once it accepts connections. */
export async function startPgBouncer(binary: string, upstreamUrl: string): Promise<RunningPgBouncer> {
  const upstream = new URL(upstreamUrl);
  const database = decodeURIComponent(upstream.pathname.slice(1)) || 'postgres';
  const user = decodeURIComponent(upstream.username) || 'postgres';
  const password = decodeURIComponent(upstream.password);
  const directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-pgbouncer-'));
  // As root it reads its files after dropping to nobody.
  await chmod(directory, 0o755);
  const port = await freePort();
  const server = `host=${upstream.hostname} port=${upstream.port || '5432'} dbname=${database} user=${user}${password === '' ? '' : ` password=${password}`}`;
  const ini = [
    '[databases]',
    `${database} = ${server}`,
    `${database}_single = ${server} pool_size=1`,
    `${database}_pair = ${server} pool_size=2`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    // No Unix socket: it could collide with another PgBouncer's.
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(directory, 'userlist.txt')}`,
    'pool_mode = transaction',
    'default_pool_size = 10',
    'max_client_conn = 200',
    'ignore_startup_parameters = extra_float_digits',
    '',
  ].join('\n');
  await writeFile(join(directory, 'pgbouncer.ini'), ini, { mode: 0o644 });
  await writeFile(join(directory, 'userlist.txt'), `"${user}" ""\n`, { mode: 0o644 });
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const child: ChildProcess = spawn(binary, [...(asRoot ? ['-u', 'nobody'] : []), join(directory, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const credentials = `${encodeURIComponent(user)}@`;
  const url = `postgres://${credentials}127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(directory, { recursive: true, force: true });
  };
  try {
    await waitForDatabase(url, 10_000);
  } catch (error) {
    await stop();
    throw new Error(`PgBouncer did not start:\n${log}`, { cause: error });
  }
  const alias = (suffix: string) => `postgres://${credentials}127.0.0.1:${port}/${encodeURIComponent(`${database}_${suffix}`)}`;
  return { url, singleServerUrl: alias('single'), pairServerUrl: alias('pair'), log: () => log, stop };
}
