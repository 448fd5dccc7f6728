/**
 * Flow control per subscription, so that one slow or failing receiver cannot starve
 * the others and a burst of financial events does not flood one receiver:
 *
 * - a concurrency cap: at most `maxInFlight` posts to one subscription at once. A
 *   subscription on the default cap (no cap of its own, none set globally) shares: it may
 *   go past its cap, up to `maxInFlightWhenAlone`, into slots no other subscription's
 *   delivery can take — the dispatcher asks with `alone` only after everything else it holds
 *   or can claim has had its turn (claim-ahead-buffer.ts, dispatcher.ts);
 * - a rate limit: a token bucket of `ratePerSecond` refilling up to `burst`;
 * - a circuit breaker: after `failureThreshold` consecutive failed attempts, no post
 *   for `cooldownMs` (doubling on each failed probe, up to `maxCooldownMs`), then one
 *   probe; a success closes it;
 *
 * and per tenant, when the host sets `tenantLimits.ratePerSecond`, a rate limit across
 * all of a tenant's endpoints (`tenant-rate-limit.ts`).
 *
 * Nothing here fails a delivery: a blocked subscription's or tenant's deliveries stay in
 * storage and are simply not claimed (the dispatcher passes {@link FlowControl.blocked} to
 * `claimDue`). The state is per process: with N instances on one database, each
 * enforces its own cap and rates.
 */
import type { Clock } from '../clock.js';
import type { StoredFlowControl } from '../storage/storage-adapter.js';
import type { ResolvedCircuitBreakerOptions, ResolvedFlowControlOptions } from './flow-control-options.js';
import { TenantRateLimit } from './tenant-rate-limit.js';
import { refillBucket, tokenDueAt, type TokenRate } from './token-bucket.js';

type BreakerState = 'closed' | 'open' | 'half-open';

interface SubscriptionState {
  inFlight: number;
  maxInFlight: number;
  /** Its cap while nothing else waits; `null`: `maxInFlight` is a hard cap. */
  maxInFlightWhenAlone: number | null;
  ratePerSecond: number | null;
  burst: number;
  tokens: number;
  refilledAt: number;
  breaker: BreakerState;
  consecutiveFailures: number;
  openUntil: number;
  cooldownMs: number;
  /**
   * The `updatedAt` of the subscription record the settings came from: a delivery claimed
   * before a change carries the record as it was, and must not put the old settings back.
   */
  settingsAt: number;
}

/** The subscription's rate, when it has one: its state is then a {@link TokenRate} too. */
function rateOf(state: SubscriptionState): TokenRate | null {
  return state.ratePerSecond === null ? null : (state as SubscriptionState & TokenRate);
}

/** What the flow controller reports about a subscription, for metrics and tests. */
export interface SubscriptionFlowStatus {
  inFlight: number;
  breaker: BreakerState;
  /** Epoch ms at which an open breaker lets a probe through. */
  openUntil: number | null;
  tokens: number | null;
}

/** The per-tenant rate limit as `tenantLimits` resolves it: `ratePerSecond` `null` for none. */
export interface TenantRateSettings {
  readonly ratePerSecond: number | null;
  readonly burst: number;
}

/** What {@link FlowControl.blocked} leaves out of the next claim. */
export interface BlockedForClaim {
  subscriptionIds: string[];
  tenantIds: string[];
  /** Epoch ms at which the earliest held subscription or tenant unblocks by itself; `null` when none will. */
  nextUnblockAt: number | null;
  /**
   * Whether a subscription was left out only for its shared cap, which it may exceed when
   * nothing else waits: a claim that finds nothing else is worth repeating with `alone`.
   */
  sharing: boolean;
}

export class FlowControl {
  private readonly states = new Map<string, SubscriptionState>();
  private readonly tenants: TenantRateLimit | null;

  /** `tenantRate`: the per-tenant rate limit; none when absent or its `ratePerSecond` is `null`. */
  constructor(
    private readonly clock: Clock,
    private readonly defaults: ResolvedFlowControlOptions,
    private readonly breaker: ResolvedCircuitBreakerOptions,
    tenantRate?: TenantRateSettings,
  ) {
    this.tenants =
      tenantRate === undefined || tenantRate.ratePerSecond === null
        ? null
        : new TenantRateLimit({ ratePerSecond: tenantRate.ratePerSecond, burst: tenantRate.burst });
  }

