/**
 * Sensitive headers without a storage round trip: which names `security.sensitiveHeaders`
 * marks, how a value is sealed, redacted and opened, and the inputs refused with their codes.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SigningKeyCache } from '../../src/delivery/signing-key-cache.js';
import { createMemoryStorage, createWebhooks } from '../../src/index.js';
import { createSecretCodec } from '../../src/registry/secret-codec.js';
import {
  REDACTED_HEADER_VALUE,
  defaultSensitiveHeaders,
  headersToStore,
  openHeaders,
  redactHeaders,
  sensitiveHeaderMatcher,
} from '../../src/registry/sensitive-headers.js';
import { resolveWebhooksOptions } from '../../src/webhooks-options.js';
import { generateSecret } from '../../src/signing/secret.js';
import { subscriptionAt } from '../support/storage-records.js';

const NOW = Date.UTC(2026, 10, 26, 12);
const codec = createSecretCodec([{ id: 'k1', key: randomBytes(32).toString('base64') }]);
const isSensitive = sensitiveHeaderMatcher(defaultSensitiveHeaders);

describe('sensitiveHeaderMatcher', () => {
  it.each(['Authorization', 'COOKIE', 'proxy-authorization', 'X-Api-Key', 'x-erp-token', 'X-Session-Token'])('marks %s sensitive by default', (name) => {
    expect(isSensitive(name)).toBe(true);
  });

  it.each(['X-Erp-Ledger', 'x-keyring', 'token', 'x-monkey'])('leaves %s in clear by default', (name) => {
    expect(isSensitive(name)).toBe(false);
  });

  it('takes the configured names instead of the defaults, and every header with all', () => {
    const custom = sensitiveHeaderMatcher(resolveWebhooksOptions({ security: { sensitiveHeaders: ['X-Erp-Session', '*-secret'] } }).security.sensitiveHeaders);
    expect(['x-erp-session', 'X-Partner-Secret'].map(custom)).toEqual([true, true]);
    expect(custom('Authorization')).toBe(false);
    expect(sensitiveHeaderMatcher('all')('X-Erp-Ledger')).toBe(true);
  });

  it('defaults security.sensitiveHeaders to Authorization, Cookie, Proxy-Authorization, *-Token and *-Key', () => {
    expect(resolveWebhooksOptions({}).security.sensitiveHeaders).toEqual(['authorization', 'cookie', 'proxy-authorization', '*-token', '*-key']);
  });
});

describe('sealing header values', () => {
  it('seals only the sensitive values, bound to subscription and name, and opens them back', () => {
    const stored = headersToStore({ Authorization: 'Bearer t', 'X-Erp-Ledger': 'l7' }, 'sub_1', null, { codec, isSensitive });
    expect(stored.Authorization).toMatch(/^enc:v1:k1:/);
    expect(stored['X-Erp-Ledger']).toBe('l7');
    expect(openHeaders(stored, 'sub_1', codec)).toEqual({ Authorization: 'Bearer t', 'X-Erp-Ledger': 'l7' });
    // Same name in another case opens; another subscription or another name does not.
    expect(openHeaders({ AUTHORIZATION: stored.Authorization! }, 'sub_1', codec)).toEqual({ AUTHORIZATION: 'Bearer t' });
    expect(() => openHeaders(stored, 'sub_2', codec)).toThrow(expect.objectContaining({ code: 'SECRET_INVALID' }));
    expect(() => openHeaders({ 'x-api-key': stored.Authorization! }, 'sub_1', codec)).toThrow(expect.objectContaining({ code: 'SECRET_INVALID' }));
  });

  it('does not open a sealed header value as the subscription secret, nor a sealed secret as a header', () => {
    const sealedSecret = codec.seal('whsec_x', 'sub_1');
    expect(() => openHeaders({ Authorization: sealedSecret }, 'sub_1', codec)).toThrow(expect.objectContaining({ code: 'SECRET_INVALID' }));
    const sealedHeader = headersToStore({ Authorization: 'Bearer t' }, 'sub_1', null, { codec, isSensitive }).Authorization!;
    expect(() => codec.open(sealedHeader, 'sub_1')).toThrow(expect.objectContaining({ code: 'SECRET_INVALID' }));
  });

  it('refuses a sealed value whose authentication tag was cut short, however short', () => {
    const codec = createSecretCodec([{ id: 'k1', key: randomBytes(32).toString('base64') }]);
    const sealed = codec.seal('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'sub_1');
    expect(codec.open(sealed, 'sub_1')).toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const [head, iv, body] = [sealed.slice(0, sealed.lastIndexOf(':', sealed.lastIndexOf(':') - 1)), ...sealed.split(':').slice(-2)] as [string, string, string];
    const bytes = Buffer.from(body, 'base64url');
    // Cut 12 bytes off the 16-byte tag: Node would check the 4 left unless told the tag's length.
    for (const cut of [bytes.subarray(0, bytes.length - 12), bytes.subarray(0, 4), Buffer.alloc(0)]) {
      expect(() => codec.open(`${head}:${iv}:${cut.toString('base64url')}`, 'sub_1')).toThrow(expect.objectContaining({ code: 'SECRET_INVALID' }));
    }
  });

  it('redacts sensitive and sealed values, listing their names sorted', () => {
    const sealed = headersToStore({ 'x-old-credential': 'c' }, 'sub_1', null, { codec, isSensitive: () => true });
    expect(redactHeaders({ 'x-api-key': 'k', Authorization: 'a', 'X-Erp-Ledger': 'l', ...sealed }, isSensitive)).toEqual({
      headers: { 'x-api-key': REDACTED_HEADER_VALUE, Authorization: REDACTED_HEADER_VALUE, 'X-Erp-Ledger': 'l', 'x-old-credential': REDACTED_HEADER_VALUE },
      sensitiveHeaders: ['Authorization', 'x-api-key', 'x-old-credential'],
    });
  });

  it('never names a header value in the message of one that does not open', () => {
    const error = (() => {
      try {
        openHeaders({ Authorization: headersToStore({ Authorization: 'Bearer sk_live_abc' }, 'sub_1', null, { codec, isSensitive }).Authorization! }, 'sub_9', codec);
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('expected a refusal');
    })();
    expect(error.message).toContain('"Authorization"');
    expect(error.message).not.toContain('sk_live_abc');
  });
});

describe('header names differing only in case', () => {
  /** What `fn` threw. */
  const thrownBy = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return error as Error & { code?: string; field?: string };
    }
    throw new Error('expected a refusal');
  };

  it('refuses two of them, naming the second and never a value', () => {
    const error = thrownBy(() => headersToStore({ Authorization: 'Bearer sk_live_a', authorization: 'Bearer sk_live_b' }, 'sub_1', null, { codec, isSensitive }));
    expect(error).toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID', field: 'headers.authorization' });
    expect(error.message).toContain('"Authorization" and "authorization"');
    expect(error.message).not.toContain('sk_live');
  });

  it('keeps, for a redacted value written back, the value stored under that exact name, and refuses a name that could mean several', () => {
    // Two spellings stored before they were refused: each written back keeps its own value.
    const stored = headersToStore({ Authorization: 'Bearer a' }, 'sub_1', null, { codec, isSensitive });
    const legacy = { ...stored, authorization: headersToStore({ authorization: 'Bearer b' }, 'sub_1', null, { codec, isSensitive }).authorization! };
    expect(openHeaders(headersToStore({ Authorization: REDACTED_HEADER_VALUE }, 'sub_1', legacy, { codec, isSensitive }), 'sub_1', codec)).toEqual({ Authorization: 'Bearer a' });
    expect(openHeaders(headersToStore({ authorization: REDACTED_HEADER_VALUE }, 'sub_1', legacy, { codec, isSensitive }), 'sub_1', codec)).toEqual({ authorization: 'Bearer b' });
    expect(thrownBy(() => headersToStore({ AUTHORIZATION: REDACTED_HEADER_VALUE }, 'sub_1', legacy, { codec, isSensitive }))).toMatchObject({
      code: 'INPUT_INVALID',
      field: 'headers.AUTHORIZATION',
    });
    // One stored spelling: another case of it keeps it, as before.
    expect(openHeaders(headersToStore({ AUTHORIZATION: REDACTED_HEADER_VALUE }, 'sub_1', stored, { codec, isSensitive }), 'sub_1', codec)).toEqual({ AUTHORIZATION: 'Bearer a' });
  });

  it('refuses them at create and update, storing nothing; a redacted write-back cannot take another header\'s secret', async () => {
    const webhooks = createWebhooks({ storage: createMemoryStorage(), meter: false });
    const url = 'https://erp.example.com/hooks';
    await expect(webhooks.subscriptions.create({ url, eventTypes: ['*'], headers: { Authorization: 'Bearer a', authorization: 'Bearer b' } })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      field: 'headers.authorization',
    });
    expect((await webhooks.subscriptions.list()).items).toEqual([]);
    const sub = await webhooks.subscriptions.create({ url, eventTypes: ['*'], headers: { Authorization: 'Bearer a' } });
    await expect(webhooks.subscriptions.update(sub.id, { headers: { Authorization: REDACTED_HEADER_VALUE, authorization: 'Bearer b' } })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      field: 'headers.authorization',
    });
    expect(await webhooks.subscriptions.getHeaders(sub.id)).toEqual({ Authorization: 'Bearer a' });
    await webhooks.close();
  });
});

