/**
 * Payloads at rest (`security.payloadKey`): a sealed payload opens, for its own event only,
 * to exactly the bytes published; any change to it, or a key not listed, is the ConfigError
 * `PAYLOAD_KEY_INVALID`, whose message names neither the payload nor the key. The first key
 * seals, every listed key opens; plain payloads pass through. Keys are checked as
 * `security.secretsKey`'s are, and a sealed payload is never taken for a sealed secret.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createWebhooks } from '../../src/index.js';
import { createPayloadCodec, isSealedPayload, plainPayloadCodec, type PayloadCodec } from '../../src/payload-codec.js';
import { createSecretCodec, isSealedValue, normalizeSecretsKeys } from '../../src/registry/secret-codec.js';

const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');
const codec1 = createPayloadCodec([{ id: 'k1', key: key1 }]);
// What an envelope may hold: multi-byte characters, an astral one, the line separators JSON leaves raw.
const payload = JSON.stringify({
  id: 'evt_01',
  type: 'payment.succeeded',
  timestamp: '2026-12-04T10:00:00.000Z',
  data: { customer: 'Zoë Müller 🧾', memo: 'line\u2028separator', iban: 'DE89370400440532013000' },
});

function errorOf(run: () => unknown): { code?: string; field?: string; message: string } {
  try {
    run();
  } catch (error) {
    return error as { code?: string; field?: string; message: string };
  }
  throw new Error('expected a throw');
}

/** Asserts `open` refuses with PAYLOAD_KEY_INVALID, revealing neither payload nor key. */
function expectRefused(codec: PayloadCodec, stored: string, eventId: string): void {
  const error = errorOf(() => codec.open(stored, eventId));
  expect(error).toMatchObject({ name: 'ConfigError', code: 'PAYLOAD_KEY_INVALID' });
  for (const secret of ['DE89370400440532013000', 'Zoë', key1, key2]) expect(error.message).not.toContain(secret);
}

