import { describe, expect, it } from 'vitest';
import { standardWebhooksDelaysMs, type RetryContext } from '../../src/delivery/backoff.js';
import { ConfigError, WebhookError, isWebhookError } from '../../src/errors.js';
import { createMemoryStorage, createWebhooks, systemClock } from '../../src/index.js';
import { resolveWebhooksOptions } from '../../src/webhooks-options.js';
import { configErrorOf, thrownBy } from '../support/rejections.js';

describe('resolveWebhooksOptions defaults', () => {
  const resolved = resolveWebhooksOptions({});

  it('times requests out after 15 s', () => {
    expect(resolved.http.timeoutMs).toBe(15_000);
  });

  it('leases a claimed delivery for 60 s', () => {
    expect(resolved.leaseMs).toBe(60_000);
  });

  it('keeps 50 posts in flight at most', () => {
    expect(resolved.concurrency).toBe(50);
  });

  it('refuses private networks and allows http:', () => {
    expect(resolved.security).toMatchObject({ allowPrivateNetworks: false, requireHttps: false });
  });

  it('retries on the Standard Webhooks schedule with 10 % jitter', () => {
    expect(resolved.retry).toEqual({ kind: 'schedule', delaysMs: [...standardWebhooksDelaysMs], jitter: 0.1 });
  });

  it('fills the remaining HTTP settings', () => {
    expect(resolved.http).toEqual({
      timeoutMs: 15_000,
      maxResponseBytes: 65_536,
      responseSnippetBytes: 1024,
      maxRetryAfterMs: 3_600_000,
      userAgent: 'Bookkeeper-Webhooks/1',
      tenantHeader: null,
      proxy: null,
    });
  });

  it('limits no tenant and labels no metric with a tenant', () => {
    expect(resolved.tenantLimits).toEqual({ maxSubscriptions: null, ratePerSecond: null, burst: 10 });
    expect(resolved.metricsTenantAttribute).toBe(false);
  });

  it('polls every second and caps payloads at 256 KiB', () => {
    expect(resolved.pollIntervalMs).toBe(1_000);
    expect(resolved.maxPayloadBytes).toBe(262_144);
  });

  it('uses the wall clock and Math.random by default', () => {
    // zod copies an object default, so compare what the clock does, not its identity.
    expect(resolved.clock).toEqual(systemClock);
    const before = Date.now();
    const now = resolved.clock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
    expect(resolved.random).toBe(Math.random);
  });

  it('leaves events, storage and transport for the factory to default', () => {
    expect(resolved.events).toBeUndefined();
    expect(resolved.storage).toBeUndefined();
    expect(resolved.transport).toBeUndefined();
  });

  it('resolves undefined like an empty object', () => {
    expect(resolveWebhooksOptions(undefined)).toEqual(resolved);
  });
});

describe('resolveWebhooksOptions result', () => {
  it('is frozen, with frozen http and security objects', () => {
    const resolved = resolveWebhooksOptions({ http: { timeoutMs: 1_000 }, security: { allowPrivateNetworks: true } });
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.http)).toBe(true);
    expect(Object.isFrozen(resolved.security)).toBe(true);
    expect(Object.isFrozen(resolved.retry)).toBe(true);
  });

  it('does not keep a reference to the caller’s objects', () => {
    const http = { timeoutMs: 2_000 };
    const resolved = resolveWebhooksOptions({ http });
    http.timeoutMs = 1;
    expect(resolved.http.timeoutMs).toBe(2_000);
  });

  it('keeps the given values over the defaults', () => {
    const storage = createMemoryStorage();
    const random = (): number => 0.25;
    const resolved = resolveWebhooksOptions({
      storage,
      random,
      concurrency: 7,
      leaseMs: 120_000,
      http: { timeoutMs: 30_000, userAgent: 'Test/1' },
      security: { requireHttps: true },
    });
    expect(resolved.storage).toBe(storage);
    expect(resolved.random).toBe(random);
    expect(resolved.concurrency).toBe(7);
    expect(resolved.leaseMs).toBe(120_000);
    expect(resolved.http).toMatchObject({ timeoutMs: 30_000, userAgent: 'Test/1', maxResponseBytes: 65_536 });
    expect(resolved.security).toMatchObject({ allowPrivateNetworks: false, requireHttps: true });
  });
});

