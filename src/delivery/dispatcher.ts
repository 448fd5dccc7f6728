/**
 * The dispatcher: the loop that claims due deliveries under a lease, hands each to one
 * attempt, and passes the settlements on — and the wiring of its parts:
 *
 * - the claim-ahead buffer (`claim-ahead-buffer.ts`): how much to claim, and which
 *   claimed delivery may be posted now;
 * - the signing-key cache (`signing-key-cache.ts`);
 * - one attempt (`attempt-delivery.ts`): headers, signature, post, classification;
 * - the settle batcher (`settle-batcher.ts`): settlements written in batches;
 * - the lifecycle (`delivery-lifecycle.ts`): bus events, metrics, auto-disable.
 *
 * When nothing is due, the dispatcher sleeps on the injected clock until the next due
 * time, capped by `pollIntervalMs` (the backstop for work other processes enqueue);
 * `wake()` (publish, enable, redeliver, NOTIFY) cuts the sleep short.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { EventBus } from '../events/event-bus.js';
import type { Logger } from '../logger.js';
import type { CircuitStatus, DeliveryMetrics } from '../metrics/delivery-metrics.js';
import type { PayloadCodec } from '../payload-codec.js';
import type { SecretCodec } from '../registry/secret-codec.js';
import type { ClaimedDelivery, Settlement } from '../storage/storage-adapter.js';
import type { DispatchStorage } from './dispatch-storage.js';
import { attemptDelivery, failedInside } from './attempt-delivery.js';
import type { RetryPolicy } from './backoff.js';
import { ClaimAheadBuffer } from './claim-ahead-buffer.js';
import type { DeliveryDispatcher, SubscriptionChangeNotice } from './delivery-dispatcher.js';
import { DeliveryLifecycle } from './delivery-lifecycle.js';
import type { BlockedForClaim, FlowControl } from './flow-control.js';
import { SettleBatcher } from './settle-batcher.js';
import { SigningKeyCache } from './signing-key-cache.js';
import type { AddressGuard } from './ssrf-guard.js';
import type { Transport } from './transport.js';
import type { ResolvedProxy } from './proxy-options.js';
import { failingSinceNeutralClasses } from '../storage/shared/settlement.js';

/**
 * How long the finding "nothing but subscriptions at their shared cap has work" holds once a
 * wake may have brought someone else's: the longest another endpoint's new work waits for
 * its first slot behind a busy one that went past its share, and the shortest interval
 * between the claims that look for it.
 */
export const sharedCapRecheckMs = 50;

export interface DispatcherOptions {
  storage: DispatchStorage;
  transport: Transport;
  bus: EventBus;
  metrics: DeliveryMetrics;
  clock: Clock;
  random: () => number;
  logger: Logger;
  retry: RetryPolicy;
  guard: AddressGuard | null;
  codec: SecretCodec;
  /** Opens each event's stored payload before it is signed and sent. */
  payloadCodec: PayloadCodec;
  flow: FlowControl;
  /** Disable a subscription failing continuously for this long; `false` never. */
  autoDisableAfterMs: number | false;
  concurrency: number;
  leaseMs: number;
  pollIntervalMs: number;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Bytes of a response body kept in the attempt log; `0`: none. */
  responseSnippetBytes: number;
  maxRetryAfterMs: number;
  userAgent: string;
  /** The header (lower case) that carries the event's tenant id; `null`: none. */
  tenantHeader: string | null;
  /** The instance's `environment`, sent in a header; `null`: none. */
  environment: string | null;
  /** The egress proxy (`http.proxy`); `null`: direct. */
  proxy: ResolvedProxy | null;
}