  /**
   * Applies a subscription's settings (from its stored record, changed at `updatedAt`) over
   * the defaults; settings older than those applied last are ignored.
   */
  configure(subscriptionId: string, settings: StoredFlowControl | null, updatedAt = Number.NEGATIVE_INFINITY): void {
    const state = this.stateOf(subscriptionId);
    if (updatedAt < state.settingsAt) return;
    state.settingsAt = updatedAt;
    const maxInFlight = settings?.maxInFlight ?? this.defaults.maxInFlightPerSubscription;
    const ratePerSecond = settings?.ratePerSecond === undefined ? this.defaults.ratePerSecond : settings.ratePerSecond;
    const burst = settings?.burst ?? this.defaults.burst;
    state.tokens = Math.min(state.tokens, burst);
    state.maxInFlight = maxInFlight;
    state.maxInFlightWhenAlone = settings?.maxInFlight === undefined ? this.defaults.maxInFlightWhenAlone : null;
    state.ratePerSecond = ratePerSecond;
    state.burst = burst;
  }

  private stateOf(subscriptionId: string): SubscriptionState {
    let state = this.states.get(subscriptionId);
    if (!state) {
      state = {
        inFlight: 0,
        maxInFlight: this.defaults.maxInFlightPerSubscription,
        maxInFlightWhenAlone: this.defaults.maxInFlightWhenAlone,
        ratePerSecond: this.defaults.ratePerSecond,
        burst: this.defaults.burst,
        tokens: this.defaults.burst,
        refilledAt: this.clock.now(),
        breaker: 'closed',
        consecutiveFailures: 0,
        openUntil: 0,
        cooldownMs: this.breaker === false ? 0 : this.breaker.cooldownMs,
        settingsAt: Number.NEGATIVE_INFINITY,
      };
      this.states.set(subscriptionId, state);
    }
    return state;
  }

  /**
   * A subscription changed at `at` through this process's API. `settings` (when its
   * `flowControl` changed): applied now — a subscription held by its old rate is left out of
   * every claim, so no claim would bring the new one until the old rate's token came, which
   * at 0.001 a second is a quarter of an hour. `endpointChanged` (a new URL, an enable): the
   * breaker's count and cool-down judged another endpoint, or one an operator has since
   * declared fixed; it closes, as a probe's success would close it.
   */
  reconsider(subscriptionId: string, at: number, settings: StoredFlowControl | null | undefined, endpointChanged: boolean): void {
    if (settings === undefined && !endpointChanged) return;
    const state = this.stateOf(subscriptionId);
    if (settings !== undefined) {
      if (state.ratePerSecond !== null) refillBucket(state, state as SubscriptionState & TokenRate, this.clock.now());
      else state.refilledAt = this.clock.now();
      this.configure(subscriptionId, settings, at);
    }
    if (endpointChanged) {
      state.breaker = 'closed';
      state.consecutiveFailures = 0;
      state.openUntil = 0;
      if (this.breaker !== false) state.cooldownMs = this.breaker.cooldownMs;
    }
  }

  /**
   * Until when a subscription may not start a post for a reason other than its
   * concurrency cap (breaker open, or out of rate tokens); `null` when none applies.
   * Half-open counts as a cap of one.
   */
  private heldUntil(state: SubscriptionState, now: number): number | null {
    if (state.breaker === 'open') {
      // A clock set back (NTP stepping a host's time) must not stretch the cool-down by the step:
      // it never runs longer than its own length from now.
      if (state.openUntil - now > state.cooldownMs) state.openUntil = now + state.cooldownMs;
      if (now < state.openUntil) return state.openUntil;
      state.breaker = 'half-open';
    }
    const rate = rateOf(state);
    if (rate === null) return null;
    refillBucket(state, rate, now);
    return tokenDueAt(state, rate, now);
  }

  /**
   * When the subscription's own rate gives it its next token, while that rate holds it and
   * its breaker is not open; `null` otherwise (it has a token, has no rate, or the breaker
   * holds it). Its tenant's rate is not looked at.
   */
  rateDueAt(subscriptionId: string): number | null {
    const state = this.states.get(subscriptionId);
    if (state === undefined || state.breaker === 'open') return null;
    const rate = rateOf(state);
    if (rate === null) return null;
    const now = this.clock.now();
    refillBucket(state, rate, now);
    return tokenDueAt(state, rate, now);
  }

  /** `alone`: no other subscription's delivery waits, so a shared cap gives way. */
  private capOf(state: SubscriptionState, alone: boolean): number {
    if (state.breaker === 'half-open') return 1;
    return alone && state.maxInFlightWhenAlone !== null ? Math.max(state.maxInFlight, state.maxInFlightWhenAlone) : state.maxInFlight;
  }

