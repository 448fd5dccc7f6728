/**
 * The memory storage's subscriptions and events by tenant: what fan-out, the tenant-scoped
 * reads, the subscription limit and a tenant's removal look up instead of walking the whole
 * store. Which subscription receives which event is decided by storage/shared/tenancy.ts;
 * this index only narrows the candidates to the event's tenant and the all-tenant consumers.
 */
import { matchesAnyEventType } from '../../registry/event-type-filter.js';
import { idempotencyScope, receivesTenant } from '../shared/tenancy.js';
import { ChunkedIdList } from './chunked-id-list.js';
import { insertById } from './sorted-by-id.js';
import type { EventState, SubscriptionState } from './stored-records.js';

/** One tenant's part of the store; the platform's (tenant `null`) too. */
export interface TenantShare {
  /**
   * Its subscriptions, ids ascending: the owners of its deliveries (a delivery's tenant is
   * its subscription's), so its deliveries are theirs. The platform's include the all-tenant
   * consumers.
   */
  subscriptions: SubscriptionState[];
  /** How many of {@link subscriptions} are soft-deleted (they do not count toward the tenant's limit). */
  deletedSubscriptions: number;
  /** Its events (the platform's: those published without a tenant), ids ascending. */
  readonly events: ChunkedIdList<EventState>;
}

function receives(sub: SubscriptionState, tenantId: string | null, type: string): boolean {
  const record = sub.record;
  return record.status === 'active' && receivesTenant(record, tenantId) && matchesAnyEventType(record.eventTypes, type);
}

/** The shares of every tenant with subscriptions or events, and the all-tenant consumers. */
export class TenantIndex {
  private readonly shares = new Map<string, TenantShare>();
  /** Every all-tenant consumer, ids ascending. */
  private consumers: SubscriptionState[] = [];
  /** Subscriptions {@link receivers} has examined so far (for the storage's probe). */
  private visits = 0;

  /** Counters for the storage's probe (see memory-storage-probe.ts). */
  counters(): { fanOutVisits: number; tenantShares: number } {
    return { fanOutVisits: this.visits, tenantShares: this.shares.size };
  }

  /** The share of `tenantId` (`null`: the platform's); `undefined` when it has nothing. */
  get(tenantId: string | null): TenantShare | undefined {
    return this.shares.get(idempotencyScope(tenantId));
  }

  /** How many subscriptions `tenantId` has, soft-deleted ones left out. */
  subscriptionCount(tenantId: string | null): number {
    const share = this.get(tenantId);
    return share === undefined ? 0 : share.subscriptions.length - share.deletedSubscriptions;
  }

  addSubscription(sub: SubscriptionState): void {
    const share = this.shareOf(sub.record.tenantId);
    insertById(share.subscriptions, sub);
    if (sub.record.deletedAt !== null) share.deletedSubscriptions++;
    if (sub.record.allTenants) insertById(this.consumers, sub);
  }

  /** Notes that a listed subscription was soft-deleted (call once, when its `deletedAt` is set). */
  markDeleted(sub: SubscriptionState): void {
    this.shareOf(sub.record.tenantId).deletedSubscriptions++;
  }

  /** Forgets removed subscriptions, each tenant's list rebuilt once. */
  removeSubscriptions(gone: ReadonlySet<SubscriptionState>): void {
    const touched = new Set<string | null>();
    let consumers = false;
    for (const sub of gone) {
      touched.add(sub.record.tenantId);
      const share = this.get(sub.record.tenantId);
      if (share !== undefined && sub.record.deletedAt !== null) share.deletedSubscriptions--;
      consumers ||= sub.record.allTenants;
    }
    for (const tenantId of touched) {
      const share = this.get(tenantId);
      if (share === undefined) continue;
      share.subscriptions = share.subscriptions.filter((s) => !gone.has(s));
      this.prune(tenantId, share);
    }
    if (consumers) this.consumers = this.consumers.filter((s) => !gone.has(s));
  }

  /** Lists a new event under its tenant (`null`: the platform's). */
  addEvent(ev: EventState): void {
    this.shareOf(ev.record.tenantId).events.insert(ev);
  }

  /** Forgets removed events of `tenantId`. */
  dropEvents(tenantId: string | null, gone: readonly EventState[]): void {
    const share = this.get(tenantId);
    if (share === undefined) return;
    share.events.removeAll(gone);
    this.prune(tenantId, share);
  }

  /**
   * The active subscriptions receiving an event of `type` published for `tenantId`: the
   * matching ones of its tenant, then the matching all-tenant consumers. Visits only those
   * two lists, never another tenant's subscriptions.
   */
  receivers(tenantId: string | null, type: string): SubscriptionState[] {
    const found: SubscriptionState[] = [];
    const own = this.get(tenantId)?.subscriptions ?? [];
    // The platform's list holds the consumers too: they are taken from their own list, once.
    for (const sub of own) if (!sub.record.allTenants && receives(sub, tenantId, type)) found.push(sub);
    for (const sub of this.consumers) if (receives(sub, tenantId, type)) found.push(sub);
    this.visits += own.length + this.consumers.length;
    return found;
  }

  /** Drops a share left with neither subscriptions nor events, so that removed tenants leave nothing behind. */
  private prune(tenantId: string | null, share: TenantShare): void {
    if (share.subscriptions.length === 0 && share.events.size === 0) this.shares.delete(idempotencyScope(tenantId));
  }

  private shareOf(tenantId: string | null): TenantShare {
    const scope = idempotencyScope(tenantId);
    let share = this.shares.get(scope);
    if (share === undefined) {
      share = { subscriptions: [], deletedSubscriptions: 0, events: new ChunkedIdList() };
      this.shares.set(scope, share);
    }
    return share;
  }
}