describe('the dispatcher cache of opened headers', () => {
  it('opens the sealed values and follows the stored headers as they change', () => {
    const cache = new SigningKeyCache(codec);
    const secrets = [{ value: generateSecret(), createdAt: NOW, expiresAt: null }];
    const first = headersToStore({ Authorization: 'Bearer one' }, 'sub_1', null, { codec, isSensitive });
    expect(cache.get(subscriptionAt(NOW, { id: 'sub_1', secrets, headers: first }), NOW).headers).toEqual({ Authorization: 'Bearer one' });
    const second = headersToStore({ Authorization: 'Bearer two' }, 'sub_1', null, { codec, isSensitive });
    expect(cache.get(subscriptionAt(NOW, { id: 'sub_1', secrets, headers: second }), NOW).headers).toEqual({ Authorization: 'Bearer two' });
    const moved = cache.get(subscriptionAt(NOW, { id: 'sub_2', secrets, headers: second }), NOW);
    expect(moved.headers).toBeNull();
    expect(moved.headersError).toContain('"Authorization"');
  });
});

describe('subscription inputs refused', () => {
  const webhooks = createWebhooks({ storage: createMemoryStorage(), meter: false, security: { secretsKey: randomBytes(32).toString('base64') } });
  const url = 'https://erp.example.com/hooks';

  it('refuses the redaction marker in create, naming the header', async () => {
    await expect(webhooks.subscriptions.create({ url, eventTypes: ['*'], headers: { Authorization: REDACTED_HEADER_VALUE } })).rejects.toMatchObject({
      name: 'ValidationError',
      code: 'INPUT_INVALID',
      field: 'headers.Authorization',
    });
  });

  it('refuses a header value in the sealed form, naming the header', async () => {
    await expect(webhooks.subscriptions.create({ url, eventTypes: ['*'], headers: { 'X-Erp-Ledger': 'enc:v1:k1:a:b' } })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      field: 'headers.X-Erp-Ledger',
    });
  });

  it('refuses getHeaders for an unknown or malformed id', async () => {
    await expect(webhooks.subscriptions.getHeaders('sub_missing')).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND' });
    await expect(webhooks.subscriptions.getHeaders(42 as never)).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'id' });
  });
});