describe('createPayloadCodec', () => {
  it('seals into the encp:v1 form under the key id, hiding the payload, with a fresh iv each time', () => {
    const sealed = codec1.seal(payload, 'evt_01');
    expect(codec1.sealing).toBe(true);
    expect(sealed).toMatch(/^encp:v1:k1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('DE89370400440532013000');
    expect(sealed).not.toContain('payment.succeeded');
    expect(codec1.seal(payload, 'evt_01')).not.toBe(sealed);
  });

  it('opens a sealed payload to exactly the bytes it sealed', () => {
    expect(codec1.open(codec1.seal(payload, 'evt_01'), 'evt_01')).toBe(payload);
    expect(Buffer.from(codec1.open(codec1.seal(payload, 'evt_01'), 'evt_01'))).toEqual(Buffer.from(payload));
    expect(codec1.open(codec1.seal('{}', 'evt_01'), 'evt_01')).toBe('{}');
  });

  it('does not open a payload copied onto another event (the event id is the associated data)', () => {
    expectRefused(codec1, codec1.seal(payload, 'evt_01'), 'evt_02');
  });

  it('does not open a tampered payload: ciphertext, tag, iv, key id or a cut tag', () => {
    const sealed = codec1.seal(payload, 'evt_01');
    const [keyId, iv, body] = sealed.slice('encp:v1:'.length).split(':') as [string, string, string];
    const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    const bytes = Buffer.from(body, 'base64url');
    const twoKeys = createPayloadCodec([{ id: 'k1', key: key1 }, { id: 'k2', key: key2 }]);
    expectRefused(codec1, `encp:v1:${keyId}:${iv}:${flip(body, 3)}`, 'evt_01');
    expectRefused(codec1, `encp:v1:${keyId}:${iv}:${flip(body, body.length - 3)}`, 'evt_01');
    expectRefused(codec1, `encp:v1:${keyId}:${flip(iv, 2)}:${body}`, 'evt_01');
    expectRefused(twoKeys, `encp:v1:k2:${iv}:${body}`, 'evt_01');
    expectRefused(codec1, `encp:v1:${keyId}:${iv}:${bytes.subarray(0, bytes.length - 1).toString('base64url')}`, 'evt_01');
    // Shorter than a tag: GCM would take these 4 bytes as a 4-byte tag unless its length is fixed.
    expectRefused(codec1, `encp:v1:${keyId}:${iv}:${bytes.subarray(bytes.length - 4).toString('base64url')}`, 'evt_01');
    expectRefused(codec1, `encp:v1:${keyId}:${iv}`, 'evt_01');
    expectRefused(codec1, `encp:v1:${keyId}:${iv}:${body}:extra`, 'evt_01');
  });

  it('rotates: the first key seals, an older listed key still opens, and a key no longer listed does not', () => {
    const old = codec1.seal(payload, 'evt_01');
    const rotated = createPayloadCodec([{ id: 'k2', key: key2 }, { id: 'k1', key: key1 }]);
    expect(rotated.open(old, 'evt_01')).toBe(payload);
    const fresh = rotated.seal(payload, 'evt_02');
    expect(fresh).toMatch(/^encp:v1:k2:/);
    expect(rotated.open(fresh, 'evt_02')).toBe(payload);

    const after = createPayloadCodec([{ id: 'k2', key: key2 }]);
    expect(after.open(fresh, 'evt_02')).toBe(payload);
    expectRefused(after, old, 'evt_01');
    expect(errorOf(() => after.open(old, 'evt_01')).message).toContain('key id "k1"');
  });

  it('does not open with another key under the same id', () => {
    expectRefused(createPayloadCodec([{ id: 'k1', key: key2 }]), codec1.seal(payload, 'evt_01'), 'evt_01');
  });

  it('passes a plain payload through, and the empty payload of an expunged event', () => {
    expect(codec1.open(payload, 'evt_01')).toBe(payload);
    expect(codec1.open('', 'evt_01')).toBe('');
  });

  it('takes a single base64 key as security.secretsKey does, its id derived from it', () => {
    const codec = createPayloadCodec(normalizeSecretsKeys(key1));
    const sealed = codec.seal(payload, 'evt_01');
    expect(sealed).toMatch(/^encp:v1:[0-9a-f]{12}:/);
    expect(createPayloadCodec(normalizeSecretsKeys(key1)).open(sealed, 'evt_01')).toBe(payload);
  });

  it('is the plain codec without keys', () => {
    expect(createPayloadCodec([])).toBe(plainPayloadCodec);
  });
});

describe('plainPayloadCodec', () => {
  it('stores and opens payloads as they are', () => {
    expect(plainPayloadCodec.sealing).toBe(false);
    expect(plainPayloadCodec.seal(payload, 'evt_01')).toBe(payload);
    expect(plainPayloadCodec.open(payload, 'evt_01')).toBe(payload);
  });

  it('refuses a sealed payload rather than hand the ciphertext on as the event', () => {
    expectRefused(plainPayloadCodec, codec1.seal(payload, 'evt_01'), 'evt_01');
  });
});

describe('sealed payloads and sealed secrets', () => {
  it('never read as one another, even under the same key', () => {
    const secrets = createSecretCodec([{ id: 'k1', key: key1 }]);
    const sealedSecret = secrets.seal('whsec_c2VjcmV0', 'sub_01');
    const sealedPayload = codec1.seal(payload, 'evt_01');
    expect(isSealedPayload(sealedSecret)).toBe(false);
    expect(isSealedValue(sealedPayload)).toBe(false);
    expect(isSealedPayload(sealedPayload)).toBe(true);
    // Relabelled as the other kind, each is bound to an id of the other kind: neither opens.
    expectRefused(codec1, `encp:v1:${sealedSecret.slice('enc:v1:'.length)}`, 'evt_01');
    expect(() => secrets.open(`enc:v1:${sealedPayload.slice('encp:v1:'.length)}`, 'sub_01')).toThrow(expect.objectContaining({ code: 'SECRET_INVALID' }));
  });
});

describe('security.payloadKey in createWebhooks', () => {
  it('refuses a key that is not 32 bytes of base64, naming the option and what was expected', () => {
    const error = errorOf(() => createWebhooks({ security: { payloadKey: 'c2hvcnQ=' } }));
    expect(error).toMatchObject({ name: 'ConfigError', code: 'PAYLOAD_KEY_INVALID', field: 'security.payloadKey.0.key' });
    expect(error.message).toBe('Expected `security.payloadKey[0].key` to be 32 bytes in base64');
  });

  it('refuses a key id with a colon (it would break the stored form) and two keys with one id', () => {
    expect(errorOf(() => createWebhooks({ security: { payloadKey: [{ id: 'k:1', key: key1 }] } }))).toMatchObject({
      code: 'PAYLOAD_KEY_INVALID',
      field: 'security.payloadKey.0.id',
    });
    const twice = errorOf(() => createWebhooks({ security: { payloadKey: [{ id: 'k1', key: key1 }, { id: 'k1', key: key2 }] } }));
    expect(twice).toMatchObject({ code: 'PAYLOAD_KEY_INVALID', field: 'security.payloadKey' });
    expect(twice.message).not.toContain(key1);
  });

  it('refuses a value of the wrong shape with CONFIG_INVALID, naming the shapes accepted', () => {
    const error = errorOf(() => createWebhooks({ security: { payloadKey: 42 } } as never));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'security.payloadKey' });
    expect(error.message).toContain('`security.payloadKey`');
  });

  it('leaves secretsKey errors as they were', () => {
    expect(errorOf(() => createWebhooks({ security: { secretsKey: 'c2hvcnQ=', payloadKey: key1 } }))).toMatchObject({
      code: 'SECRET_INVALID',
      field: 'security.secretsKey.0.key',
    });
  });
});
