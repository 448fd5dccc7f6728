/**
 * The receivers' `environment` option: an event is accepted only when its signed envelope
 * names that environment; another one, or none, is refused with
 * `WEBHOOK_ENVIRONMENT_MISMATCH`. The unsigned `bookkeeper-environment` header never
 * changes the verdict. Without the option every event is accepted, and `environment` is
 * passed through when the envelope has one.
 */
import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  createWebHandler,
  createWebhookReceiver,
  verifyWebRequest,
  verifyWebhook,
  verifyWebhookAsync,
  verifyWebhookSignature,
  verifyWebhookSignatureAsync,
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookMessage,
} from '../../src/receiver/index.js';
import { ENVIRONMENT_HEADER } from '../../src/signing/environment-name.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { outcomeOf } from '../support/outcome.js';

const secret = generateSecret();
const nowSeconds = 1_750_000_000;
const now = new Date(nowSeconds * 1000);
const id = 'evt_01JXYZ0000000000000000000A';
const timestamp = '2025-06-15T15:06:40.000Z';
const data = { amountMinor: 1250, currency: 'EUR' };

/** A signed message whose envelope has `environment` (or none), with extra headers. */
function message(environment: unknown, extraHeaders: Record<string, string> = {}): WebhookMessage {
  const envelope = environment === undefined ? { id, type: 'payment.succeeded', timestamp, data } : { id, type: 'payment.succeeded', timestamp, environment, data };
  const body = JSON.stringify(envelope);
  return {
    body,
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(nowSeconds),
      'webhook-signature': signWebhook({ id, timestamp: nowSeconds, body, secrets: secret }),
      ...extraHeaders,
    },
  };
}

const eventOf = (environment?: string) => ({ id, type: 'payment.succeeded', timestamp, data, ...(environment === undefined ? {} : { environment }) });

function toRequest({ body, headers }: WebhookMessage): Request {
  return new Request('https://consumer.example.com/webhooks', { method: 'POST', body: body as string, headers: headers as Record<string, string> });
}

type Verify = (message: WebhookMessage, options: VerifyWebhookOptions) => Promise<unknown>;

const verifiers: Array<[string, Verify]> = [
  ['verifyWebhook', async (m, o) => verifyWebhook(m, o)],
  ['verifyWebhookAsync', (m, o) => verifyWebhookAsync(m, o)],
  ['verifyWebRequest', (m, o) => verifyWebRequest(toRequest(m), o)],
  // A receiver takes no `now`: the fixed timestamp passes a wide tolerance instead.
  [
    'createWebhookReceiver',
    async (m, { now: _now, ...o }) => (await createWebhookReceiver({ ...o, toleranceSeconds: 1e9, logger: false, onEvent: () => undefined }).receive(m)).event,
  ],
];

