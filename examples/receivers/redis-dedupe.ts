// Dedupe shared by every instance of a consumer app: a DedupeStore on Redis.
// `WEBHOOK_SECRET=whsec_… REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/receivers/redis-dedupe.ts`
//
// The default in-memory store protects one process. Behind a load balancer, a retry
// of the same webhook may reach another instance: only a shared store keeps the
// payment from being booked twice.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'redis';
import type { BookkeeperEvents } from '../../src/index.js';
import { SignatureVerificationError, createNodeHandler, createWebhookRouter, type DedupeStore } from '../../src/receiver/index.js';
import { createLedger } from './ledger.js';
import { runIfMain, type ExampleOptions, type RunningExample } from './run-example.js';

type RedisClient = ReturnType<typeof createClient>;

const PROCESSED = 'processed';

// Compare-and-delete, atomic in Redis: deletes the key only if it still holds this claim's
// token. A handler that outlived its lease must not free the claim another request (in this
// instance or another) took since; a plain DEL would let a third copy run beside the second.
const RELEASE_OWN_CLAIM = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * A DedupeStore on Redis. Each id is one key: the claim's token while in flight (with the
 * lease as its expiry), then `processed` (with the dedupe window as its expiry).
 */
export function createRedisDedupeStore(client: RedisClient, options: { keyPrefix?: string } = {}): DedupeStore {
  const prefix = options.keyPrefix ?? 'webhooks:dedupe:';
  return {
    async claim(id, leaseSeconds, token) {
      // SET … NX EX: atomic; of two instances racing on one id, exactly one wins.
      const set = await client.set(prefix + id, token, { condition: 'NX', expiration: { type: 'EX', value: leaseSeconds } });
      if (set !== null) return 'claimed';
      // Lost: processed, or another request holds it. A key gone in between counts as
      // in flight; the sender retries and the retry claims it.
      return (await client.get(prefix + id)) === PROCESSED ? 'processed' : 'in-flight';
    },
    async complete(id, ttlSeconds) {
      // Whoever holds the key now: the event was handled, so it is processed.
      await client.set(prefix + id, PROCESSED, { expiration: { type: 'EX', value: ttlSeconds } });
    },
    async release(id, token) {
      await client.eval(RELEASE_OWN_CLAIM, { keys: [prefix + id], arguments: [token] });
    },
  };
}

export async function start(
  { secret, port, ledger = createLedger() }: ExampleOptions,
  { redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix }: { redisUrl?: string; keyPrefix?: string } = {},
): Promise<RunningExample> {
  const redis: RedisClient = createClient({ url: redisUrl });
  await redis.connect();

  const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', (event) => ledger.bookPayment(event));
  const webhook = createNodeHandler({
    secrets: secret,
    dedupe: createRedisDedupeStore(redis, keyPrefix === undefined ? {} : { keyPrefix }),
    onEvent: router.handle,
    onError: (error) => {
      // Refused requests (bad signature, stale timestamp): the sender sees only the code. A throwing
      // onEvent is logged by the receiver itself (option `logger`, console.error by default).
      if (error instanceof SignatureVerificationError) console.warn(`webhook refused: ${error.code}`);
    },
  });

  const server = createServer((req, res) => {
    if (req.url === '/webhooks') webhook(req, res);
    else res.writeHead(404).end();
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`,
    ledger,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await redis.quit();
    },
  };
}

runIfMain(import.meta.url, start);
