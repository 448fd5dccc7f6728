import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { isWebhookError } from '../../src/errors.js';
import { decodeSecret, encodeBase64, generateSecret } from '../../src/signing/secret.js';
import { createSigningKeys, signWebhook, signatureHeader } from '../../src/signing/sign-webhook.js';
import vectors from '../fixtures/standard-webhooks-vectors.json' with { type: 'json' };

function codeOf(run: () => unknown): { code: string; field: string | undefined; message: string } {
  try {
    run();
  } catch (error) {
    if (isWebhookError(error)) return { code: error.code, field: error.field, message: error.message };
    throw error;
  }
  throw new Error('expected a WebhookError, nothing was thrown');
}

const secret = vectors.vectors[0]!.secret;
const otherSecret = vectors.vectors[1]!.secret;

describe('generateSecret', () => {
  it('returns whsec_ followed by base64 of 32 random bytes', () => {
    const generated = generateSecret();
    expect(generated).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(decodeSecret(generated)).toHaveLength(32);
  });

  it('returns a different secret on every call', () => {
    const secrets = new Set(Array.from({ length: 100 }, () => generateSecret()));
    expect(secrets.size).toBe(100);
  });
});

describe('decodeSecret', () => {
  it('decodes whsec_ secrets and bare base64 to the same key', () => {
    expect(decodeSecret(secret)).toEqual(decodeSecret(secret.slice('whsec_'.length)));
    expect(encodeBase64(decodeSecret(secret))).toBe(secret.slice('whsec_'.length));
  });

  it('accepts the 18-byte key of the published vectors', () => {
    expect(decodeSecret(vectors.vectors[2]!.secret)).toHaveLength(18);
  });

  it('accepts base64 with its padding left off', () => {
    const padded = 'whsec_' + encodeBase64(new Uint8Array([1, 2, 3, 4]));
    expect(padded.endsWith('==')).toBe(true);
    expect(decodeSecret(padded.replace(/=+$/, ''))).toEqual(new Uint8Array([1, 2, 3, 4]));
  });

  it.each([
    ['an empty string', ''],
    ['a bare prefix', 'whsec_'],
    ['characters outside base64', 'whsec_not-base64!'],
    ['a space inside', 'whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw'],
    ['an impossible length', 'whsec_abcde'],
    ['padding in the middle', 'whsec_ab==cdef'],
    ['too much padding', 'whsec_a==='],
  ])('refuses %s with SECRET_INVALID', (_name, value) => {
    expect(codeOf(() => decodeSecret(value)).code).toBe('SECRET_INVALID');
  });

  it('refuses a non-string with SECRET_INVALID', () => {
    expect(codeOf(() => decodeSecret(42 as unknown as string)).code).toBe('SECRET_INVALID');
  });

  it('never puts the secret in the error message', () => {
    const leaky = 'whsec_SuperSecretValue!';
    expect(codeOf(() => decodeSecret(leaky)).message).not.toContain('SuperSecretValue');
  });
});

describe('encodeBase64', () => {
  it('matches Buffer for every length from 0 to 64 bytes', () => {
    for (let length = 0; length <= 64; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 37 + length) & 0xff);
      expect(encodeBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
    }
  });
});