describe('resolveWebhooksOptions tenants', () => {
  it('keeps every tenant limit given, frozen', () => {
    const resolved = resolveWebhooksOptions({ tenantLimits: { maxSubscriptions: 25, ratePerSecond: 2.5, burst: 5 } });
    expect(resolved.tenantLimits).toEqual({ maxSubscriptions: 25, ratePerSecond: 2.5, burst: 5 });
    expect(Object.isFrozen(resolved.tenantLimits)).toBe(true);
  });

  it('defaults the burst of a tenant rate to 10, and leaves the other limits unset', () => {
    expect(resolveWebhooksOptions({ tenantLimits: { ratePerSecond: 100 } }).tenantLimits).toEqual({ maxSubscriptions: null, ratePerSecond: 100, burst: 10 });
    expect(resolveWebhooksOptions({ tenantLimits: { maxSubscriptions: 3 } }).tenantLimits).toEqual({ maxSubscriptions: 3, ratePerSecond: null, burst: 10 });
  });

  it('takes a tenant header name in any case and sends it in lower case', () => {
    expect(resolveWebhooksOptions({ http: { tenantHeader: 'X-Tenant-Id' } }).http.tenantHeader).toBe('x-tenant-id');
  });

  it('turns the tenant metrics attribute on when asked', () => {
    expect(resolveWebhooksOptions({ metricsTenantAttribute: true }).metricsTenantAttribute).toBe(true);
  });

  it.each([
    ['an unknown key in tenantLimits', { tenantLimits: { maxSubscription: 5 } }, 'tenantLimits.maxSubscription'],
    ['tenantLimits.maxSubscriptions 0', { tenantLimits: { maxSubscriptions: 0 } }, 'tenantLimits.maxSubscriptions'],
    ['a fractional tenantLimits.maxSubscriptions', { tenantLimits: { maxSubscriptions: 2.5 } }, 'tenantLimits.maxSubscriptions'],
    ['tenantLimits.ratePerSecond 0', { tenantLimits: { ratePerSecond: 0 } }, 'tenantLimits.ratePerSecond'],
    ['tenantLimits.ratePerSecond null', { tenantLimits: { ratePerSecond: null } }, 'tenantLimits.ratePerSecond'],
    ['tenantLimits.burst 0', { tenantLimits: { ratePerSecond: 1, burst: 0 } }, 'tenantLimits.burst'],
    ['tenantLimits.burst without a rate', { tenantLimits: { burst: 5 } }, 'tenantLimits.burst'],
    ['tenantLimits as a number', { tenantLimits: 10 }, 'tenantLimits'],
    ['a tenant header with a space', { http: { tenantHeader: 'x tenant' } }, 'http.tenantHeader'],
    ['a tenant header with a colon', { http: { tenantHeader: 'x-tenant:' } }, 'http.tenantHeader'],
    ['an empty tenant header', { http: { tenantHeader: '' } }, 'http.tenantHeader'],
    ['a tenant header the library sets (webhook-*)', { http: { tenantHeader: 'Webhook-Tenant' } }, 'http.tenantHeader'],
    ['a tenant header the library sets (content-type)', { http: { tenantHeader: 'Content-Type' } }, 'http.tenantHeader'],
    ['a tenant header that would break the request (host)', { http: { tenantHeader: 'host' } }, 'http.tenantHeader'],
    ['metricsTenantAttribute as a string', { metricsTenantAttribute: 'yes' }, 'metricsTenantAttribute'],
  ])('refuses %s with CONFIG_INVALID', (_name, options, field) => {
    const error = configErrorOf(() => resolveWebhooksOptions(options));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe(field);
  });
});

describe('options whose reading throws', () => {
  const unreadable: Array<[string, () => object]> = [
    [
      'a getter that throws',
      () => ({
        get concurrency(): number {
          throw new Error('boom');
        },
      }),
    ],
    [
      'a Proxy whose ownKeys trap throws',
      () =>
        new Proxy(
          {},
          {
            ownKeys() {
              throw new Error('no keys');
            },
          },
        ),
    ],
  ];
  it.each(unreadable)('refuses %s with CONFIG_INVALID, at createWebhooks and at resolveWebhooksOptions', async (_name, options) => {
    for (const attempt of [() => resolveWebhooksOptions(options() as never), () => createWebhooks(options() as never)]) {
      const error = configErrorOf(attempt);
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toMatch(/^Expected options that can be read, got an object whose reading threw \((boom|no keys)\)$/);
    }
  });
});