  /**
   * Whether a post to the subscription, for a delivery of `tenantId` (the delivery's
   * tenant; `null`: none, never tenant-limited), may start now: `ok`; `cap` when the
   * subscription's posts in flight fill its cap (a slot frees when one finishes); `held`
   * when its breaker is open, or it or its tenant is out of rate tokens (it unblocks by
   * itself later). `alone`: no other subscription's delivery can take the slot, so a shared
   * cap gives way (see the header).
   */
  check(subscriptionId: string, tenantId: string | null = null, alone = false): 'ok' | 'cap' | 'held' {
    const state = this.stateOf(subscriptionId);
    const now = this.clock.now();
    if (this.heldUntil(state, now) !== null) return 'held';
    if (tenantId !== null && this.tenants !== null && this.tenants.heldUntil(tenantId, now) !== null) return 'held';
    return state.inFlight >= this.capOf(state, alone) ? 'cap' : 'ok';
  }

  /** True when a post to the subscription (for a delivery of `tenantId`) may start now. */
  canStart(subscriptionId: string, tenantId: string | null = null): boolean {
    return this.check(subscriptionId, tenantId) === 'ok';
  }

  /** Records the start of a post (takes a slot and a token, and a token of the delivery's tenant). */
  start(subscriptionId: string, tenantId: string | null = null): void {
    const state = this.stateOf(subscriptionId);
    const now = this.clock.now();
    state.inFlight += 1;
    const rate = rateOf(state);
    if (rate !== null) {
      refillBucket(state, rate, now);
      state.tokens -= 1;
    }
    if (tenantId !== null) this.tenants?.take(tenantId, now);
  }

  /**
   * Records the end of a post. `failed`: the attempt did not get a 2xx. `countsForEndpoint`
   * false (a failure of the egress proxy, which says nothing of the endpoint): the slot is
   * freed, the breaker left as it is.
   */
  finish(subscriptionId: string, failed: boolean, countsForEndpoint = true): void {
    const state = this.stateOf(subscriptionId);
    state.inFlight = Math.max(0, state.inFlight - 1);
    if (!countsForEndpoint) return;
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
   * Subscriptions and tenants to leave out of the next claim, and the earliest time one
   * of them unblocks by itself (rate refill, breaker cool-down). Held subscriptions
   * (breaker, rate) and tenants out of tokens are always left out; a capped subscription
   * once its posts in flight plus `buffered(id)` — the deliveries already claimed for it
   * and waiting — reach `capacityFactor` × its cap (its cap when alone, with `alone`: the
   * claim is for slots nothing else wants); a function gives each subscription its own.
   */
  blocked(
    buffered: (subscriptionId: string) => number = () => 0,
    capacityFactor: number | ((subscriptionId: string) => number) = 1,
    alone = false,
  ): BlockedForClaim {
    const now = this.clock.now();
    const subscriptionIds: string[] = [];
    let sharing = false;
    const { tenantIds, nextUnblockAt: tenantUnblockAt } = this.tenants?.blocked(now) ?? { tenantIds: [], nextUnblockAt: null };
    let nextUnblockAt = tenantUnblockAt;
    for (const [id, state] of this.states) {
      const until = this.heldUntil(state, now);
      if (until !== null) {
        subscriptionIds.push(id);
        if (nextUnblockAt === null || until < nextUnblockAt) nextUnblockAt = until;
        continue;
      }
      const load = state.inFlight + buffered(id);
      const factor = typeof capacityFactor === 'number' ? capacityFactor : capacityFactor(id);
      if (load >= this.capOf(state, alone) * factor) {
        subscriptionIds.push(id);
        if (!alone && load < this.capOf(state, true) * factor) sharing = true;
        continue;
      }
      // Idle and unconstrained: forget it, so the map holds only subscriptions with state worth keeping.
      if (state.inFlight === 0 && state.breaker === 'closed' && state.consecutiveFailures === 0 && (state.ratePerSecond === null || state.tokens >= state.burst)) {
        this.states.delete(id);
      }
    }
    return { subscriptionIds, tenantIds, nextUnblockAt, sharing };
  }

  /**
   * The subscription's state now. An open breaker whose cool-down is over reads `half-open`
   * (the state moves there at the next check), without changing anything.
   */
  status(subscriptionId: string): SubscriptionFlowStatus {
    const state = this.states.get(subscriptionId);
    if (!state) return { inFlight: 0, breaker: 'closed', openUntil: null, tokens: null };
    const now = this.clock.now();
    // As heldUntil() reads it on a clock set back: at most a cool-down from now.
    const openUntil = Math.min(state.openUntil, now + state.cooldownMs);
    const open = state.breaker === 'open' && now < openUntil;
    return {
      inFlight: state.inFlight,
      breaker: state.breaker === 'open' && !open ? 'half-open' : state.breaker,
      openUntil: open ? openUntil : null,
      tokens: state.ratePerSecond === null ? null : state.tokens,
    };
  }
}