export class Dispatcher implements DeliveryDispatcher {
  private readonly options: DispatcherOptions;
  private running = false;
  /** Posts in flight. */
  private sending = 0;
  private pumping = false;
  private pumpRequested = false;
  /**
   * When a claim that left subscriptions at their shared cap out last found nothing else
   * due; `null` when none has, or when its finding has lapsed. While it holds, those
   * subscriptions may take the slots no one else wants (flow-control.ts). A wake (a
   * publish, a timer, a notification) may bring another subscription's work: once one has
   * come and {@link sharedCapRecheckMs} have passed, a claim looks again before anyone
   * goes past a share — at most one such claim per interval, however often wakes come.
   */
  private othersIdleAt: number | null = null;
  /** A wake came after {@link Dispatcher.othersIdleAt}: someone else may have work now. */
  private wokenSinceOthersIdle = false;
  private timer: TimerHandle | null = null;
  private timerDueAt = Number.POSITIVE_INFINITY;
  private stopping: Promise<void> | null = null;
  private readonly idleWaiters = new Set<() => void>();
  private unsubscribeWake: (() => Promise<void>) | null = null;
  /**
   * When each subscription changed last through this process's API (epoch ms, its record's
   * `updatedAt` from then on), for a lease's time: a claim that returns a record older than
   * that gives the delivery back (see {@link Dispatcher.subscriptionChanged}).
   */
  private readonly changedAt = new Map<string, number>();
  /**
   * Events expunged through this process's API, with when (epoch ms), for a lease's time: a
   * claim under way may still bring a delivery of one, with its payload (see {@link Dispatcher.eventsExpunged}).
   */
  private readonly expungedAt = new Map<string, number>();
  private readonly buffer: ClaimAheadBuffer;
  private readonly keys: SigningKeyCache;
  private readonly settles: SettleBatcher;

  constructor(options: DispatcherOptions) {
    this.options = options;
    this.buffer = new ClaimAheadBuffer(options);
    this.keys = new SigningKeyCache(options.codec);
    const lifecycle = new DeliveryLifecycle(options);
    this.settles = new SettleBatcher({
      storage: options.storage,
      clock: options.clock,
      logger: options.logger,
      pollIntervalMs: options.pollIntervalMs,
      onSettled: async (batch, results) => {
        await lifecycle.settled(batch, results);
        // A retry just settled may be due before the timer armed while its delivery was leased.
        if (this.running) this.wake();
      },
      abandon: () => !this.running && this.sending === 0,
      onFlushed: () => this.notifyIfIdle(),
    });
  }

  /** Posts in flight, attempts not yet settled, and deliveries claimed ahead. */
  get inFlight(): number {
    return this.sending + this.settles.pending + this.buffer.size;
  }

  /** This process's circuit breaker for a subscription, and its posts in flight. */
  circuit(subscriptionId: string): CircuitStatus {
    const { breaker, openUntil, inFlight } = this.options.flow.status(subscriptionId);
    return { state: breaker, openUntil, inFlight };
  }

  async start(): Promise<void> {
    // A stop under way finishes first: its wait for idleness must not take in the new run's work.
    if (this.stopping !== null) await this.stopping;
    if (this.running) return;
    this.running = true;
    this.othersIdleAt = null;
    if (this.options.storage.subscribeWake) {
      const unsubscribe = await this.options.storage.subscribeWake(() => this.wake(), { logger: this.options.logger });
      // Stopped while subscribing: stop() found nothing to unsubscribe.
      if (!this.running) {
        await unsubscribe();
        return;
      }
      this.unsubscribeWake = unsubscribe;
    }
    this.pump();
  }

  /**
   * Stops claiming, gives back every delivery claimed ahead, and waits for posts in flight
   * and their settles. Calls made while a stop is under way share it.
   */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    if (!this.running) return Promise.resolve();
    this.running = false;
    this.clearTimer();
    this.stopping = this.finishStop().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private async finishStop(): Promise<void> {
    // The buffer is emptied here whatever the pump is doing: once stopped, the pump adds
    // nothing to it (a claim that returns now is given back by the pump itself), and a
    // buffered delivery left behind would hold its lease, and whenIdle() open, forever.
    await this.release(this.buffer.takeAll());
    const unsubscribe = this.unsubscribeWake;
    this.unsubscribeWake = null;
    await this.whenIdle();
    // Nothing signs until the next start(): the decoded keys go (wiped), not kept for it.
    this.keys.clear();
    if (unsubscribe) await unsubscribe();
  }

