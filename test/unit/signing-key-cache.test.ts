/**
 * The dispatcher's signing-key cache: keys follow the stored secrets whatever
 * `updatedAt` says, it stays within its bound, and keys it lets go are wiped.
 */
import { describe, expect, it } from 'vitest';
import { SigningKeyCache } from '../../src/delivery/signing-key-cache.js';
import { createSecretCodec } from '../../src/registry/secret-codec.js';
import { decodeSecret, generateSecret, SECRET_PREFIX, encodeBase64 } from '../../src/signing/secret.js';
import { signWebhook, signatureHeader, type SigningKeys } from '../../src/signing/sign-webhook.js';
import type { SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import { subscriptionAt } from '../support/storage-records.js';

const NOW = Date.UTC(2026, 10, 26, 12);
const body = '{"id":"evt_1"}';

function record(id: string, secret: string, patch: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return subscriptionAt(NOW, { id, secrets: [{ value: secret, createdAt: NOW, expiresAt: null }], ...patch });
}

function header(keys: SigningKeys | null): string {
  expect(keys).not.toBeNull();
  return signatureHeader(keys!, 'evt_1', NOW / 1000, body);
}

const signedWith = (secret: string | string[]) => signWebhook({ id: 'evt_1', timestamp: NOW / 1000, body, secrets: secret });

describe('SigningKeyCache', () => {
  it('signs with the stored secret as it is now, even when updatedAt has not moved', () => {
    const cache = new SigningKeyCache(createSecretCodec([]));
    const [first, second] = [generateSecret(), generateSecret()];
    expect(header(cache.get(record('sub_1', first), NOW).keys)).toBe(signedWith(first));
    expect(header(cache.get(record('sub_1', second), NOW).keys)).toBe(signedWith(second));
    expect(header(cache.get(record('sub_1', second), NOW).keys)).toBe(signedWith(second));
  });

  it('stops signing with a rotated-out secret once it expires, the stored record unchanged', () => {
    const cache = new SigningKeyCache(createSecretCodec([]));
    const [old, current] = [generateSecret(), generateSecret()];
    const rotating = record('sub_1', current, {
      secrets: [
        { value: current, createdAt: NOW, expiresAt: null },
        { value: old, createdAt: NOW - 60_000, expiresAt: NOW + 1_000 },
      ],
    });
    expect(header(cache.get(rotating, NOW).keys)).toBe(signedWith([current, old]));
    expect(header(cache.get(rotating, NOW + 1_000).keys)).toBe(signedWith(current));
  });

  it('holds at most its bound, keeping the subscriptions in use', () => {
    const cache = new SigningKeyCache(createSecretCodec([]), 4);
    const hot = record('sub_hot', generateSecret());
    for (let n = 0; n < 50; n++) {
      cache.get(hot, NOW);
      cache.get(record(`sub_${n}`, generateSecret()), NOW);
      expect(cache.size).toBeLessThanOrEqual(4);
    }
    const kept = cache.get(hot, NOW);
    // Still the entry made at the start: its keys were never wiped by an eviction.
    expect(header(kept.keys)).toBe(signedWith(hot.secrets[0]!.value));
    expect(cache.size).toBe(4);
  });

  it('wipes the keys of a deleted subscription, of a replaced secret, and of every subscription on clear()', () => {
    const cache = new SigningKeyCache(createSecretCodec([]));
    const secrets = [generateSecret(), generateSecret(), generateSecret(), generateSecret()];
    const zeroKey = (secret: string) => SECRET_PREFIX + encodeBase64(new Uint8Array(decodeSecret(secret).length));

    const deleted = cache.get(record('sub_deleted', secrets[0]!), NOW).keys;
    header(deleted);
    cache.delete('sub_deleted');
    expect(cache.size).toBe(0);
    expect(header(deleted)).toBe(signedWith(zeroKey(secrets[0]!)));

    const replaced = cache.get(record('sub_rotated', secrets[1]!), NOW).keys;
    header(replaced);
    cache.get(record('sub_rotated', secrets[2]!), NOW);
    expect(header(replaced)).toBe(signedWith(zeroKey(secrets[1]!)));

    const cleared = cache.get(record('sub_other', secrets[3]!), NOW).keys;
    cache.clear();
    expect(cache.size).toBe(0);
    expect(header(cleared)).toBe(signedWith(zeroKey(secrets[3]!)));
  });
});
