/**
 * One dispatcher process for the multi-instance tests
 * (test/integration/postgres-multi-instance.test.ts): `createWebhooks` on the
 * PostgreSQL storage, started, delivering until SIGTERM (graceful close) or SIGKILL.
 *
 * Run with `node --import tsx test/support/postgres-dispatcher-worker.ts`, configured
 * by environment variables (WORKER_*). It prints `ready` on stdout once started.
 *
 * Every request carries `x-worker: <id>`, so receivers know who sent what. With
 * WORKER_UNSETTLED_FILE set, the worker keeps in that file the number of posts it
 * started whose settle it has not seen confirmed — written synchronously BEFORE each
 * post and after each confirmed settle, so after a SIGKILL the file holds an upper
 * bound on the deliveries another worker may send again (the duplicates).
 */
import { openSync, writeSync } from 'node:fs';
import { createWebhooks } from '../../src/create-webhooks.js';
import { createUndiciTransport } from '../../src/delivery/undici-transport.js';
import type { Transport } from '../../src/delivery/transport.js';
import type { Logger } from '../../src/logger.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`postgres-dispatcher-worker: ${name} is required`);
  return value;
}

const workerId = required('WORKER_ID');
const concurrency = Number(required('WORKER_CONCURRENCY'));
const leaseMs = Number(required('WORKER_LEASE_MS'));
const timeoutMs = Number(required('WORKER_HTTP_TIMEOUT_MS'));
const pollIntervalMs = Number(process.env.WORKER_POLL_MS ?? '250');
const unsettledFile = process.env.WORKER_UNSETTLED_FILE;

const storage = createPostgresStorage({
  connectionString: required('WORKER_DATABASE_URL'),
  schema: required('WORKER_SCHEMA'),
  poolSize: 4,
});

let posted = 0;
let confirmed = 0;
const fd = unsettledFile === undefined ? null : openSync(unsettledFile, 'w');
function recordUnsettled(): void {
  // Fixed width at offset 0: each write fully replaces the previous number.
  if (fd !== null) writeSync(fd, String(posted - confirmed).padEnd(12, ' '), 0);
}
recordUnsettled();

const settle = storage.settle.bind(storage);
storage.settle = async (settlements, now) => {
  const results = await settle(settlements, now);
  confirmed += settlements.length;
  recordUnsettled();
  return results;
};

const http = createUndiciTransport({ connectionsPerOrigin: concurrency });
const transport: Transport = {
  send(request) {
    posted += 1;
    recordUnsettled();
    return http.send({ ...request, headers: { ...request.headers, 'x-worker': workerId } });
  },
  close: () => http.close(),
};

const write = (level: string) => (fields: Record<string, unknown>, message: string) => {
  const error = fields.err instanceof Error ? ` (${(fields.err as { code?: string }).code ?? ''} ${fields.err.message})` : '';
  process.stderr.write(`[worker ${workerId}] ${level}: ${message}${error}\n`);
};
const logger: Logger = { debug: () => undefined, info: () => undefined, warn: write('warn'), error: write('error') };

const webhooks = createWebhooks({
  storage,
  transport,
  concurrency,
  leaseMs,
  pollIntervalMs,
  http: { timeoutMs },
  retry: { delaysMs: [100, 250, 500, 1000, 2000] },
  security: { allowPrivateNetworks: true },
  logger,
});

process.once('SIGTERM', () => {
  void webhooks.close().finally(() => process.exit(0));
});

await webhooks.start();
process.stdout.write('ready\n');