  /**
   * Forgets what is cached for a subscription (deleted): its decoded keys are wiped, and what
   * is claimed ahead for it goes back unsent (its deliveries are cancelled).
   */
  forgetSubscription(subscriptionId: string): void {
    this.keys.delete(subscriptionId);
    this.giveBackFor(subscriptionId);
  }

  /**
   * A subscription changed through this process's API. Its deliveries claimed ahead carry
   * its record as it was — the old URL, secrets and headers, an active status — and would be
   * posted so for up to `maxWaitMs` after the change returned: they go back to storage, to
   * be claimed again with the record as it is now (or not at all: disabled, deleted). Its
   * flow control takes the change at once ({@link FlowControl.reconsider}).
   */
  subscriptionChanged(notice: SubscriptionChangeNotice): void {
    const { flow, clock, leaseMs } = this.options;
    flow.reconsider(notice.subscriptionId, notice.at, notice.flowControl, notice.endpointChanged);
    // A claim under way may still bring the record as it was: claim() gives such deliveries back.
    const forgetBefore = clock.now() - leaseMs;
    for (const [id, at] of this.changedAt) if (at < forgetBefore) this.changedAt.delete(id);
    this.changedAt.set(notice.subscriptionId, Math.max(notice.at, this.changedAt.get(notice.subscriptionId) ?? notice.at));
    this.giveBackFor(notice.subscriptionId);
    this.wake();
  }

  /**
   * Events were expunged through this process's API: their deliveries claimed ahead hold the
   * erased payload and would still be posted for up to `maxWaitMs` after the erasure returned.
   * The storage has cancelled them: they go back unsent, and so does what a claim under way
   * brings of them (claim()).
   */
  eventsExpunged(eventIds: readonly string[]): void {
    const now = this.options.clock.now();
    const forgetBefore = now - this.options.leaseMs;
    for (const [id, at] of this.expungedAt) if (at < forgetBefore) this.expungedAt.delete(id);
    for (const id of eventIds) this.expungedAt.set(id, now);
    const taken = this.buffer.takeOfEvents(new Set(eventIds));
    // Awaited by nobody: release() logs a failure, and the leases then expire on their own.
    if (taken.length > 0) void this.release(taken);
  }

  private giveBackFor(subscriptionId: string): void {
    const taken = this.buffer.takeFor(subscriptionId);
    if (taken.length === 0) return;
    // Awaited by nobody: release() logs a failure, and the leases then expire on their own.
    void this.release(taken);
  }

  /** Closes the connections the transport pools for a TLS identity no subscription uses any more. */
  retireTls(tlsId: string): void {
    this.options.transport.retireTls?.(tlsId);
  }

  /** Something may be due now: claim without waiting for the timer. */
  wake(): void {
    // It may be another subscription's work (see othersIdleAt).
    this.wokenSinceOthersIdle = true;
    if (!this.running) return;
    this.pump();
  }

