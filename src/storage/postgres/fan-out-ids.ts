/**
 * Delivery ids made before the publish statement knows its fan-out, so that publishing
 * stays one round trip: the statement finds the matching subscriptions and inserts the
 * deliveries itself, and takes their ids (made by shared/delivery-ids.ts) from an array
 * parameter. Made per event type as many as its last fan-out plus some slack; a publish
 * whose fan-out outgrew them stores nothing and is run again with enough (figures in
 * bench/README).
 */
import { newDeliveryId } from '../shared/delivery-ids.js';

/** Ids beyond the last fan-out seen for the type. */
const slack = 16;
/** Event types remembered; past this the memory starts over (a host with unbounded type names). */
const typesRemembered = 1000;

export class FanOutIds {
  readonly #lastFanOut = new Map<string, number>();

  /** Ids for a publish of `type` at `now`: at least `needed` (the fan-out a previous try reported) plus slack. */
  idsFor(type: string, now: number, needed = 0): string[] {
    const count = Math.max(needed, this.#lastFanOut.get(type) ?? 0) + slack;
    return Array.from({ length: count }, () => newDeliveryId(now));
  }

  /** The fan-out a publish of `type` had. */
  remember(type: string, fanOut: number): void {
    if (this.#lastFanOut.size >= typesRemembered) this.#lastFanOut.clear();
    this.#lastFanOut.set(type, fanOut);
  }
}
