/**
 * The messages of the twenty mistakes a new user most likely makes in the first hour.
 * Here the message text is the point: each must name the option path, what was expected
 * (the valid keys, the allowed values or the accepted shapes) and what came. The `code`
 * and `field` are asserted too, as everywhere.
 *
 *  1. createWebhooks({ storge })                     — a misspelt top-level option
 *  2. createWebhooks({ retry: { maxAttempts: 3 } })  — an exponential policy without initialDelayMs
 *  3. createWebhooks({ http: { timeout } })           — a duration without its unit
 *  4. createWebhooks({ security: { allowPrivateNetwork } }) — singular for plural
 *  5. createWebhooks({ concurrency: '10' })           — a number from an environment variable
 *  6. createWebhooks({ security: { allowedHosts: ['http://localhost:3000'] } }) — a URL for a host
 *  7. createWebhooks({ circuitBreaker: true })        — true for "the default breaker"
 *  8. publish(type, { …, amount: 123.45 })           — money as a float, not { amount, currency }
 *  9. publish(type, data, { idempotency_key })        — snake_case option
 * 10. publish('payment.succeded', …)                   — a misspelt event type
 * 11. subscriptions.create({ url, events })            — `events` for `eventTypes`
 * 12. subscriptions.create({ url, eventTypes: 'payment.*' }) — a string for an array
 * 13. subscriptions.create({ url: 'http://localhost:3000/…' }) — a local receiver with the guard on
 * 14. subscriptions.create({ …, retry: { maxAttempts: 3 } }) — the same policy mistake per subscription
 * 15. subscriptions.update(id, { secret })             — rotating a secret through update
 * 16. subscriptions.list({ status: 'paused' })         — a status that does not exist
 * 17. deliveries.list({ status: 'failed' })            — a status that does not exist
 * 18. deliveries.replay({ subscriptionId })            — without `since`
 * 19. createSqliteStorage({ file })                    — `file` for `filename`
 * 20. verifyWebhook(message, { secret: 'my-signing-secret' }) — one secret, and not a whsec_ one
 *     (two mistakes in one: the key is `secrets`, and the value must be the whsec_ secret)
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createMemoryStorage, createWebhooks, defineEvents, isWebhookError, type WebhookError } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';

async function errorOf(run: () => unknown): Promise<WebhookError> {
  try {
    await run();
  } catch (error) {
    if (isWebhookError(error)) return error;
    throw error;
  }
  throw new Error('expected a WebhookError, but nothing was thrown');
}

const webhooks = () => createWebhooks({ storage: createMemoryStorage(), security: { allowPrivateNetworks: true } });

const payment = {
  paymentId: 'pay_1',
  customerId: 'cus_1',
  amount: { amount: 12_345, currency: 'EUR' },
  method: 'card' as const,
  occurredAt: '2026-11-26T12:00:00Z',
};

const exponentialShape = '{ initialDelayMs: integer, factor?: number, maxDelayMs?: integer, maxAttempts: integer, jitter?: number }';
const scheduleShape = '{ delaysMs: integer[], jitter?: number }';

describe('messages of the most likely mistakes name the path, what was expected and what came', () => {
  it('a misspelt createWebhooks option: names it, suggests the right one and lists every valid key', async () => {
    const error = await errorOf(() => createWebhooks({ storge: createMemoryStorage() } as never));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'storge' });
    expect(error.message).toContain('Unknown key `storge`');
    expect(error.message).toContain('did you mean `storage`?');
    expect(error.message).toContain(
      'expected one of: events, storage, retry, http, security, concurrency, leaseMs, pollIntervalMs, maxPayloadBytes, transport, clock, random, logger, flowControl, circuitBreaker, autoDisableAfterMs, meter',
    );
  });

  it('an exponential retry policy without initialDelayMs: lists the accepted shapes, what came and what is missing', async () => {
    const error = await errorOf(() => createWebhooks({ retry: { maxAttempts: 3 } } as never));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'retry' });
    expect(error.message).toContain(`Expected \`retry\` to be ${scheduleShape}, ${exponentialShape} or a function (context) => delayMs | null`);
    expect(error.message).toContain('got an object { maxAttempts }');
    expect(error.message).toContain('`retry.initialDelayMs` is required');
    expect(error.message).not.toContain('Invalid input');
  });

  it('http.timeout without its unit: names the path and suggests timeoutMs among the http keys', async () => {
    const error = await errorOf(() => createWebhooks({ http: { timeout: 5_000 } } as never));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'http.timeout' });
    expect(error.message).toContain('Unknown key `timeout` in `http` (did you mean `timeoutMs`?)');
    expect(error.message).toContain('expected one of: timeoutMs, maxResponseBytes, responseSnippetBytes, maxRetryAfterMs, userAgent, tenantHeader');
  });

  it('security.allowPrivateNetwork (singular): suggests allowPrivateNetworks and lists the security keys', async () => {
    const error = await errorOf(() => createWebhooks({ security: { allowPrivateNetwork: true } } as never));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'security.allowPrivateNetwork' });
    expect(error.message).toContain('Unknown key `allowPrivateNetwork` in `security` (did you mean `allowPrivateNetworks`?)');
    expect(error.message).toContain('expected one of: allowPrivateNetworks, requireHttps, allowedHosts, secretsKey, payloadKey, sensitiveHeaders');
  });

  it('concurrency as a string: names the range expected and the string that came', async () => {
    const error = await errorOf(() => createWebhooks({ concurrency: '10' } as never));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'concurrency' });
    expect(error.message).toBe('Expected `concurrency` to be an integer from 1 to 10000, got "10"');
  });

  it('a URL in allowedHosts: names the entry, the kinds of entry accepted and the URL that came', async () => {
    const error = await errorOf(() => createWebhooks({ security: { allowedHosts: ['http://localhost:3000'] } }));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'security.allowedHosts.0' });
    expect(error.message).toBe(
      'Expected `security.allowedHosts.0` to be a hostname, *.wildcard name, IP address or CIDR range, got "http://localhost:3000"',
    );
  });

  it('circuitBreaker: true: lists false and the settings object as the accepted shapes', async () => {
    const error = await errorOf(() => createWebhooks({ circuitBreaker: true } as never));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'circuitBreaker' });
    expect(error.message).toBe(
      'Expected `circuitBreaker` to be false or { failureThreshold?: integer, cooldownMs?: integer, maxCooldownMs?: integer }, got true',
    );
  });

  it('money as a float in publish: names data.amount, the { amount, currency, exponent? } shape and the float', async () => {
    const error = await errorOf(() => webhooks().publish('payment.succeeded', { ...payment, amount: 123.45 } as never));
    expect(error).toMatchObject({ code: 'EVENT_DATA_INVALID', field: 'data.amount' });
    expect(error.message).toBe('Expected `data.amount` to be { amount: integer, currency: string, exponent?: integer }, got 123.45');
  });

  it('a snake_case publish option: names options.idempotency_key and suggests idempotencyKey', async () => {
    const error = await errorOf(() => webhooks().publish('payment.succeeded', payment, { idempotency_key: 'k1' } as never));
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'options.idempotency_key' });
    expect(error.message).toBe('Unknown key `idempotency_key` in `options` (did you mean `idempotencyKey`?); expected one of: idempotencyKey, tenantId, metadata, orderingKey, tx');
  });

  it('a misspelt event type in publish: lists the types of the catalog and the type that came', async () => {
    const error = await errorOf(() => webhooks().publish('payment.succeded' as never, payment as never));
    expect(error).toMatchObject({ code: 'EVENT_TYPE_UNKNOWN', field: 'type' });
    expect(error.message).toContain('payment.succeeded, payment.failed, refund.initiated');
    expect(error.message).toContain('got "payment.succeded"');
  });

  it('`events` for `eventTypes` in subscriptions.create: names the unknown key first and the missing one after, hiding neither', async () => {
    const error = await errorOf(() => webhooks().subscriptions.create({ url: 'https://erp.example.com/hooks', events: ['payment.*'] } as never));
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'events' });
    expect(error.message).toBe(
      'Unknown key `events`; expected one of: url, eventTypes, tenantId, allTenants, secret, signing, headers, description, metadata, retry, flowControl, filter, transform, ordering, versions, tls; `eventTypes` is required: expected an array of string (at most 100)',
    );
    expect(error.message).not.toContain('more)');
  });

  it('eventTypes as a string: names the array expected and the string that came', async () => {
    const error = await errorOf(() => webhooks().subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: 'payment.*' } as never));
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'eventTypes' });
    expect(error.message).toBe('Expected `eventTypes` to be an array of string (at most 100), got "payment.*"');
  });

  it('a localhost URL with the guard on: names url, the host that came and security.allowedHosts as the narrow fix', async () => {
    const guarded = createWebhooks({ storage: createMemoryStorage() });
    const error = await errorOf(() => guarded.subscriptions.create({ url: 'http://localhost:3000/webhooks', eventTypes: ['*'] }));
    expect(error).toMatchObject({ code: 'SUBSCRIPTION_URL_FORBIDDEN', field: 'url' });
    expect(error.message).toContain('host localhost is local');
    expect(error.message).toContain('add "localhost" to security.allowedHosts');
    expect(error.message).toContain('security.allowPrivateNetworks');
  });

  it('a subscription retry policy without initialDelayMs: lists the accepted shapes, null among them, and what is missing', async () => {
    const error = await errorOf(() =>
      webhooks().subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], retry: { maxAttempts: 3 } } as never),
    );
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'retry' });
    expect(error.message).toContain(`Expected \`retry\` to be ${scheduleShape}, ${exponentialShape} or null, got an object { maxAttempts }`);
    expect(error.message).toContain('`retry.initialDelayMs` is required');
  });

  it('a secret in subscriptions.update: names it and lists the keys update accepts', async () => {
    const error = await errorOf(() => webhooks().subscriptions.update('sub_1', { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } as never));
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'secret' });
    expect(error.message).toBe('Unknown key `secret`; expected one of: url, eventTypes, headers, description, metadata, retry, flowControl, filter, transform, ordering, versions, tls');
  });

  it('a subscription status that does not exist: lists the statuses and the one that came', async () => {
    const error = await errorOf(() => webhooks().subscriptions.list({ status: 'paused' } as never));
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'status' });
    expect(error.message).toBe('Expected `status` to be one of "active", "disabled", got "paused"');
  });

  it('a delivery status that does not exist: lists the five statuses, alone or as an array, and the one that came', async () => {
    const error = await errorOf(() => webhooks().deliveries.list({ status: 'failed' } as never));
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'status' });
    expect(error.message).toBe(
      'Expected `status` to be "pending" | "held" | "delivered" | "dead" | "cancelled" or an array of "pending" | "held" | "delivered" | "dead" | "cancelled" (1 to 5 items), got "failed"',
    );
  });

  it('replay without since: says since is required and what it must be', async () => {
    const error = await errorOf(() => webhooks().deliveries.replay({ subscriptionId: 'sub_1' } as never));
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'since' });
    expect(error.message).toBe('`since` is required: expected a Date or epoch milliseconds (an integer ≥ 0)');
  });

  it('`file` for `filename` in createSqliteStorage: names it and lists the valid options', async () => {
    const error = await errorOf(() => createSqliteStorage({ file: 'webhooks.db' } as never));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'file' });
    expect(error.message).toContain('Unknown option `file`');
    expect(error.message).toContain('filename, database');
  });

  it('`secret` for `secrets` in verifyWebhook, and a secret that is not whsec_ base64: each named, with what was expected', async () => {
    const message = { body: '{}', headers: {} };
    const key = await errorOf(() => verifyWebhook(message, { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } as never));
    expect(key).toMatchObject({ code: 'CONFIG_INVALID', field: 'secret' });
    expect(key.message).toBe('Unknown option `secret` (did you mean `secrets`?); expected one of: secrets, toleranceSeconds, now, environment');

    const value = await errorOf(() => verifyWebhook(message, { secrets: 'my-signing-secret' }));
    expect(value).toMatchObject({ code: 'SECRET_INVALID', field: 'secrets' });
    expect(value.message).toMatch(/^Expected `secrets` to be `whsec_` followed by base64/);
    // Ends on what came (without the credential), not mid-sentence.
    expect(value.message).toContain('got a string of 17 characters that is not valid base64');
    expect(value.message).not.toContain('my-signing-secret');
  });
});

describe('messages for a host catalog with schemas the library does not use itself', () => {
  it('describes a recursive (z.lazy) payload field by its shape and names the nested path', async () => {
    type Account = { name: string; children: Account[] };
    const account: z.ZodType<Account> = z.lazy(() => z.object({ name: z.string(), children: z.array(account) }));
    const instance = createWebhooks({ storage: createMemoryStorage(), events: defineEvents({ 'ledger.tree': z.object({ root: account }) }) });
    const error = await errorOf(() => instance.publish('ledger.tree', { root: { name: 'assets', children: [{ name: 7, children: [] }] } } as never));
    expect(error).toMatchObject({ code: 'EVENT_DATA_INVALID', field: 'data.root.children.0.name' });
    expect(error.message).toBe('Expected `data.root.children.0.name` to be a string, got 7');
    const missing = await errorOf(() => instance.publish('ledger.tree', undefined as never));
    expect(missing.message).toBe('`data` is required: expected { root: { name: string, children: ({ … })[] } }');
  });
});