describe('resolveWebhooksOptions retry', () => {
  it('normalises a fixed schedule, without jitter unless asked', () => {
    expect(resolveWebhooksOptions({ retry: { delaysMs: [1_000, 2_000] } }).retry).toEqual({
      kind: 'schedule',
      delaysMs: [1_000, 2_000],
      jitter: 0,
    });
    expect(resolveWebhooksOptions({ retry: { delaysMs: [1_000], jitter: 0.3 } }).retry).toEqual({
      kind: 'schedule',
      delaysMs: [1_000],
      jitter: 0.3,
    });
  });

  it('copies the schedule, so changing the caller’s array changes nothing', () => {
    const delaysMs = [1_000, 2_000];
    const resolved = resolveWebhooksOptions({ retry: { delaysMs } });
    delaysMs[0] = 999_999;
    expect(resolved.retry).toMatchObject({ delaysMs: [1_000, 2_000] });
  });

  it('fills the exponential defaults: factor 2, a 24 h cap, 20 % jitter', () => {
    expect(resolveWebhooksOptions({ retry: { initialDelayMs: 500, maxAttempts: 8 } }).retry).toEqual({
      kind: 'exponential',
      initialDelayMs: 500,
      factor: 2,
      maxDelayMs: 24 * 3_600_000,
      maxAttempts: 8,
      jitter: 0.2,
    });
  });

  it('keeps every exponential setting given', () => {
    expect(
      resolveWebhooksOptions({ retry: { initialDelayMs: 100, factor: 3, maxDelayMs: 10_000, maxAttempts: 4, jitter: 0 } }).retry,
    ).toEqual({ kind: 'exponential', initialDelayMs: 100, factor: 3, maxDelayMs: 10_000, maxAttempts: 4, jitter: 0 });
  });

  it('accepts a function as a custom policy', () => {
    const delayMs = (context: RetryContext): number | null => (context.attempt < 3 ? 1_000 : null);
    const resolved = resolveWebhooksOptions({ retry: delayMs });
    expect(resolved.retry).toEqual({ kind: 'custom', delayMs });
  });
});

