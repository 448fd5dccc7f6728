// Typed handlers: dispatch by type, the optional validate hook (here backed by the
// catalog's own zod schemas, as a consumer would), unknown types, registration rules.
import { describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import { z } from 'zod';
import { bookkeeperEvents, defineEvents, type BookkeeperEvents } from '../../src/index.js';
import { createWebHandler, createWebhookRouter, type WebhookEvent, type WebhookEventOf } from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const occurredAt = '2026-01-15T10:00:00.000Z';
const payment: WebhookEventOf<BookkeeperEvents, 'payment.succeeded'> = {
  id: 'evt_router_1',
  type: 'payment.succeeded',
  timestamp: occurredAt,
  data: { paymentId: 'pay_1', customerId: 'cus_1', amount: { amount: 12_300, currency: 'EUR' }, method: 'card', occurredAt },
};
const refund: WebhookEventOf<BookkeeperEvents, 'refund.initiated'> = {
  id: 'evt_router_2',
  type: 'refund.initiated',
  timestamp: occurredAt,
  data: { refundId: 'ref_1', paymentId: 'pay_1', amount: { amount: 500, currency: 'EUR' }, reason: 'requested_by_customer', occurredAt },
};

const codeOf = (error: unknown): string | undefined => (isWebhookError(error) ? error.code : undefined);

async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'resolved';
  } catch (error) {
    return codeOf(error) ?? String(error);
  }
}