describe('signWebhook', () => {
  it.each(vectors.vectors)('signs the published vector $id to its published signature', (vector) => {
    expect(signWebhook({ id: vector.id, timestamp: vector.timestamp, body: vector.payload, secrets: vector.secret })).toBe(vector.signature);
  });

  it('takes the timestamp as a Date, truncated to the second', () => {
    const vector = vectors.vectors[0]!;
    const date = new Date(vector.timestamp * 1000 + 999);
    expect(signWebhook({ id: vector.id, timestamp: date, body: vector.payload, secrets: vector.secret })).toBe(vector.signature);
  });

  it('signs a Uint8Array body exactly like the same string', () => {
    const vector = vectors.vectors[1]!;
    const body = new TextEncoder().encode(vector.payload);
    expect(signWebhook({ id: vector.id, timestamp: vector.timestamp, body, secrets: vector.secret })).toBe(vector.signature);
  });

  it('signs bytes that are not UTF-8 as they are', () => {
    const body = new Uint8Array([0xff, 0xfe, 0x00, 0x80]);
    const signature = signWebhook({ id: 'msg_1', timestamp: 1, body, secrets: secret });
    const differentBytes = signWebhook({ id: 'msg_1', timestamp: 1, body: new Uint8Array([0xff, 0xfe, 0x00, 0x81]), secrets: secret });
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(signature).not.toBe(differentBytes);
  });

  it('gives one space-separated v1 signature per secret, in order, during a rotation', () => {
    const input = { id: 'msg_rotation', timestamp: 1_700_000_000, body: '{"type":"ping"}' };
    const header = signWebhook({ ...input, secrets: [secret, otherSecret] });
    expect(header.split(' ')).toEqual([signWebhook({ ...input, secrets: secret }), signWebhook({ ...input, secrets: otherSecret })]);
  });

  it.each([
    ['id', { id: '' }],
    ['id', { id: 'msg 1' }],
    ['id', { id: 'msg\n1' }],
    ['id', { id: 42 }],
    ['timestamp', { timestamp: -1 }],
    ['timestamp', { timestamp: 1.5 }],
    ['timestamp', { timestamp: Number.NaN }],
    ['timestamp', { timestamp: new Date(Number.NaN) }],
    ['timestamp', { timestamp: '1700000000' }],
    ['body', { body: { type: 'ping' } }],
    ['body', { body: undefined }],
  ])('refuses a bad %s with INPUT_INVALID and names the field', (field, override) => {
    const input = { id: 'msg_1', timestamp: 1_700_000_000, body: '{}', secrets: secret, ...override };
    expect(codeOf(() => signWebhook(input as Parameters<typeof signWebhook>[0]))).toMatchObject({ code: 'INPUT_INVALID', field });
  });

  it.each([
    ['no secret', []],
    ['a malformed secret', 'whsec_%%%'],
    ['one malformed secret among good ones', [secret, 'nope!']],
    ['a non-string secret', [123]],
  ])('refuses %s with SECRET_INVALID', (_name, secrets) => {
    const input = { id: 'msg_1', timestamp: 1_700_000_000, body: '{}', secrets };
    expect(codeOf(() => signWebhook(input as Parameters<typeof signWebhook>[0])).code).toBe('SECRET_INVALID');
  });
});

describe('createSigningKeys and signatureHeader', () => {
  it('sign exactly as signWebhook does, for strings and bytes and several keys', () => {
    const keys = createSigningKeys([secret, otherSecret]);
    const body = '{"type":"payment.succeeded","data":{"amountMinor":1250,"currency":"EUR"}}';
    const expected = signWebhook({ id: 'evt_1', timestamp: 1_700_000_000, body, secrets: [secret, otherSecret] });
    expect(signatureHeader(keys, 'evt_1', 1_700_000_000, body)).toBe(expected);
    expect(signatureHeader(keys, 'evt_1', 1_700_000_000, new TextEncoder().encode(body))).toBe(expected);
  });

  it('refuses an empty key list with SECRET_INVALID', () => {
    expect(codeOf(() => createSigningKeys([])).code).toBe('SECRET_INVALID');
  });

  it('reports which secret of the list is malformed', () => {
    expect(codeOf(() => createSigningKeys([secret, 'bad!']))).toMatchObject({ code: 'SECRET_INVALID', field: 'secrets[1]' });
  });
});

describe('interoperability with the standardwebhooks package', () => {
  it('verifies what signWebhook signs', () => {
    const id = 'evt_interop';
    const timestamp = new Date();
    const body = JSON.stringify({ id, type: 'payment.succeeded', timestamp: timestamp.toISOString(), data: { amountMinor: 4200, currency: 'EUR' } });
    const signature = signWebhook({ id, timestamp, body, secrets: secret });
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': signature };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('verifies every signature of a rotation header with the matching secret', () => {
    const secrets = [generateSecret(), generateSecret()];
    const timestamp = new Date();
    const body = '{"type":"ping"}';
    const headers = {
      'webhook-id': 'evt_rotation',
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': signWebhook({ id: 'evt_rotation', timestamp, body, secrets }),
    };
    for (const one of secrets) expect(new Webhook(one).verify(body, headers)).toEqual({ type: 'ping' });
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
  });

  it('signs to the same value as the package for the same input', () => {
    const date = new Date(1_700_000_000_000);
    const body = '{"type":"refund.initiated","data":{"amount":"12.50"}}';
    expect(signWebhook({ id: 'msg_same', timestamp: date, body, secrets: secret })).toBe(new Webhook(secret).sign('msg_same', date, body));
  });
});
