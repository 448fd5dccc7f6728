// maxEventAgeSeconds and onStale: the age read from the envelope's timestamp, never from the
// (always fresh) signature time; a stale event skips onEvent with the outcome `stale`.
import { describe, expect, it } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import { createWebhookReceiver, type WebhookEvent, type WebhookReceiverOptions } from '../../src/receiver/index.js';
import { isStaleEvent } from '../../src/receiver/stale-events.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';

const secret = generateSecret();
const HOUR_MS = 3_600_000;
let sequence = 0;

/** A message signed now, whose envelope says the event happened `ageMs` ago (or carries `timestamp` as given). */
function message(options: { ageMs?: number; timestamp?: unknown; id?: string } = {}) {
  const id = options.id ?? `evt_stale_${++sequence}`;
  const envelope: Record<string, unknown> = { id, type: 'balance.depleted', data: { accountId: 'acc_1' } };
  const timestamp = 'timestamp' in options ? options.timestamp : new Date(Date.now() - (options.ageMs ?? 0)).toISOString();
  if (timestamp !== undefined) envelope.timestamp = timestamp;
  const body = JSON.stringify(envelope);
  const signedAt = Math.floor(Date.now() / 1000);
  return { id, body, headers: { 'webhook-id': id, 'webhook-timestamp': String(signedAt), 'webhook-signature': signWebhook({ id, timestamp: signedAt, body, secrets: secret }) } };
}

function receiverWith(options: Partial<WebhookReceiverOptions> = {}) {
  const handled: string[] = [];
  const stale: WebhookEvent[] = [];
  const receiver = createWebhookReceiver({
    secrets: secret,
    maxEventAgeSeconds: 3_600,
    onEvent: (event) => void handled.push(event.id),
    onStale: (event) => void stale.push(event),
    ...options,
  });
  return { receiver, handled, stale };
}

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return expect.fail('expected the call to throw');
}

describe('isStaleEvent', () => {
  const now = Date.parse('2026-03-01T12:00:00.000Z');

  it('is stale only past the window: exactly maxEventAgeSeconds old is still fresh', () => {
    expect(isStaleEvent('2026-03-01T11:00:00.000Z', 3_600, now)).toBe(false);
    expect(isStaleEvent('2026-03-01T10:59:59.999Z', 3_600, now)).toBe(true);
  });

  it('reads any ISO 8601 offset, treats a future date (a skewed sender clock) as fresh, and a timestamp that is no date as stale', () => {
    expect(isStaleEvent('2026-03-01T12:30:00+01:00', 3_600, now)).toBe(false);
    expect(isStaleEvent('2026-03-01T12:30:00+02:00', 3_600, now)).toBe(true);
    expect(isStaleEvent('2026-03-02T00:00:00.000Z', 3_600, now)).toBe(false);
    expect(isStaleEvent('yesterday', 3_600, now)).toBe(true);
    expect(isStaleEvent('', 3_600, now)).toBe(true);
  });
});

