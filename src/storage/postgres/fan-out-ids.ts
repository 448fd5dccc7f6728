/**
 * Delivery ids made before the publish statement knows its fan-out, so that publishing
 * stays one round trip: the statement finds the matching subscriptions and inserts the
 * deliveries itself, and takes their ids (made by shared/delivery-ids.ts) from an array
 * parameter. Made per tenant scope and event type — one tenant's fan-out of a type (its
 * own subscriptions and the all-tenant consumers) says little about another's — as many
 * as its last fan-out plus some slack; a publish whose fan-out outgrew them stores nothing
 * and is run again with enough (figures in bench/README).
 */
import { newDeliveryId } from '../shared/delivery-ids.js';

/** Ids beyond the last fan-out seen for the tenant scope and type. */
const slack = 16;
/**
 * (tenant scope, event type) pairs remembered; past this the least recently published one
 * is forgotten (a host with many tenants, or unbounded type names). A pair not remembered
 * gets the slack alone, enough for most tenants' fan-outs.
 */
const pairsRemembered = 10_000;

export class FanOutIds {
  readonly #lastFanOut = new Map<string, number>();

  /**
   * Ids for a publish of `type` in `scope` (idempotencyScope of its tenant) at `now`: at
   * least `needed` (the fan-out a previous try reported) plus slack.
   */
  idsFor(scope: string, type: string, now: number, needed = 0): string[] {
    const count = Math.max(needed, this.#lastFanOut.get(pairKey(scope, type)) ?? 0) + slack;
    return Array.from({ length: count }, () => newDeliveryId(now));
  }

  /** The fan-out a publish of `type` in `scope` had. */
  remember(scope: string, type: string, fanOut: number): void {
    const key = pairKey(scope, type);
    // Deleted first, so that the Map's insertion order is the order of last use.
    this.#lastFanOut.delete(key);
    if (this.#lastFanOut.size >= pairsRemembered) {
      const oldest = this.#lastFanOut.keys().next();
      if (oldest.done !== true) this.#lastFanOut.delete(oldest.value);
    }
    this.#lastFanOut.set(key, fanOut);
  }
}

// A tenant id holds no control character (src/tenant-id.ts), so NUL cannot make two pairs one key.
function pairKey(scope: string, type: string): string {
  return `${scope}\u0000${type}`;
}