  /** Resolves when no post is in flight and every attempt is settled. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  private isIdle(): boolean {
    return this.sending === 0 && this.settles.isIdle && !this.pumping && this.buffer.size === 0;
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.size === 0 || !this.isIdle()) return;
    const waiters = [...this.idleWaiters];
    this.idleWaiters.clear();
    for (const resolve of waiters) resolve();
  }

  private pump(): void {
    if (this.pumping) {
      this.pumpRequested = true;
      return;
    }
    this.pumping = true;
    void this.runPump()
      .catch((error: unknown) => {
        // Storage failures are handled where they happen; this is a bug. The pump tries again
        // after the poll interval rather than leave an unhandled rejection or stop for good.
        this.options.logger.error({ err: error }, 'webhooks: the dispatcher loop failed; it runs again after the poll interval');
        this.armTimer(this.options.clock.now() + this.options.pollIntervalMs);
      })
      .finally(() => {
        this.pumping = false;
        // A wake that arrived after runPump's last check but before this callback must not be lost.
        if (this.pumpRequested && this.running) this.pump();
        else this.notifyIfIdle();
      });
  }

  /** Starts what the buffer holds, then claims more while there is room and work is due. */
  private async runPump(): Promise<void> {
    const { storage, flow, clock } = this.options;
    do {
      this.pumpRequested = false;
      while (this.running) {
        const othersIdle = this.othersIdle();
        const shareWaiting = await this.startBuffered(othersIdle);
        if (!this.running) break;
        const limit = storage.writeBatchLimit?.('claimDue') ?? Number.POSITIVE_INFINITY;
        let wanted = Math.min(this.buffer.claimRoom(this.sending), limit);
        // Slots are free that only a subscription past its shared cap could take from the
        // buffer: first look in storage for anyone else's work, which is owed those slots.
        if (wanted === 0 && shareWaiting) wanted = Math.min(this.options.concurrency - this.sending, limit);
        if (wanted === 0) break;
        // Claimed ahead, a subscription may have up to its cap waiting beside its cap in flight
        // (its cap when alone, while nothing else is due), up to three caps when its posts
        // start fast (ClaimAheadBuffer.capacityFactor).
        const buffered = (id: string) => this.buffer.bufferedFor(id);
        const factor = (id: string) => this.buffer.capacityFactor(id);
        const blocked = flow.blocked(buffered, factor, othersIdle);
        const claimed = await this.claim(wanted, blocked);
        if (claimed === null) return;
        if (claimed.length < wanted && (blocked.sharing || shareWaiting)) {
          // Nothing else is due: subscriptions at their shared cap may have the slots nobody
          // else wants (flow-control.ts) — from the buffer, and from a claim that lets them in.
          this.othersIdleAt = clock.now();
          this.wokenSinceOthersIdle = false;
          if (blocked.sharing) {
            const more = await this.claim(wanted - claimed.length, flow.blocked(buffered, factor, true));
            if (more === null) return;
            claimed.push(...more);
          }
        }
        if (claimed.length < wanted) {
          const excludedNone = blocked.subscriptionIds.length === 0 && blocked.tenantIds.length === 0;
          if ((await this.startBuffered()) && excludedNone) {
            // The claim came back short and left no one out: nothing else is due, so a
            // subscription at its shared cap may have the free slots (a backlog smaller than
            // the claim room ends here without the finding above).
            this.othersIdleAt = clock.now();
            this.wokenSinceOthersIdle = false;
            await this.startBuffered(true);
          }
          await this.scheduleNextDue();
          break;
        }
      }
    } while (this.pumpRequested && this.running);
  }

