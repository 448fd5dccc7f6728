/**
 * Flow control per subscription, so that one slow or failing receiver cannot starve
 * the others and a burst of financial events does not flood one receiver:
 *
 * - a concurrency cap: at most `maxInFlight` posts to one subscription at once;
 * - a rate limit: a token bucket of `ratePerSecond` refilling up to `burst`;
 * - a circuit breaker: after `failureThreshold` consecutive failed attempts, no post
 *   for `cooldownMs` (doubling on each failed probe, up to `maxCooldownMs`), then one
 *   probe; a success closes it.
 *
 * Nothing here fails a delivery: a blocked subscription's deliveries stay in storage
 * and are simply not claimed (the dispatcher passes {@link FlowControl.blocked} to
 * `claimDue`). The state is per process: with N instances on one database, each
 * enforces its own cap and rate.
 */
import type { Clock } from '../clock.js';
import type { StoredFlowControl } from '../storage/storage-adapter.js';
import type { ResolvedCircuitBreakerOptions, ResolvedFlowControlOptions } from './flow-control-options.js';

type BreakerState = 'closed' | 'open' | 'half-open';

interface SubscriptionState {
  inFlight: number;
  maxInFlight: number;
  ratePerSecond: number | null;
  burst: number;
  tokens: number;
  refilledAt: number;
  breaker: BreakerState;
  consecutiveFailures: number;
  openUntil: number;
  cooldownMs: number;
}

/** What the flow controller reports about a subscription, for metrics and tests. */
export interface SubscriptionFlowStatus {
  inFlight: number;
  breaker: BreakerState;
  /** Epoch ms at which an open breaker lets a probe through. */
  openUntil: number | null;
  tokens: number | null;
}

export class FlowControl {
  private readonly states = new Map<string, SubscriptionState>();

  constructor(
    private readonly clock: Clock,
    private readonly defaults: ResolvedFlowControlOptions,
    private readonly breaker: ResolvedCircuitBreakerOptions,
  ) {}

  /** Applies a subscription's settings (from its stored record) over the defaults. */
  configure(subscriptionId: string, settings: StoredFlowControl | null): void {
    const state = this.stateOf(subscriptionId);
    const maxInFlight = settings?.maxInFlight ?? this.defaults.maxInFlightPerSubscription;
    const ratePerSecond = settings?.ratePerSecond === undefined ? this.defaults.ratePerSecond : settings.ratePerSecond;
    const burst = settings?.burst ?? this.defaults.burst;
    state.tokens = Math.min(state.tokens, burst);
    state.maxInFlight = maxInFlight;
    state.ratePerSecond = ratePerSecond;
    state.burst = burst;
  }

  private stateOf(subscriptionId: string): SubscriptionState {
    let state = this.states.get(subscriptionId);
    if (!state) {
      state = {
        inFlight: 0,
        maxInFlight: this.defaults.maxInFlightPerSubscription,
        ratePerSecond: this.defaults.ratePerSecond,
        burst: this.defaults.burst,
        tokens: this.defaults.burst,
        refilledAt: this.clock.now(),
        breaker: 'closed',
        consecutiveFailures: 0,
        openUntil: 0,
        cooldownMs: this.breaker === false ? 0 : this.breaker.cooldownMs,
      };
      this.states.set(subscriptionId, state);
    }
    return state;
  }

  private refill(state: SubscriptionState, now: number): void {
    if (state.ratePerSecond === null) return;
    const elapsed = Math.max(0, now - state.refilledAt);
    state.tokens = Math.min(state.burst, state.tokens + (elapsed * state.ratePerSecond) / 1000);
    state.refilledAt = now;
  }

  /**
   * Until when a subscription may not start a post for a reason other than its
   * concurrency cap (breaker open, or out of rate tokens); `null` when none applies.
   * Half-open counts as a cap of one.
   */
  private heldUntil(state: SubscriptionState, now: number): number | null {
    if (state.breaker === 'open') {
      if (now < state.openUntil) return state.openUntil;
      state.breaker = 'half-open';
    }
    if (state.ratePerSecond !== null) {
      this.refill(state, now);
      if (state.tokens < 1) return now + Math.ceil(((1 - state.tokens) * 1000) / state.ratePerSecond);
    }
    return null;
  }

