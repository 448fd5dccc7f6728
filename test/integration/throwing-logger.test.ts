/**
 * A host logger that fails — throws, or returns a promise that rejects — where the library
 * logs a failure it handles: the failure stays handled. Here the storage refuses the first
 * settle (logged at error, written again after a pause): with such a logger the settle batch's
 * write rejected unhandled and ended the process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStorage, createWebhooks, type Logger } from '../../src/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { samplePayment } from '../support/sample-payment.js';

/** A memory storage whose first `settle` is refused, as a database that went away for a moment. */
function storageRefusingFirstSettle(): { storage: StorageAdapter; refused: () => number } {
  const inner = createMemoryStorage();
  let refused = 0;
  const storage = new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property === 'settle') {
        return async (...args: Parameters<StorageAdapter['settle']>) => {
          if (refused === 0) {
            refused++;
            throw new Error('connection lost');
          }
          return target.settle(...args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { storage, refused: () => refused };
}

const loggers: Record<string, (calls: string[]) => Logger> = {
  throws: (calls) => {
    const log = (level: string) => (_fields: Record<string, unknown>, message: string) => {
      calls.push(`${level}: ${message}`);
      throw new Error('log destination closed');
    };
    return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  },
  rejects: (calls) => {
    const log = (level: string) => (_fields: Record<string, unknown>, message: string) => {
      calls.push(`${level}: ${message}`);
      return Promise.reject(new Error('log destination closed')) as unknown as void;
    };
    return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  },
};

describe('a host logger that fails', () => {
  let receiver: LoopbackReceiver | undefined;
  afterEach(async () => {
    await receiver?.close();
  });

  it.each(Object.keys(loggers))('that %s: a refused settle is logged, written again, and the delivery delivered', async (kind) => {
    receiver = await LoopbackReceiver.start();
    const calls: string[] = [];
    const { storage, refused } = storageRefusingFirstSettle();
    const webhooks = createWebhooks({ storage, logger: loggers[kind]!(calls), pollIntervalMs: 50, meter: false, security: { allowPrivateNetworks: true } });
    try {
      await webhooks.subscriptions.create({ url: `${receiver.url}/erp`, eventTypes: ['payment.succeeded'] });
      await webhooks.publish('payment.succeeded', samplePayment(1));
      await webhooks.start();
      await webhooks.drain({ timeoutMs: 10_000 });
      expect(refused()).toBe(1);
      expect(calls).toContain('error: webhooks: settling attempts failed; will retry');
      const { items } = await webhooks.deliveries.list();
      expect(items.map((d) => [d.status, d.attempts])).toEqual([['delivered', 1]]);
    } finally {
      await webhooks.close();
    }
  });
});
