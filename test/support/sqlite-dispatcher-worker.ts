/**
 * A dispatcher process on a SQLite file, for the crash tests: started, killed with
 * SIGKILL mid-burst, and started again on the same file.
 *
 * argv: <db file> <mode: publish|dispatch> [events to publish] [timing: short|default]
 * (`short`, the default: 2.5 s leases for the burst tests; `default`: the library's own
 * 60 s leases and 15 s timeout, for the tests of what a restart does without waiting them out).
 * Prints "ready" once dispatching, "published <n>" after the burst; exits on SIGTERM after a graceful stop.
 */
import { createWebhooks } from '../../src/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';

const [filename, mode, count, timing = 'short'] = process.argv.slice(2);
if (!filename || (mode !== 'publish' && mode !== 'dispatch')) throw new Error('usage: <db> publish|dispatch [count]');

const webhooks = createWebhooks({
  storage: createSqliteStorage({ filename }),
  security: { allowPrivateNetworks: true },
  ...(timing === 'default' ? {} : { http: { timeoutMs: 1_500 }, leaseMs: 2_500 }),
  pollIntervalMs: 100,
  concurrency: 20,
  retry: { delaysMs: [50, 100, 200, 400, 800] },
});
await webhooks.start();
process.stdout.write('ready\n');

process.on('SIGTERM', () => {
  void webhooks.close().then(() => process.exit(0));
});

if (mode === 'publish') {
  const total = Number(count ?? 1000);
  for (let n = 0; n < total; n++) {
    // A host publishes from request handlers, between other I/O; better-sqlite3 is
    // synchronous, so a tight loop would not let the dispatcher's sockets run at all.
    if (n % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
    await webhooks.publish('payment.succeeded', {
      paymentId: `pay_${n}`,
      customerId: 'cus_crash',
      amount: { amount: 100 + n, currency: 'EUR' },
      method: 'card',
      occurredAt: '2026-11-26T12:00:00.000Z',
    });
  }
  process.stdout.write(`published ${total}\n`);
}