describe('maxEventAgeSeconds on createWebhookReceiver', () => {
  it('hands a fresh event to onEvent, and an event older than the window to onStale instead, with the outcome stale', async () => {
    const { receiver, handled, stale } = receiverWith();
    const fresh = message({ ageMs: 59 * 60_000 });
    expect(await receiver.receive(fresh)).toMatchObject({ outcome: 'processed' });
    const old = message({ ageMs: 2 * HOUR_MS });
    const receipt = await receiver.receive(old);
    expect(receipt.outcome).toBe('stale');
    expect(receipt.event.id).toBe(old.id);
    expect(handled).toEqual([fresh.id]);
    expect(stale.map((event) => [event.id, event.type])).toEqual([[old.id, 'balance.depleted']]);
  });

  it('judges the envelope timestamp, not the signature: a week-old event re-signed now is stale; an envelope without timestamp is dated by its signature', async () => {
    const { receiver, handled } = receiverWith();
    expect((await receiver.receive(message({ ageMs: 7 * 24 * HOUR_MS }))).outcome).toBe('stale');
    const undated = message({ timestamp: undefined });
    expect((await receiver.receive(undated)).outcome).toBe('processed');
    expect(handled).toEqual([undated.id]);
  });

  it('counts an envelope timestamp that is not a date as stale', async () => {
    const { receiver, handled } = receiverWith();
    expect((await receiver.receive(message({ timestamp: 'last tuesday' }))).outcome).toBe('stale');
    expect(handled).toEqual([]);
  });

  it.each([
    ['epoch milliseconds', Date.now() - 30 * 24 * HOUR_MS],
    ['0', 0],
    ['an object', { not: 'a date' }],
    ['null', null],
  ])('refuses an envelope timestamp of %s with WEBHOOK_INVALID_PAYLOAD, never dating it by its fresh signature', async (_name, timestamp) => {
    const { receiver, handled, stale } = receiverWith();
    await expect(receiver.receive(message({ timestamp }))).rejects.toMatchObject({ name: 'SignatureVerificationError', code: 'WEBHOOK_INVALID_PAYLOAD' });
    expect(handled).toEqual([]);
    expect(stale).toEqual([]);
  });

  it('remembers a stale id: its redelivery is a duplicate, and onStale is not called again', async () => {
    const { receiver, stale } = receiverWith();
    const old = message({ ageMs: 2 * HOUR_MS });
    expect((await receiver.receive(old)).outcome).toBe('stale');
    expect((await receiver.receive(old)).outcome).toBe('duplicate');
    expect(stale).toHaveLength(1);
  });

  it('acknowledges and skips a stale event by default, without onStale', async () => {
    const { receiver, handled } = receiverWith({ onStale: undefined });
    expect((await receiver.receive(message({ ageMs: 2 * HOUR_MS }))).outcome).toBe('stale');
    expect(handled).toEqual([]);
  });

  it('passes on what onStale throws and releases the id, so the retry asks onStale again', async () => {
    const refusal = new Error('parked table unavailable');
    let calls = 0;
    const { receiver, handled } = receiverWith({
      onStale: () => {
        calls++;
        if (calls === 1) throw refusal;
      },
    });
    const old = message({ ageMs: 2 * HOUR_MS });
    await expect(receiver.receive(old)).rejects.toBe(refusal);
    expect((await receiver.receive(old)).outcome).toBe('stale');
    expect(calls).toBe(2);
    expect(handled).toEqual([]);
  });

  it('calls onStale on every copy when dedupe is off', async () => {
    const { receiver, stale } = receiverWith({ dedupe: false });
    const old = message({ ageMs: 2 * HOUR_MS });
    await receiver.receive(old);
    await receiver.receive(old);
    expect(stale).toHaveLength(2);
  });

  it.each([
    ['0', 0],
    ['a negative number', -60],
    ['a fraction', 1.5],
    ['a string', '3600'],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('refuses maxEventAgeSeconds %s with CONFIG_INVALID', (_name, maxEventAgeSeconds) => {
    const error = thrownBy(() => createWebhookReceiver({ secrets: secret, onEvent: () => undefined, maxEventAgeSeconds: maxEventAgeSeconds as number }));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', field: 'maxEventAgeSeconds' });
  });

  it('refuses an onStale that is not a function, or one without maxEventAgeSeconds (it would never run), with CONFIG_INVALID', () => {
    const notFunction = thrownBy(() => createWebhookReceiver({ secrets: secret, onEvent: () => undefined, maxEventAgeSeconds: 60, onStale: 'skip' as never }));
    expect(notFunction).toMatchObject({ code: 'CONFIG_INVALID', field: 'onStale' });
    const noWindow = thrownBy(() => createWebhookReceiver({ secrets: secret, onEvent: () => undefined, onStale: () => undefined }));
    expect(isWebhookError(noWindow) && noWindow.code).toBe('CONFIG_INVALID');
    expect(noWindow).toMatchObject({ field: 'maxEventAgeSeconds' });
  });
});
