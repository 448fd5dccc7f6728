/**
 * The signing keys the dispatcher keeps per subscription between posts, opened and
 * decoded from its stored secrets once rather than on every attempt, with its custom
 * headers as sent (sealed sensitive values opened).
 *
 * An entry serves a post only while the subscription's stored secrets are the ones it was
 * made from, compared field by field on every post: a stored secret changes with every
 * rotation (a sealed one even when the plaintext is the same, its IV being fresh), so a
 * rotation shows at the very next post however soon it came. `updatedAt` cannot tell two
 * changes of one millisecond apart.
 *
 * The headers follow the stored headers the same way: compared with the copy the opened
 * values were made from on every post, so an update shows at the very next post.
 *
 * Bounded: past `maxEntries` subscriptions, one not used since the last sweep goes
 * (second chance). Decoded keys are wiped when their entry goes, is replaced, or the
 * cache is cleared (`stop()`), so no key material of the instance outlives it.
 */
import type { SecretCodec } from '../registry/secret-codec.js';
import { openHeaders } from '../registry/sensitive-headers.js';
import { activeSecrets } from '../registry/subscription-registry.js';
import { createSigningKeys, wipeSigningKeys, type SigningKeys } from '../signing/sign-webhook.js';
import type { SecretRecord, StoredTlsIdentity, SubscriptionRecord } from '../storage/storage-adapter.js';
import { transportTls } from './tls-identity.js';
import type { TransportTls } from './transport.js';

/** The keys a post signs with and the headers it sends, or why there are none. */
export interface SubscriptionSigningKeys {
  /** `null` when a secret does not open or decode with the configured keys (see `keysError`). */
  readonly keys: SigningKeys | null;
  readonly keysError: string | null;
  /** The custom headers in clear; `null` when a sealed value does not open (see `headersError`). */
  readonly headers: Readonly<Record<string, string>> | null;
  readonly headersError: string | null;
  /** The TLS identity, its key opened; `null` without one, or when its key does not open (see `tlsError`). */
  readonly tls: TransportTls | null;
  /** Why the subscription's TLS key does not open; `null` when it does or there is none. */
  readonly tlsError: string | null;
}

interface Entry extends SubscriptionSigningKeys {
  keys: SigningKeys | null;
  keysError: string | null;
  headers: Readonly<Record<string, string>> | null;
  headersError: string | null;
  /** A copy of the stored headers the opened ones were made from. */
  storedHeaders: Record<string, string>;
  tls: TransportTls | null;
  tlsError: string | null;
  /** The stored TLS identity the opened one was made from. */
  storedTls: StoredTlsIdentity | null;
  /** Copies of the stored secrets the keys were made from. */
  secrets: SecretRecord[];
  /** The earliest expiry among the secrets: the active set changes then. */
  secretsExpireAt: number;
  /** Used since the last eviction sweep passed it. */
  used: boolean;
}

/** The default bound: far above the subscriptions one process posts to in a lease's time. */
export const defaultMaxCachedSubscriptions = 1024;

export class SigningKeyCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly codec: SecretCodec,
    private readonly maxEntries = defaultMaxCachedSubscriptions,
  ) {}

  /** Subscriptions held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The keys for `subscription`'s secrets as stored now, opened afresh when they changed or one expired. */
  get(subscription: SubscriptionRecord, now: number): SubscriptionSigningKeys {
    let entry = this.entries.get(subscription.id);
    if (entry === undefined) {
      if (this.entries.size >= this.maxEntries) this.evictOne();
      entry = {
        keys: null,
        keysError: null,
        headers: null,
        headersError: null,
        storedHeaders: {},
        tls: null,
        tlsError: null,
        storedTls: null,
        secrets: [],
        secretsExpireAt: Number.POSITIVE_INFINITY,
        used: false,
      };
      this.openKeys(entry, subscription, now);
      this.openHeaders(entry, subscription);
      this.openTls(entry, subscription);
      this.entries.set(subscription.id, entry);
      return entry;
    }
    if (now >= entry.secretsExpireAt || !sameSecrets(entry.secrets, subscription.secrets)) this.openKeys(entry, subscription, now);
    if (!sameHeaders(entry.storedHeaders, subscription.headers)) this.openHeaders(entry, subscription);
    if (!sameTls(entry.storedTls, subscription.tls ?? null)) this.openTls(entry, subscription);
    entry.used = true;
    return entry;
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

  private openHeaders(entry: Entry, subscription: SubscriptionRecord): void {
    entry.headers = null;
    entry.headersError = null;
    try {
      entry.headers = openHeaders(subscription.headers, subscription.id, this.codec);
    } catch (error) {
      entry.headersError = error instanceof Error ? error.message : String(error);
    }
    entry.storedHeaders = { ...subscription.headers };
  }

  private openTls(entry: Entry, subscription: SubscriptionRecord): void {
    const stored = subscription.tls ?? null;
    entry.tls = null;
    entry.tlsError = null;
    entry.storedTls = stored === null ? null : { ...stored };
    if (stored === null) return;
    try {
      entry.tls = transportTls(stored, (sealed) => this.codec.open(sealed, subscription.id));
    } catch (error) {
      entry.tlsError = error instanceof Error ? error.message : String(error);
    }
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

function sameTls(cached: StoredTlsIdentity | null, stored: StoredTlsIdentity | null): boolean {
  if (cached === null || stored === null) return cached === stored;
  return (
    cached.clientCertificate === stored.clientCertificate && cached.clientKey === stored.clientKey && cached.ca === stored.ca && cached.serverName === stored.serverName
  );
}

function sameHeaders(cached: Readonly<Record<string, string>>, stored: Readonly<Record<string, string>>): boolean {
  const names = Object.keys(stored);
  if (names.length !== Object.keys(cached).length) return false;
  return names.every((name) => Object.hasOwn(cached, name) && cached[name] === stored[name]);
}
