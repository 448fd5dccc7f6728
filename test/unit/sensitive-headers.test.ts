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