describe('createWebhookRouter', () => {
  it('runs the handler registered for the event type, and only that one', async () => {
    const seen: string[] = [];
    const router = createWebhookRouter<BookkeeperEvents>()
      .on('payment.succeeded', (event) => {
        seen.push(`payment ${event.data.paymentId} ${event.data.amount.amount}`);
      })
      .on('refund.initiated', (event) => {
        seen.push(`refund ${event.data.refundId}`);
      });
    await router.handle(refund);
    await router.handle(payment);
    expect(seen).toEqual(['refund ref_1', 'payment pay_1 12300']);
  });

  it('is usable unbound, as onEvent: router.handle', async () => {
    const seen: string[] = [];
    const { handle } = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', (event) => {
      seen.push(event.id);
    });
    await handle(payment);
    expect(seen).toEqual([payment.id]);
  });

  it('awaits an async handler and passes its rejection on', async () => {
    const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('ledger down');
    });
    expect(await outcome(() => router.handle(payment))).toBe('Error: ledger down');
  });

  it('acknowledges an event type without a handler by default, and hands it to onUnknown when given', async () => {
    expect(await outcome(() => createWebhookRouter<BookkeeperEvents>().handle(refund))).toBe('resolved');
    const unknown: WebhookEvent[] = [];
    const router = createWebhookRouter<BookkeeperEvents>({ onUnknown: (event) => void unknown.push(event) }).on('payment.succeeded', () => undefined);
    const future = { id: 'evt_router_3', type: 'payout.scheduled', timestamp: occurredAt, data: {} };
    await router.handle(future);
    await router.handle(payment);
    expect(unknown).toEqual([future]);
  });

  it('passes the data validate returned to the handler', async () => {
    const received: unknown[] = [];
    const router = createWebhookRouter<BookkeeperEvents>({
      validate: (type, data) => ({ ...(data as object), checkedAs: type }),
    }).on('payment.succeeded', (event) => {
      received.push(event.data);
    });
    await router.handle(payment);
    expect(received).toEqual([{ ...payment.data, checkedAs: 'payment.succeeded' }]);
  });

  it('refuses data with EVENT_DATA_INVALID, the cause attached, when the zod-backed validate throws', async () => {
    const booked: string[] = [];
    const router = createWebhookRouter<BookkeeperEvents>({
      validate: (type, data) => bookkeeperEvents.schemas[type].parse(data),
    }).on('payment.succeeded', (event) => {
      booked.push(event.data.paymentId);
    });
    const floatAmount = { ...payment, data: { ...payment.data, amount: { amount: 123.45, currency: 'EUR' } } };
    let thrown: unknown;
    await router.handle(floatAmount).catch((error: unknown) => (thrown = error));
    expect(codeOf(thrown)).toBe('EVENT_DATA_INVALID');
    expect((thrown as { cause?: { name?: string } }).cause?.name).toBe('ZodError');
    await router.handle(payment);
    expect(booked).toEqual(['pay_1']);
  });

  it("gives validate a versioned envelope's version, so an event of an older version is checked against its own schema", async () => {
    const events = defineEvents({
      'payment.succeeded': {
        versions: {
          1: { schema: z.strictObject({ paymentId: z.string(), amountMinor: z.int() }) },
          2: {
            schema: z.strictObject({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() }),
            downgrade: (data: { paymentId: string; netMinor: number; feeMinor: number }) => ({ paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor }),
          },
        },
      },
    });
    const seen: Array<number | undefined> = [];
    const router = createWebhookRouter<typeof events>({
      validate: (type, data, version) => {
        seen.push(version);
        const versions = events.versions[type];
        return (version === undefined ? events.schemas[type] : versions.schemas[version as 1 | 2]).parse(data);
      },
    }).on('payment.succeeded', () => undefined);
    await router.handle({ id: 'evt_v1', type: 'payment.succeeded', version: 1, timestamp: occurredAt, data: { paymentId: 'pay_1', amountMinor: 1000 } });
    await router.handle({ id: 'evt_v2', type: 'payment.succeeded', version: 2, timestamp: occurredAt, data: { paymentId: 'pay_2', netMinor: 970, feeMinor: 30 } });
    const wrongShape = router.handle({ id: 'evt_v1_bad', type: 'payment.succeeded', version: 1, timestamp: occurredAt, data: { paymentId: 'pay_3', netMinor: 1, feeMinor: 0 } } as never);
    expect(await outcome(() => wrongShape)).toBe('EVENT_DATA_INVALID');
    expect(seen).toEqual([1, 2, 1]);
  });

  it('does not validate events it has no handler for', async () => {
    let validated = 0;
    const router = createWebhookRouter<BookkeeperEvents>({
      validate: (_type, data) => {
        validated += 1;
        return data;
      },
    });
    await router.handle(payment);
    expect(validated).toBe(0);
  });

  it('refuses a second handler for the same type, so a payment is never booked by two', () => {
    const router = createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', () => undefined);
    expect(() => router.on('payment.succeeded', () => undefined)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', field: 'payment.succeeded' }));
  });

  it.each([
    ['a handler that is not a function', () => createWebhookRouter<BookkeeperEvents>().on('payment.succeeded', 'book' as never)],
    ['an empty type', () => createWebhookRouter<Record<string, unknown>>().on('', () => undefined)],
    ['a validate that is not a function', () => createWebhookRouter({ validate: {} as never })],
    ['an unknown option', () => createWebhookRouter({ onMissing: () => undefined } as never)],
  ])('refuses %s with CONFIG_INVALID', (_name, make) => {
    expect(make).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('a router behind createWebHandler', () => {
  const secret = generateSecret();

  function signedRequest(event: WebhookEvent): Request {
    const body = JSON.stringify(event);
    const timestampSeconds = Math.floor(Date.now() / 1000);
    return new Request('https://erp.example/webhooks', {
      method: 'POST',
      body,
      headers: {
        'webhook-id': event.id,
        'webhook-timestamp': String(timestampSeconds),
        'webhook-signature': signWebhook({ id: event.id, timestamp: timestampSeconds, body, secrets: secret }),
      },
    });
  }

  it('answers 204 to valid data, 400 EVENT_DATA_INVALID to data its schema refuses, and books once', async () => {
    const booked: string[] = [];
    const router = createWebhookRouter<BookkeeperEvents>({ validate: (type, data) => bookkeeperEvents.schemas[type].parse(data) }).on(
      'payment.succeeded',
      (event) => {
        booked.push(event.data.paymentId);
      },
    );
    const handle = createWebHandler({ secrets: secret, onEvent: router.handle });
    const invalid = await handle(signedRequest({ ...payment, id: 'evt_router_bad', data: { ...payment.data, amount: { amount: 1, currency: 'euro' } } }));
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toEqual({ error: 'EVENT_DATA_INVALID' });
    expect((await handle(signedRequest(payment))).status).toBe(204);
    expect((await handle(signedRequest(payment))).status).toBe(200);
    expect(booked).toEqual(['pay_1']);
  });
});
