/**
 * The event feed's default memory of request nonces, kept apart per subscription.
 *
 * One bounded store for every subscription would let one consumer make any other's
 * requests replayable: a consumer holding its own secret signs requests as fast as it
 * likes, each remembering a nonce, and once the store is full the oldest nonces go — those
 * of other subscriptions, whose captured requests could then be sent again within the
 * tolerance window. Here each subscription has its own bounded share: a flood of one
 * consumer's requests pushes out only its own oldest nonces. A nonce is any header value, up
 * to the server's header size (16 KiB on Node): a long one is kept as its SHA-256, so a flood
 * of long nonces costs no more memory than one of short ones.
 */
import type { DedupeClaim, DedupeStore } from '../receiver/dedupe-store.js';

/** Most nonces remembered per subscription: 100,000 requests within twice the tolerance (10 min by default) is 166 a second. */
export const NONCES_PER_SUBSCRIPTION = 100_000;

/** Claims between two sweeps of every subscription's expired nonces (those that stopped pulling). */
const SWEEP_EVERY = 10_000;

/** Nonces longer than this are remembered by their SHA-256 (`feedreq_<uuid>`, what `pullMissed` sends, is 44 characters). */
const KEPT_AS_IS = 64;

/**
 * What is remembered of a nonce: itself when short, else U+0000 and its SHA-256 in hex
 * (U+0000 is in no header value, so no short nonce reads as a digest).
 */
async function keptNonce(nonce: string): Promise<string> {
  if (nonce.length <= KEPT_AS_IS) return nonce;
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(nonce)));
  let hex = '\u0000';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/**
 * A {@link DedupeStore} for the feed's nonces, whose ids are `<subscriptionId>\n<nonce>`
 * (as the signed-request check claims them): `claim` alone is used; an id is remembered
 * from its claim until its lease ends.
 *
 * @internal The default of `createEventFeedHandler`'s `nonces`.
 */
export function createNonceMemory(clock: { now(): number }, perSubscription = NONCES_PER_SUBSCRIPTION): DedupeStore {
  /** Per subscription, nonce → when it may be used again (epoch ms), in claim order. */
  const bySubscription = new Map<string, Map<string, number>>();
  let claims = 0;

  /** Drops the expired nonces at the front of `nonces` (claim order; a lease is the same length for every claim). */
  function sweep(nonces: Map<string, number>, now: number): void {
    for (const [nonce, expiresAt] of nonces) {
      if (expiresAt > now) return;
      nonces.delete(nonce);
    }
  }

  function sweepAll(now: number): void {
    for (const [subscriptionId, nonces] of bySubscription) {
      sweep(nonces, now);
      if (nonces.size === 0) bySubscription.delete(subscriptionId);
    }
  }

  return {
    async claim(id, leaseSeconds): Promise<DedupeClaim> {
      const split = id.indexOf('\n');
      const subscriptionId = split === -1 ? '' : id.slice(0, split);
      const nonce = await keptNonce(id.slice(split + 1));
      const now = clock.now();
      if (++claims % SWEEP_EVERY === 0) sweepAll(now);
      let nonces = bySubscription.get(subscriptionId);
      if (nonces === undefined) bySubscription.set(subscriptionId, (nonces = new Map()));
      const expiresAt = nonces.get(nonce);
      if (expiresAt !== undefined && expiresAt > now) return 'in-flight';
      nonces.delete(nonce);
      sweep(nonces, now);
      // Full of live nonces: this subscription's oldest goes, never another subscription's.
      while (nonces.size >= perSubscription) nonces.delete(nonces.keys().next().value!);
      nonces.set(nonce, now + leaseSeconds * 1000);
      return 'claimed';
    },
    async complete() {
      // A nonce is remembered from its claim: there is nothing to complete.
    },
    async release() {
      // A nonce once used stays used: it is never given back.
    },
  };
}
