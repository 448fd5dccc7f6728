/**
 * What the dispatcher keeps per subscription between posts: the signing keys opened and
 * decoded from its secrets, and its retry policy normalised.
 *
 * An entry serves a post only while the subscription's stored secrets and retry policy
 * are the ones it was made from, compared field by field on every post (no allocation):
 * a stored secret changes with every rotation (a sealed one even when the plaintext is
 * the same, its IV being fresh), so a rotation shows at the very next post however soon
 * it came. `updatedAt` cannot tell two changes of one millisecond apart.
 *
 * Bounded: past `maxEntries` subscriptions, one not used since the last sweep goes
 * (second chance, so a hit costs one flag write). Decoded keys are wiped when their
 * entry goes, is replaced, or the cache is cleared (`stop()`), so no key material of
 * the instance outlives it.
 */
import type { RetryPolicy } from './backoff.js';
import type { SecretCodec } from '../registry/secret-codec.js';
import { activeSecrets } from '../registry/subscription-registry.js';
import { createSigningKeys, wipeSigningKeys, type SigningKeys } from '../signing/sign-webhook.js';
import type { SecretRecord, StoredRetryPolicy, SubscriptionRecord } from '../storage/storage-adapter.js';
import { normalizeStoredRetryPolicy } from './retry-options.js';

/** What a post needs of its subscription. */
export interface SubscriptionEntry {
  /** `null` when a secret does not open or decode with the configured keys (see `keysError`). */
  readonly keys: SigningKeys | null;
  readonly keysError: string | null;
  /** The subscription's own policy; `null` to use the global one. */
  readonly policy: RetryPolicy | null;
}

interface Entry extends SubscriptionEntry {
  keys: SigningKeys | null;
  keysError: string | null;
  policy: RetryPolicy | null;
  /** Copies of the stored secrets the keys were made from. */
  secrets: SecretRecord[];
  /** A copy of the stored policy `policy` was made from. */
  retry: StoredRetryPolicy | null;
  /** The earliest expiry among the secrets: the active set changes then. */
  secretsExpireAt: number;
  /** Used since the last eviction sweep passed it. */
  used: boolean;
}

/** The default bound: far above the subscriptions one process posts to in a lease's time. */
export const defaultMaxCachedSubscriptions = 1024;

export class SubscriptionCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly codec: SecretCodec,
    private readonly maxEntries = defaultMaxCachedSubscriptions,
  ) {}

  /** Subscriptions held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The entry for `subscription` as stored now, made afresh when its secrets or retry policy changed. */
  get(subscription: SubscriptionRecord, now: number): SubscriptionEntry {
    const entry = this.entries.get(subscription.id);
    if (entry !== undefined) {
      const secretsHold = now < entry.secretsExpireAt && sameSecrets(entry.secrets, subscription.secrets);
      if (secretsHold && sameRetry(entry.retry, subscription.retry)) {
        entry.used = true;
        return entry;
      }
      if (!secretsHold) this.openKeys(entry, subscription, now);
      else this.setPolicy(entry, subscription);
      entry.used = true;
      return entry;
    }
    if (this.entries.size >= this.maxEntries) this.evictOne();
    const fresh: Entry = {
      keys: null,
      keysError: null,
      policy: null,
      secrets: [],
      retry: null,
      secretsExpireAt: Number.POSITIVE_INFINITY,
      used: false,
    };
    this.openKeys(fresh, subscription, now);
    this.setPolicy(fresh, subscription);
    this.entries.set(subscription.id, fresh);
    return fresh;
  }

  /** Forgets a subscription (deleted), wiping its keys. */
  delete(subscriptionId: string): void {
    const entry = this.entries.get(subscriptionId);
    if (entry === undefined) return;
    this.entries.delete(subscriptionId);
    if (entry.keys !== null) wipeSigningKeys(entry.keys);
  }

  /** Forgets every subscription, wiping their keys. */
  clear(): void {
    for (const entry of this.entries.values()) if (entry.keys !== null) wipeSigningKeys(entry.keys);
    this.entries.clear();
  }

  private openKeys(entry: Entry, subscription: SubscriptionRecord, now: number): void {
    if (entry.keys !== null) wipeSigningKeys(entry.keys);
    entry.keys = null;
    entry.keysError = null;
    const secrets = activeSecrets(subscription, now);
    try {
      entry.keys = createSigningKeys(secrets.map((secret) => this.codec.open(secret.value, subscription.id)));
    } catch (error) {
      entry.keysError = error instanceof Error ? error.message : String(error);
    }
    entry.secrets = subscription.secrets.map(({ value, createdAt, expiresAt }) => ({ value, createdAt, expiresAt }));
    let expireAt = Number.POSITIVE_INFINITY;
    for (const secret of secrets) if (secret.expiresAt !== null && secret.expiresAt < expireAt) expireAt = secret.expiresAt;
    entry.secretsExpireAt = expireAt;
  }

  private setPolicy(entry: Entry, subscription: SubscriptionRecord): void {
    const { retry } = subscription;
    entry.retry = retry === null ? null : 'delaysMs' in retry ? { ...retry, delaysMs: [...retry.delaysMs] } : { ...retry };
    entry.policy = retry === null ? null : normalizeStoredRetryPolicy(retry);
  }

  /** Evicts the oldest entry not used since the sweep last passed it; the used ones it passes get a second chance. */
  private evictOne(): void {
    for (const [id, entry] of this.entries) {
      if (entry.used) {
        entry.used = false;
        // To the back of the line.
        this.entries.delete(id);
        this.entries.set(id, entry);
        continue;
      }
      this.delete(id);
      return;
    }
  }
}

function sameSecrets(cached: readonly SecretRecord[], stored: readonly SecretRecord[]): boolean {
  if (cached.length !== stored.length) return false;
  for (let i = 0; i < cached.length; i++) {
    const a = cached[i]!;
    const b = stored[i]!;
    if (a.value !== b.value || a.createdAt !== b.createdAt || a.expiresAt !== b.expiresAt) return false;
  }
  return true;
}

function sameRetry(cached: StoredRetryPolicy | null, stored: StoredRetryPolicy | null): boolean {
  if (cached === null || stored === null) return cached === stored;
  if ('delaysMs' in cached) {
    if (!('delaysMs' in stored) || cached.jitter !== stored.jitter || cached.delaysMs.length !== stored.delaysMs.length) return false;
    for (let i = 0; i < cached.delaysMs.length; i++) if (cached.delaysMs[i] !== stored.delaysMs[i]) return false;
    return true;
  }
  return (
    !('delaysMs' in stored) &&
    cached.initialDelayMs === stored.initialDelayMs &&
    cached.factor === stored.factor &&
    cached.maxDelayMs === stored.maxDelayMs &&
    cached.maxAttempts === stored.maxAttempts &&
    cached.jitter === stored.jitter
  );
}