  /**
   * Leases up to `limit` due deliveries, leaving out what `blocked` names, into the buffer.
   * `null` when pumping must end: the claim failed (retried after the poll interval) or the
   * dispatcher stopped meanwhile (the leases are given back).
   */
  private async claim(limit: number, blocked: BlockedForClaim): Promise<ClaimedDelivery[] | null> {
    const { storage, clock, leaseMs, logger } = this.options;
    let claimed: ClaimedDelivery[];
    const claimedAt = clock.now();
    try {
      claimed = await storage.claimDue({
        limit,
        leaseMs,
        now: claimedAt,
        ...(blocked.subscriptionIds.length > 0 ? { excludeSubscriptionIds: blocked.subscriptionIds } : {}),
        ...(blocked.tenantIds.length > 0 ? { excludeTenantIds: blocked.tenantIds } : {}),
      });
    } catch (error) {
      logger.error({ err: error }, 'webhooks: claiming due deliveries failed; retrying after the poll interval');
      this.armTimer(clock.now() + this.options.pollIntervalMs);
      return null;
    }
    if (!this.running) {
      // Stopped while the claim was under way: give the leases back at once (stop() has
      // taken what was buffered before).
      await this.release(claimed);
      return null;
    }
    if (this.changedAt.size > 0 && claimed.length > 0) {
      // Read before a change this process made returned: the old URL, secrets or status. A record
      // of the change's own millisecond may be either (two changes of one ms look alike): it goes
      // back too, at the cost of one more claim.
      const stale = claimed.filter((item) => item.subscription.updatedAt <= (this.changedAt.get(item.subscription.id) ?? Number.NEGATIVE_INFINITY));
      if (stale.length > 0) {
        claimed = claimed.filter((item) => !stale.includes(item));
        // Once: the next claim reads after the change. Were a record's `updatedAt` ever not the
        // change's time, this must not turn into a claim and a release over and over.
        for (const item of stale) this.changedAt.delete(item.subscription.id);
        await this.release(stale);
      }
    }
    if (this.expungedAt.size > 0 && claimed.length > 0) {
      // Leased before an erasure this process made returned: they hold the erased payload.
      const erased = claimed.filter((item) => this.expungedAt.has(item.event.id));
      if (erased.length > 0) {
        claimed = claimed.filter((item) => !erased.includes(item));
        await this.release(erased);
      }
    }
    const claimMs = clock.now() - claimedAt;
    if (claimed.length > 0 && claimMs > this.buffer.maxWaitMs) {
      // The buffer gives all of them back unsent: their leases are too far gone.
      logger.warn(
        { claimMs, count: claimed.length, leaseMs, timeoutMs: this.options.timeoutMs },
        'webhooks: a claim took longer than the lease can spare beyond the request and its settle; its deliveries go back unsent (raise leaseMs)',
      );
    }
    this.buffer.add(claimed, claimedAt);
    return claimed;
  }

  /** Whether the finding of {@link Dispatcher.othersIdleAt} still holds; forgets it once lapsed. */
  private othersIdle(): boolean {
    if (this.othersIdleAt === null) return false;
    if (this.wokenSinceOthersIdle && this.options.clock.now() - this.othersIdleAt >= sharedCapRecheckMs) this.othersIdleAt = null;
    return this.othersIdleAt !== null;
  }

  /**
   * Posts what the buffer lets start in the free slots, and gives back what it refuses.
   * `othersIdle`: nothing else is due, so a subscription at its shared cap may go past it.
   * Returns whether slots stayed free that such a delivery could take, were that known.
   */
  private async startBuffered(othersIdle = this.othersIdle()): Promise<boolean> {
    if (this.buffer.size === 0 || !this.running) return false;
    const { clock, concurrency, flow, logger } = this.options;
    const { start, giveBack, stale, shareWaiting, nextStartAt } = this.buffer.take(clock.now(), concurrency - this.sending, flow, othersIdle);
    for (const claimed of start) this.startSend(claimed);
    // Kept for a rate's next token: nothing else may wake the pump then (no post of it is in flight).
    if (nextStartAt !== undefined) this.armTimer(nextStartAt);
    if (stale > 0) logger.debug({ count: stale }, 'webhooks: deliveries that waited too long for a slot go back to storage for a fresh lease');
    // Awaited only when there is something to give back: this runs once per freed slot.
    if (giveBack.length > 0) await this.release(giveBack);
    return shareWaiting;
  }

  private async release(claimed: ClaimedDelivery[]): Promise<void> {
    if (claimed.length === 0) return;
    try {
      await this.options.storage.releaseLeases(
        claimed.map((item) => ({ deliveryId: item.delivery.id, leaseToken: item.leaseToken })),
        this.options.clock.now(),
      );
    } catch (error) {
      // The leases expire on their own; another worker takes the deliveries then.
      this.options.logger.warn({ err: error, count: claimed.length }, 'webhooks: releasing leases failed');
    }
  }