describe('resolveWebhooksOptions refusals', () => {
  it.each([
    ['an unknown top-level key (a typo)', { concurency: 10 }, 'concurency'],
    ['an unknown key in http', { http: { timeout: 1_000 } }, 'http.timeout'],
    ['an unknown key in security', { security: { allowPrivateNetwork: true } }, 'security.allowPrivateNetwork'],
  ])('refuses %s with CONFIG_INVALID naming the key', (_name, options, field) => {
    const error = configErrorOf(() => resolveWebhooksOptions(options));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe(field);
  });

  it.each([
    ['concurrency 0', { concurrency: 0 }, 'concurrency'],
    ['a fractional concurrency', { concurrency: 1.5 }, 'concurrency'],
    ['concurrency as a string', { concurrency: '10' }, 'concurrency'],
    ['a negative leaseMs', { leaseMs: -1 }, 'leaseMs'],
    ['leaseMs as NaN', { leaseMs: Number.NaN }, 'leaseMs'],
    ['http.timeoutMs 0', { http: { timeoutMs: 0 } }, 'http.timeoutMs'],
    ['a negative http.maxResponseBytes', { http: { maxResponseBytes: -1 } }, 'http.maxResponseBytes'],
    ['a negative http.responseSnippetBytes', { http: { responseSnippetBytes: -1 } }, 'http.responseSnippetBytes'],
    ['http.responseSnippetBytes above 16384', { http: { responseSnippetBytes: 16_385 } }, 'http.responseSnippetBytes'],
    ['a fractional http.responseSnippetBytes', { http: { responseSnippetBytes: 1.5 } }, 'http.responseSnippetBytes'],
    ['a user agent with a line break', { http: { userAgent: 'a\r\nb' } }, 'http.userAgent'],
    ['allowPrivateNetworks as a string', { security: { allowPrivateNetworks: 'yes' } }, 'security.allowPrivateNetworks'],
    ['a sensitive header with a space', { security: { sensitiveHeaders: ['x api-key'] } }, 'security.sensitiveHeaders'],
    ['a sensitive header wildcard in the middle', { security: { sensitiveHeaders: ['authorization', 'x-*-key'] } }, 'security.sensitiveHeaders'],
    ['a bare * as a sensitive header', { security: { sensitiveHeaders: ['*'] } }, 'security.sensitiveHeaders'],
    ['sensitiveHeaders as a word other than all', { security: { sensitiveHeaders: 'none' } }, 'security.sensitiveHeaders'],
    ['http as a number', { http: 5 }, 'http'],
    ['pollIntervalMs 0', { pollIntervalMs: 0 }, 'pollIntervalMs'],
    ['maxPayloadBytes 0', { maxPayloadBytes: 0 }, 'maxPayloadBytes'],
    ['a clock without timers', { clock: { now: () => 0 } }, 'clock'],
    ['a logger without levels', { logger: {} }, 'logger'],
    ['a storage that is not an adapter', { storage: {} }, 'storage'],
    ['events that are not a catalog', { events: { 'payment.x': 1 } }, 'events'],
    ['random that is not a function', { random: 0.5 }, 'random'],
  ])('refuses %s with CONFIG_INVALID', (_name, options, field) => {
    const error = configErrorOf(() => resolveWebhooksOptions(options));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe(field);
  });

  it.each([
    ['delays given as strings', { delaysMs: ['5'] }],
    ['a negative delay', { delaysMs: [-1] }],
    ['a fractional delay', { delaysMs: [1.5] }],
    ['maxAttempts 0', { initialDelayMs: 100, maxAttempts: 0 }],
    ['a factor below 1', { initialDelayMs: 100, maxAttempts: 3, factor: 0.5 }],
    ['jitter above 1', { delaysMs: [1_000], jitter: 1.5 }],
    ['an unknown retry key', { delaysMs: [1_000], maxAttempts: 3 }],
    ['a number', 5],
  ])('refuses a retry policy with %s, naming retry as the field', (_name, retry) => {
    const error = configErrorOf(() => resolveWebhooksOptions({ retry }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toMatch(/^retry(\.|$)/);
  });

  it.each([
    ['leaseMs equal to http.timeoutMs', { leaseMs: 15_000 }],
    ['leaseMs below http.timeoutMs', { leaseMs: 10_000 }],
    ['the default leaseMs below a longer timeout', { http: { timeoutMs: 90_000 } }],
    ['leaseMs one millisecond above http.timeoutMs, leaving no time for the settle', { leaseMs: 15_001 }],
    ['leaseMs less than a second above http.timeoutMs', { leaseMs: 15_999 }],
  ])('refuses %s with CONFIG_LEASE_TOO_SHORT', (_name, options) => {
    const error = configErrorOf(() => resolveWebhooksOptions(options));
    expect(error.code).toBe('CONFIG_LEASE_TOO_SHORT');
    expect(error.field).toBe('leaseMs');
  });

  it('accepts a lease a second longer than the timeout', () => {
    expect(resolveWebhooksOptions({ leaseMs: 16_000 }).leaseMs).toBe(16_000);
  });

  it.each([null, 'options', 42, []])('refuses options that are not an object (%j)', (options) => {
    if (options === null) {
      // `null` reads as "no options", like undefined.
      expect(resolveWebhooksOptions(options).concurrency).toBe(50);
      return;
    }
    expect(configErrorOf(() => resolveWebhooksOptions(options)).code).toBe('CONFIG_INVALID');
  });

  it('throws an error that is a ConfigError, a WebhookError and recognised by isWebhookError', () => {
    let caught: unknown;
    try {
      resolveWebhooksOptions({ concurrency: 0 });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(caught).toBeInstanceOf(WebhookError);
    expect(caught).toBeInstanceOf(Error);
    expect(isWebhookError(caught)).toBe(true);
    expect((caught as ConfigError).name).toBe('ConfigError');
  });
});

describe('createWebhooks options', () => {
  it('throws the same ConfigError synchronously for an unknown key', () => {
    const error = configErrorOf(() => createWebhooks({ concurency: 10 } as never));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe('concurency');
    expect(isWebhookError(error)).toBe(true);
  });

  it('throws CONFIG_LEASE_TOO_SHORT when the lease does not outlive the request', () => {
    const error = configErrorOf(() => createWebhooks({ leaseMs: 5_000, http: { timeoutMs: 5_000 } }));
    expect(error.code).toBe('CONFIG_LEASE_TOO_SHORT');
    expect(error.field).toBe('leaseMs');
  });

  it('throws CONFIG_INVALID for a wrong type, naming the field', () => {
    const error = configErrorOf(() => createWebhooks({ concurrency: 0 }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe('concurrency');
  });

  it('accepts a retry function and a custom clock', async () => {
    const webhooks = createWebhooks({
      retry: (context) => (context.attempt < 5 ? 1_000 : null),
      clock: systemClock,
      storage: createMemoryStorage(),
    });
    try {
      expect(webhooks.events.types).toContain('payment.succeeded');
    } finally {
      await webhooks.close();
    }
  });

  it('works with no options at all', async () => {
    const webhooks = createWebhooks();
    try {
      expect((await webhooks.subscriptions.list()).items).toEqual([]);
    } finally {
      await webhooks.close();
    }
  });
});

describe('resolveWebhooksOptions environment', () => {
  it('names no environment by default', () => {
    expect(resolveWebhooksOptions({}).environment).toBeNull();
  });

  it.each(['live', 'test', 'staging-eu', 'sandbox_2', 'a'.repeat(32)])('keeps the environment %j as given', (environment) => {
    expect(resolveWebhooksOptions({ environment }).environment).toBe(environment);
  });

  it.each([
    ['an upper-case name', 'Live'],
    ['an empty name', ''],
    ['a name of 33 characters', 'a'.repeat(33)],
    ['a name with a space', 'live eu'],
    ['a name starting with a digit', '1live'],
    ['a name starting with a dash', '-live'],
    ['a name with a quote, which would need escaping in the envelope', 'li"ve'],
    ['a name with a line break, which would split the header', 'live\r\nx: y'],
    ['a number', 1],
    ['a boolean, as livemode', true],
    ['null', null],
  ])('refuses %s with CONFIG_INVALID on environment', (_name, environment) => {
    const error = configErrorOf(() => createWebhooks({ environment } as never));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe('environment');
  });
});

describe('resolveWebhooksOptions retention', () => {
  const dayMs = 86_400_000;

  it('keeps delivered deliveries 30 days, dead ones and events 90 days, runs every minute in batches of 500 by default, frozen', () => {
    const { retention } = resolveWebhooksOptions({});
    expect(retention).toEqual({ deliveredMs: 30 * dayMs, deadMs: 90 * dayMs, eventsMs: 90 * dayMs, intervalMs: 60_000, batchSize: 500 });
    expect(Object.isFrozen(retention)).toBe(true);
  });

  it('keeps a kind given as null, fills in the rest, and turns the task off with false', () => {
    expect(resolveWebhooksOptions({ retention: { deadMs: null, eventsMs: null, batchSize: 50 } }).retention).toEqual({
      deliveredMs: 30 * dayMs,
      deadMs: null,
      eventsMs: null,
      intervalMs: 60_000,
      batchSize: 50,
    });
    expect(resolveWebhooksOptions({ retention: false }).retention).toBe(false);
  });

  it.each([
    // A setting out of range names the option as a whole (false or the settings), as circuitBreaker does.
    ['an unknown key', { retention: { deliveredDays: 7 } }, 'retention.deliveredDays'],
    ['a negative delivered retention', { retention: { deliveredMs: -1 } }, 'retention'],
    ['a fractional interval', { retention: { intervalMs: 1.5 } }, 'retention'],
    ['a batch of 0', { retention: { batchSize: 0 } }, 'retention'],
    ['true', { retention: true }, 'retention'],
  ])('refuses %s with CONFIG_INVALID', (_name, options, field) => {
    const error = configErrorOf(() => resolveWebhooksOptions(options));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.field).toBe(field);
  });
});

describe('resolveWebhooksOptions circuitBreaker', () => {
  it('opens after 10 failures, cools down 30 s, doubling up to 10 minutes, by default', () => {
    expect(resolveWebhooksOptions({}).circuitBreaker).toEqual({ failureThreshold: 10, cooldownMs: 30_000, maxCooldownMs: 600_000 });
  });

  it('keeps a longest cool-down equal to or above the first, and false', () => {
    expect(resolveWebhooksOptions({ circuitBreaker: { cooldownMs: 1_000, maxCooldownMs: 1_000 } }).circuitBreaker).toEqual({ failureThreshold: 10, cooldownMs: 1_000, maxCooldownMs: 1_000 });
    expect(resolveWebhooksOptions({ circuitBreaker: { cooldownMs: 0, maxCooldownMs: 0 } }).circuitBreaker).toMatchObject({ cooldownMs: 0, maxCooldownMs: 0 });
    expect(resolveWebhooksOptions({ circuitBreaker: { maxCooldownMs: 60_000 } }).circuitBreaker).toMatchObject({ cooldownMs: 30_000, maxCooldownMs: 60_000 });
    expect(resolveWebhooksOptions({ circuitBreaker: false }).circuitBreaker).toBe(false);
  });

  it('raises the default longest cool-down to a first cool-down above 10 minutes, which a failed probe then keeps', () => {
    expect(resolveWebhooksOptions({ circuitBreaker: { cooldownMs: 3_600_000 } }).circuitBreaker).toEqual({ failureThreshold: 10, cooldownMs: 3_600_000, maxCooldownMs: 3_600_000 });
  });

  it.each([
    ['below cooldownMs', { cooldownMs: 1_000, maxCooldownMs: 10 }, '(1000)', 'got 10'],
    ['below the default cooldownMs', { maxCooldownMs: 29_999 }, '(30000)', 'got 29999'],
  ])('refuses a maxCooldownMs %s with CONFIG_INVALID, as a failed probe would shorten the cool-down', (_name, circuitBreaker, bound, got) => {
    const error = configErrorOf(() => resolveWebhooksOptions({ circuitBreaker }));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'circuitBreaker.maxCooldownMs' });
    expect(error.message).toContain(`Expected \`circuitBreaker.maxCooldownMs\` to be at least \`circuitBreaker.cooldownMs\` ${bound}`);
    expect(error.message).toContain(got);
  });
});

describe('resolveWebhooksOptions transforms', () => {
  it('has none by default, and keeps the functions given by name', () => {
    expect(resolveWebhooksOptions({}).transforms).toEqual({});
    const thin = () => ({});
    expect(resolveWebhooksOptions({ transforms: { thin, 'legacy-erp.v2': thin } }).transforms).toEqual({ thin, 'legacy-erp.v2': thin });
  });

  it.each([
    [{ 'a b': () => ({}) }, 'transforms.a b'],
    [{ ['x'.repeat(65)]: () => ({}) }, `transforms.${'x'.repeat(65)}`],
    [{ thin: 'a function' }, 'transforms.thin'],
    [[() => ({})], 'transforms'],
    [null, 'transforms'],
  ])('refuses %j with CONFIG_INVALID naming %s', (transforms, field) => {
    expect(thrownBy(() => resolveWebhooksOptions({ transforms }))).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field });
  });

  it.each([
    ['from JSON.parse', JSON.parse('{"__proto__": 1}') as unknown],
    ['holding a function', Object.defineProperty({}, '__proto__', { value: () => ({}), enumerable: true, configurable: true, writable: true })],
    ['beside a valid transform', Object.defineProperty({ thin: () => ({}) }, '__proto__', { value: () => ({}), enumerable: true, configurable: true, writable: true })],
  ])('refuses an own `__proto__` key (%s), which a copy would drop unseen, with CONFIG_INVALID', (_name, transforms) => {
    const error = configErrorOf(() => resolveWebhooksOptions({ transforms }));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'transforms.__proto__' });
    expect(error.message).toContain('other than `__proto__`');
    expect(error.message).toContain('got "__proto__"');
  });
});