describe('a refused header in the error', () => {
  it.each([
    ['a value with CR/LF', { Authorization: 'Bearer sk_live_9f3a\r\nX-Injected: 1' }, 'headers.Authorization', 'a value with one at position 19'],
    ['a value with a NUL', { 'X-Api-Key': 'sk_live_9f3a\u0000' }, 'headers.X-Api-Key', 'a value with one at position 12'],
    ['a value past U+00FF', { 'X-Api-Key': 'sk_live_9f3a€' }, 'headers.X-Api-Key', 'a value with one at position 12'],
    ['a name that is not a token', { 'x api key': 'sk_live_9f3a' }, 'headers.x api key', 'the header "x api key"'],
    ['a reserved name', { 'webhook-id': 'sk_live_9f3a' }, 'headers.webhook-id', 'the header "webhook-id"'],
  ])('says what came for %s without repeating the value, which may be a credential', async (_what, headers, field, got) => {
    const webhooks = createWebhooks({ storage: createMemoryStorage() });
    try {
      const refused = await webhooks.subscriptions.create({ url: 'https://erp.example/hooks', eventTypes: ['*'], headers }).catch((error: unknown) => error as Error);
      expect(refused).toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID', field });
      expect((refused as Error).message).toContain(`got ${got}`);
      expect((refused as Error).message).not.toContain('sk_live_9f3a');
    } finally {
      await webhooks.close();
    }
  });
});