  private capOf(state: SubscriptionState): number {
    return state.breaker === 'half-open' ? 1 : state.maxInFlight;
  }

  /**
   * Whether a post to the subscription may start now: `ok`; `cap` when its posts in
   * flight fill its cap (a slot frees when one finishes); `held` when its breaker is
   * open or it is out of rate tokens (it unblocks by itself later).
   */
  check(subscriptionId: string): 'ok' | 'cap' | 'held' {
    const state = this.stateOf(subscriptionId);
    if (this.heldUntil(state, this.clock.now()) !== null) return 'held';
    return state.inFlight >= this.capOf(state) ? 'cap' : 'ok';
  }

  /** True when a post to the subscription may start now. */
  canStart(subscriptionId: string): boolean {
    return this.check(subscriptionId) === 'ok';
  }

  /** Records the start of a post (takes a slot and a token). */
  start(subscriptionId: string): void {
    const state = this.stateOf(subscriptionId);
    state.inFlight += 1;
    if (state.ratePerSecond !== null) {
      this.refill(state, this.clock.now());
      state.tokens -= 1;
    }
  }

  /** Records the end of a post. `failed`: the attempt did not get a 2xx. */
  finish(subscriptionId: string, failed: boolean): void {
    const state = this.stateOf(subscriptionId);
    state.inFlight = Math.max(0, state.inFlight - 1);
    if (!failed) {
      state.consecutiveFailures = 0;
      state.breaker = 'closed';
      if (this.breaker !== false) state.cooldownMs = this.breaker.cooldownMs;
      return;
    }
    state.consecutiveFailures += 1;
    if (this.breaker === false) return;
    if (state.breaker === 'half-open') {
      // The probe failed: open again, waiting longer each time.
      state.cooldownMs = Math.min(this.breaker.maxCooldownMs, state.cooldownMs * 2);
      state.breaker = 'open';
      state.openUntil = this.clock.now() + state.cooldownMs;
    } else if (state.breaker === 'closed' && state.consecutiveFailures >= this.breaker.failureThreshold) {
      state.breaker = 'open';
      state.openUntil = this.clock.now() + state.cooldownMs;
    }
  }

  /**
   * Subscriptions to leave out of the next claim, and the earliest time one of them
   * unblocks by itself (rate refill, breaker cool-down). Held ones (breaker, rate) are
   * always left out; a capped one once its posts in flight plus `buffered(id)` — the
   * deliveries already claimed for it and waiting — reach `capacityFactor` × its cap.
   */
  blocked(buffered: (subscriptionId: string) => number = () => 0, capacityFactor = 1): { subscriptionIds: string[]; nextUnblockAt: number | null } {
    const now = this.clock.now();
    const subscriptionIds: string[] = [];
    let nextUnblockAt: number | null = null;
    for (const [id, state] of this.states) {
      const until = this.heldUntil(state, now);
      if (until !== null) {
        subscriptionIds.push(id);
        if (nextUnblockAt === null || until < nextUnblockAt) nextUnblockAt = until;
        continue;
      }
      if (state.inFlight + buffered(id) >= this.capOf(state) * capacityFactor) {
        subscriptionIds.push(id);
        continue;
      }
      // Idle and unconstrained: forget it, so the map holds only subscriptions with state worth keeping.
      if (state.inFlight === 0 && state.breaker === 'closed' && state.consecutiveFailures === 0 && (state.ratePerSecond === null || state.tokens >= state.burst)) {
        this.states.delete(id);
      }
    }
    return { subscriptionIds, nextUnblockAt };
  }

  status(subscriptionId: string): SubscriptionFlowStatus {
    const state = this.states.get(subscriptionId);
    if (!state) return { inFlight: 0, breaker: 'closed', openUntil: null, tokens: null };
    return {
      inFlight: state.inFlight,
      breaker: state.breaker,
      openUntil: state.breaker === 'open' ? state.openUntil : null,
      tokens: state.ratePerSecond === null ? null : state.tokens,
    };
  }
}