describe.each(verifiers)('%s with an environment', (_name, verify) => {
  it('accepts an event whose signed envelope names it, and returns the environment', async () => {
    expect(await outcomeOf(() => verify(message('live'), { secrets: secret, now, environment: 'live' }))).toEqual({ event: eventOf('live') });
  });

  it('refuses an event of another environment with WEBHOOK_ENVIRONMENT_MISMATCH', async () => {
    expect(await outcomeOf(() => verify(message('test'), { secrets: secret, now, environment: 'live' }))).toEqual({ code: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
  });

  it('refuses an event that names no environment: absent means unknown, not this one', async () => {
    expect(await outcomeOf(() => verify(message(undefined), { secrets: secret, now, environment: 'live' }))).toEqual({ code: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
  });

  it.each([
    ['a number', 1],
    ['a boolean, as livemode', true],
    ['null', null],
    ['the name in another case', 'LIVE'],
  ])('refuses an envelope whose environment is %s', async (_case, environment) => {
    expect(await outcomeOf(() => verify(message(environment), { secrets: secret, now, environment: 'live' }))).toEqual({ code: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
  });

  it('decides from the signed envelope, whatever the bookkeeper-environment header says', async () => {
    const forged = message('test', { [ENVIRONMENT_HEADER]: 'live' });
    expect(await outcomeOf(() => verify(forged, { secrets: secret, now, environment: 'live' }))).toEqual({ code: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
    const mislabelled = message('live', { [ENVIRONMENT_HEADER]: 'test' });
    expect(await outcomeOf(() => verify(mislabelled, { secrets: secret, now, environment: 'live' }))).toEqual({ event: eventOf('live') });
  });

  it('checks the signature first: a tampered envelope fails on its signature, not on its environment', async () => {
    const signed = message('test');
    const tampered = { ...signed, body: (signed.body as string).replace('"environment":"test"', '"environment":"live"') };
    expect(await outcomeOf(() => verify(tampered, { secrets: secret, now, environment: 'live' }))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
  });
});

describe.each(verifiers)('%s without an environment', (_name, verify) => {
  it('accepts events of any environment and passes the signed one through', async () => {
    expect(await outcomeOf(() => verify(message('test'), { secrets: secret, now }))).toEqual({ event: eventOf('test') });
  });

  it('accepts an event without one, which has no environment key', async () => {
    const outcome = await outcomeOf(() => verify(message(undefined), { secrets: secret, now }));
    expect(outcome).toEqual({ event: eventOf() });
    expect(Object.keys((outcome as { event: object }).event)).not.toContain('environment');
  });

  it('leaves out an environment that is not a string', async () => {
    expect(await outcomeOf(() => verify(message(true), { secrets: secret, now }))).toEqual({ event: eventOf() });
  });

  it('never reads the environment from the header', async () => {
    expect(await outcomeOf(() => verify(message(undefined, { [ENVIRONMENT_HEADER]: 'live' }), { secrets: secret, now }))).toEqual({ event: eventOf() });
  });
});

describe('a bad environment option', () => {
  const creators: Array<[string, (environment: unknown) => unknown]> = [
    ['verifyWebhook', (environment) => verifyWebhook(message('live'), { secrets: secret, now, environment } as never)],
    ['verifyWebhookAsync', (environment) => verifyWebhookAsync(message('live'), { secrets: secret, now, environment } as never)],
    ['verifyWebRequest', (environment) => verifyWebRequest(toRequest(message('live')), { secrets: secret, now, environment } as never)],
    ['createWebhookReceiver', (environment) => createWebhookReceiver({ secrets: secret, environment, onEvent: () => undefined } as never)],
    ['createWebHandler', (environment) => createWebHandler({ secrets: secret, environment, onEvent: () => undefined } as never)],
  ];

  describe.each(creators)('%s', (_name, create) => {
    it.each([
      ['an upper-case name', 'Live'],
      ['an empty name', ''],
      ['a name of 33 characters', 'a'.repeat(33)],
      ['a name with a space', 'live eu'],
      ['a boolean', true],
      ['null', null],
    ])('is refused with CONFIG_INVALID on environment: %s', async (_case, environment) => {
      const error: unknown = await (async () => create(environment))().then(
        () => expect.fail('expected a ConfigError'),
        (rejected: unknown) => rejected,
      );
      expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field: 'environment' });
    });
  });

  it.each([
    ['verifyWebhookSignature', () => verifyWebhookSignature(message('live'), { secrets: secret, now, environment: 'live' } as never)],
    ['verifyWebhookSignatureAsync', () => verifyWebhookSignatureAsync(message('live'), { secrets: secret, now, environment: 'live' } as never)],
  ])('%s refuses the option, as it does not read the envelope the environment is checked on', async (_name, run) => {
    const error: unknown = await (async () => run())().then(
      () => expect.fail('expected a ConfigError'),
      (rejected: unknown) => rejected,
    );
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field: 'environment' });
  });
});

describe('the HTTP adapters and the failure count', () => {
  it('createWebHandler answers 400 with the code, without calling onEvent, and counts the failure', async () => {
    const onEvent = vi.fn();
    const onVerificationFailure = vi.fn();
    const handler = createWebHandler({ secrets: secret, environment: 'live', toleranceSeconds: 1e9, logger: false, onEvent, onVerificationFailure });
    const response = await handler(toRequest(message('test')));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'WEBHOOK_ENVIRONMENT_MISMATCH' });
    expect(onEvent).not.toHaveBeenCalled();
    expect(onVerificationFailure).toHaveBeenCalledWith('WEBHOOK_ENVIRONMENT_MISMATCH', expect.objectContaining({ name: 'SignatureVerificationError' }));
  });

  it('createWebHandler passes an event of its environment to onEvent with the environment', async () => {
    const onEvent = vi.fn();
    const handler = createWebHandler({ secrets: secret, environment: 'live', toleranceSeconds: 1e9, logger: false, onEvent });
    expect((await handler(toRequest(message('live')))).status).toBe(204);
    expect(onEvent).toHaveBeenCalledWith(eventOf('live'), expect.any(Request));
  });
});

describe('types', () => {
  it('types the verified event with an optional environment', () => {
    expectTypeOf<WebhookEvent['environment']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<VerifyWebhookOptions['environment']>().toEqualTypeOf<string | undefined>();
    expectTypeOf(verifyWebhook).returns.toHaveProperty('environment');
  });
});