  private async scheduleNextDue(): Promise<void> {
    const { storage, clock, pollIntervalMs, logger, flow } = this.options;
    const now = clock.now();
    let next = now + pollIntervalMs;
    try {
      const due = await storage.nextDueAt(now);
      const { subscriptionIds, tenantIds, nextUnblockAt } = flow.blocked();
      if (due !== null && due > now) {
        next = Math.min(next, due);
      } else if (due !== null && subscriptionIds.length === 0 && tenantIds.length === 0) {
        next = now;
      }
      // Work is due but held back by flow control: wake when a subscription or a tenant
      // unblocks by itself (rate refill, breaker cool-down); a finishing post wakes us sooner.
      if (nextUnblockAt !== null) next = Math.min(next, nextUnblockAt);
    } catch (error) {
      logger.warn({ err: error }, 'webhooks: reading the next due time failed');
    }
    this.armTimer(Math.max(next, clock.now()));
  }

  private armTimer(at: number): void {
    if (!this.running) return;
    if (this.timer !== null && this.timerDueAt <= at) return;
    this.clearTimer();
    const { clock } = this.options;
    this.timerDueAt = at;
    this.timer = clock.setTimeout(() => {
      this.timer = null;
      this.timerDueAt = Number.POSITIVE_INFINITY;
      this.wake();
    }, Math.max(0, at - clock.now()));
  }

  private clearTimer(): void {
    if (this.timer !== null) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerDueAt = Number.POSITIVE_INFINITY;
  }

  /** Starts one post; {@link Dispatcher.send} settles whatever happens, and nothing it does is left unhandled. */
  private startSend(claimed: ClaimedDelivery): void {
    this.send(claimed).catch((error: unknown) => {
      this.options.logger.error({ err: error, deliveryId: claimed.delivery.id }, 'webhooks: finishing a post failed');
    });
  }

  /**
   * One post and its settle. Whatever throws in the attempt — a `retry` function, a bug —
   * still settles it (a failed attempt, retried on the default schedule: see `attemptDelivery`)
   * and frees its slot; should handing the settlement on fail, the slot is freed all the same
   * and the lease runs out (`leaseMs`), after which the delivery is claimed and sent again.
   */
  private async send(claimed: ClaimedDelivery): Promise<void> {
    const { clock, flow, logger } = this.options;
    const { subscription } = claimed;
    this.sending += 1;
    try {
      let settlement: Settlement;
      const startedAt = clock.now();
      try {
        settlement = await attemptDelivery(claimed, this.keys.get(subscription, startedAt), this.options);
      } catch (error) {
        settlement = failedInside(claimed, error, startedAt, this.options);
      }
      // The egress proxy's failure says nothing of the endpoint: it does not move the breaker.
      flow.finish(subscription.id, settlement.outcome.kind !== 'delivered', !failingSinceNeutralClasses.includes(settlement.attempt.errorClass!));
      this.settles.add({ claimed, settlement });
    } catch (error) {
      logger.error(
        { err: error, deliveryId: claimed.delivery.id, subscriptionId: subscription.id },
        'webhooks: handing an attempt on to be settled failed; its lease runs out and the delivery is sent again',
      );
    } finally {
      this.sending -= 1;
    }
    if (!this.running) {
      // Stopping waits for idleness: nothing may be left to announce it but this post.
      this.notifyIfIdle();
      return;
    }
    // A finished post frees a slot. While the pump waits for a claim (milliseconds on
    // PostgreSQL), the slot takes a buffered delivery now: the pump would start it only once
    // the claim returned, and every post that finished meanwhile would leave its slot empty.
    if (this.pumping) {
      this.startBuffered().catch((error: unknown) => logger.error({ err: error }, 'webhooks: starting buffered deliveries failed'));
    }
    // The slot, and maybe its subscription, is free: claim again.
    this.pump();
  }
}
