/**
 * What follows a settled batch, without the dispatcher: the lifecycle events and metrics
 * for each outcome, the report of a lost lease, and auto-disable after sustained failure.
 */
import { describe, expect, it } from 'vitest';
import type { CompletedAttempt } from '../../src/delivery/attempt-delivery.js';
import { DeliveryLifecycle } from '../../src/delivery/delivery-lifecycle.js';
import { createEventBus } from '../../src/events/event-bus.js';
import { DeliveryMetrics } from '../../src/metrics/delivery-metrics.js';
import { OtelDeliveryMetrics } from '../../src/metrics/otel-metrics.js';
import type { ChangeAudit, DeliveryStatus, SettleOutcome, SettleResult, StorageAdapter, SubscriptionChangeRecord, SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import { FakeClock } from '../support/fake-clock.js';
import { collect, meterProvider, points } from '../support/otel-reader.js';
import { recordingLogger } from '../support/recording-logger.js';

const DAY = 86_400_000;
const START = Date.UTC(2026, 10, 26, 12);

/** An attempt made; `eventTenantId` is the event's tenant, `subscriptionTenantId` its subscription's (null for an all-tenant consumer). */
function completed(
  outcome: SettleOutcome,
  {
    subscriptionId = 'sub_1',
    statusCode = 500,
    attemptsBefore = 0,
    eventTenantId = null,
    subscriptionTenantId = eventTenantId,
  }: { subscriptionId?: string; statusCode?: number | null; attemptsBefore?: number; eventTenantId?: string | null; subscriptionTenantId?: string | null } = {},
): CompletedAttempt {
  return {
    claimed: {
      delivery: { id: 'dlv_1' } as CompletedAttempt['claimed']['delivery'],
      history: { attempts: attemptsBefore, firstFailedAt: attemptsBefore > 0 ? START - DAY : null, recoveredAt: null },
      event: { id: 'evt_1', type: 'payment.succeeded', timestamp: START - 1_000, tenantId: eventTenantId } as CompletedAttempt['claimed']['event'],
      subscription: { id: subscriptionId, tenantId: subscriptionTenantId } as SubscriptionRecord,
      leaseToken: 'lease_1',
    },
    settlement: {
      deliveryId: 'dlv_1',
      leaseToken: 'lease_1',
      outcome,
      attempt: {
        id: 'att_1',
        startedAt: START,
        durationMs: 25,
        statusCode,
        errorClass: statusCode === null || statusCode >= 300 ? 'http' : null,
        errorMessage: statusCode === null || statusCode >= 300 ? `HTTP ${statusCode}` : null,
        responseSnippet: null,
      },
    },
  };
}

function settled(status: DeliveryStatus, { failingSince = null as number | null, subscriptionDisabled = false } = {}): SettleResult {
  return { ok: true, delivery: { id: 'dlv_1', status } as Extract<SettleResult, { ok: true }>['delivery'], subscriptionDisabled, failingSince };
}

const leaseLost: SettleResult = { ok: false, deliveryId: 'dlv_1', code: 'STORAGE_LEASE_LOST' };

function setup({
  autoDisableAfterMs = 5 * DAY as number | false,
  subscriptionStatus = 'active' as SubscriptionRecord['status'],
  subscriptionTenantId = null as string | null,
  failStorage = false,
} = {}) {
  const clock = new FakeClock(START);
  const bus = createEventBus();
  const metrics = new DeliveryMetrics();
  const { logger, warnings, errors } = recordingLogger();
  const disabled: Array<{ id: string; reason: string | null | undefined }> = [];
  // What the storage would log for the audit it is given (the shared rule's fields; no diff here).
  const changes = new Map<string, SubscriptionChangeRecord>();
  const storage = {
    async getSubscription(id: string) {
      if (failStorage) throw new Error('connection refused');
      return { id, status: subscriptionStatus, tenantId: subscriptionTenantId } as SubscriptionRecord;
    },
    async setSubscriptionStatus(id: string, change: { status: string; reason?: string | null }, now: number, audit: ChangeAudit) {
      disabled.push({ id, reason: change.reason });
      const { id: changeId, action, actor, reason, origin = 'api' } = audit;
      changes.set(changeId, { id: changeId, subscriptionId: id, sequence: changes.size + 1, tenantId: subscriptionTenantId, action, origin, actor, reason, changes: {}, at: now });
      return { id, status: change.status, tenantId: subscriptionTenantId } as SubscriptionRecord;
    },
    async getSubscriptionChange(id: string) {
      return changes.get(id) ?? null;
    },
  } as unknown as StorageAdapter;
  const events: Array<[string, unknown]> = [];
  for (const name of ['delivery:succeeded', 'delivery:failed', 'delivery:dead', 'delivery:lease-lost', 'subscription:disabled'] as const) {
    bus.on(name, (payload: unknown) => events.push([name, payload]));
  }
  const lifecycle = new DeliveryLifecycle({ storage, bus, metrics, clock, logger, autoDisableAfterMs, leaseMs: 60_000, timeoutMs: 15_000 });
  const snapshot = () => metrics.snapshot(0, { pending: 0, leased: 0, waiting: 0, held: 0, delivered: 0, dead: 0, cancelled: 0, oldestPendingCreatedAt: null }, clock.now());
  return { lifecycle, metrics, events, disabled, warnings, errors, snapshot };
}

const fields = { deliveryId: 'dlv_1', eventId: 'evt_1', eventType: 'payment.succeeded', tenantId: null, subscriptionId: 'sub_1', attempt: 1, startedAt: START, durationMs: 25 };

describe('DeliveryLifecycle', () => {
  it('announces a delivered attempt with its latency from publish, and counts it', async () => {
    const { lifecycle, events, snapshot } = setup();
    await lifecycle.settled([completed({ kind: 'delivered' }, { statusCode: 200 })], [settled('delivered')]);
    expect(events).toEqual([['delivery:succeeded', { ...fields, statusCode: 200, latencyMs: 1_025 }]]);
    expect(snapshot()).toMatchObject({ deliveriesSucceeded: 1, attemptsByOutcome: { delivered: 1 } });
  });

  it('announces a retry with its next attempt time while the delivery is pending, and none once it is held', async () => {
    const { lifecycle, events } = setup();
    const retry = completed({ kind: 'retry', nextAttemptAt: START + 5_000 });
    await lifecycle.settled([retry, retry], [settled('pending'), settled('held')]);
    const failure = { ...fields, statusCode: 500, errorClass: 'http', errorMessage: 'HTTP 500' };
    expect(events).toEqual([
      ['delivery:failed', { ...failure, nextAttemptAt: START + 5_000 }],
      ['delivery:failed', { ...failure, nextAttemptAt: null }],
    ]);
  });

  it('announces a dead delivery as failed, then dead, and counts it', async () => {
    const { lifecycle, events, snapshot } = setup();
    await lifecycle.settled([completed({ kind: 'dead' }, { attemptsBefore: 2 })], [settled('dead')]);
    const failure = { ...fields, attempt: 3, statusCode: 500, errorClass: 'http', errorMessage: 'HTTP 500' };
    expect(events).toEqual([
      ['delivery:failed', { ...failure, nextAttemptAt: null }],
      ['delivery:dead', failure],
    ]);
    expect(snapshot()).toMatchObject({ attemptsByOutcome: { dead: 1 } });
  });

  it('announces the subscription disabled by a 410 only when this settle disabled it', async () => {
    const { lifecycle, events } = setup();
    const gone = completed({ kind: 'disable', reason: 'the endpoint answered 410 Gone' }, { statusCode: 410 });
    await lifecycle.settled([gone, gone], [settled('held', { subscriptionDisabled: true }), settled('held')]);
    expect(events.map(([name]) => name)).toEqual(['delivery:failed', 'subscription:disabled', 'delivery:failed']);
    expect(events[1]![1]).toEqual({ subscriptionId: 'sub_1', tenantId: null, reason: 'the endpoint answered 410 Gone', at: START, origin: 'dispatcher', actor: null, change: null });
  });

  it('reports an attempt whose lease was lost: warned, counted and announced, nothing else', async () => {
    const { lifecycle, events, warnings, snapshot } = setup();
    await lifecycle.settled([completed({ kind: 'retry', nextAttemptAt: START + 5_000 })], [leaseLost]);
    const lost = { ...fields, statusCode: 500, outcome: 'retry', errorClass: 'http', errorMessage: 'HTTP 500' };
    expect(events).toEqual([['delivery:lease-lost', lost]]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.fields).toEqual({ ...lost, leaseMs: 60_000, timeoutMs: 15_000 });
    expect(snapshot()).toMatchObject({ leasesLost: 1, attemptsByOutcome: { retry: 0 } });
  });

  describe('for an event published for a tenant', () => {
    it('carries the event\'s tenant on every event of the attempt: succeeded, failed, dead, lease lost', async () => {
      const { lifecycle, events } = setup();
      const ofTenant = { eventTenantId: 'org_1' };
      await lifecycle.settled(
        [
          completed({ kind: 'delivered' }, { ...ofTenant, statusCode: 200 }),
          completed({ kind: 'retry', nextAttemptAt: START + 5_000 }, ofTenant),
          completed({ kind: 'dead' }, ofTenant),
          completed({ kind: 'retry', nextAttemptAt: START + 5_000 }, ofTenant),
        ],
        [settled('delivered'), settled('pending'), settled('dead'), leaseLost],
      );
      expect(events.map(([name]) => name)).toEqual(['delivery:succeeded', 'delivery:failed', 'delivery:failed', 'delivery:dead', 'delivery:lease-lost']);
      for (const [, payload] of events) expect(payload).toHaveProperty('tenantId', 'org_1');
    });

    it('carries the event\'s tenant to an all-tenant consumer, and the subscription\'s own (none) when a 410 disables it', async () => {
      const { lifecycle, events } = setup();
      const gone = completed({ kind: 'disable', reason: 'the endpoint answered 410 Gone' }, { statusCode: 410, eventTenantId: 'org_2', subscriptionTenantId: null });
      await lifecycle.settled([gone], [settled('held', { subscriptionDisabled: true })]);
      expect(events).toEqual([
        ['delivery:failed', expect.objectContaining({ tenantId: 'org_2' })],
        // The settle wrote the change record in its own transaction: the event does not carry it.
        ['subscription:disabled', { subscriptionId: 'sub_1', tenantId: null, reason: 'the endpoint answered 410 Gone', at: START, origin: 'dispatcher', actor: null, change: null }],
      ]);
    });

    it('carries the subscription\'s tenant when a 410 disables a tenant\'s subscription', async () => {
      const { lifecycle, events } = setup();
      const gone = completed({ kind: 'disable', reason: 'the endpoint answered 410 Gone' }, { statusCode: 410, eventTenantId: 'org_1' });
      await lifecycle.settled([gone], [settled('held', { subscriptionDisabled: true })]);
      expect(events[1]).toEqual(['subscription:disabled', expect.objectContaining({ subscriptionId: 'sub_1', tenantId: 'org_1' })]);
    });

    it('carries the subscription\'s tenant when it is auto-disabled', async () => {
      const { lifecycle, events } = setup({ subscriptionTenantId: 'org_1' });
      const retry = completed({ kind: 'retry', nextAttemptAt: START + 5_000 }, { eventTenantId: 'org_1' });
      await lifecycle.settled([retry], [settled('pending', { failingSince: START - 6 * DAY })]);
      expect(events.at(-1)).toEqual(['subscription:disabled', expect.objectContaining({ subscriptionId: 'sub_1', tenantId: 'org_1' })]);
    });
  });

  it('disables a subscription failing for autoDisableAfterMs, and announces it', async () => {
    const { lifecycle, events, disabled, warnings } = setup();
    const since = START - 5 * DAY;
    await lifecycle.settled([completed({ kind: 'retry', nextAttemptAt: START + 5_000 })], [settled('pending', { failingSince: since })]);
    expect(disabled).toEqual([{ id: 'sub_1', reason: expect.stringContaining(new Date(since).toISOString()) }]);
    const reason = disabled[0]!.reason!;
    expect(events.at(-1)).toEqual([
      'subscription:disabled',
      {
        subscriptionId: 'sub_1',
        tenantId: null,
        reason,
        at: START,
        origin: 'dispatcher',
        actor: null,
        change: { id: expect.stringMatching(/^chg_/), subscriptionId: 'sub_1', sequence: 1, tenantId: null, action: 'disabled', origin: 'dispatcher', actor: null, reason, changes: {}, at: START },
      },
    ]);
    expect(warnings).toHaveLength(1);
  });

  it('leaves a subscription failing for less than autoDisableAfterMs, one whose delivery is held, one already disabled, and all when turned off', async () => {
    const retry = completed({ kind: 'retry', nextAttemptAt: START + 5_000 });
    const young = setup();
    await young.lifecycle.settled([retry], [settled('pending', { failingSince: START - 5 * DAY + 1 })]);
    expect(young.disabled).toEqual([]);
    const held = setup();
    await held.lifecycle.settled([retry], [settled('held', { failingSince: START - 6 * DAY })]);
    expect(held.disabled).toEqual([]);
    const already = setup({ subscriptionStatus: 'disabled' });
    await already.lifecycle.settled([retry], [settled('pending', { failingSince: START - 6 * DAY })]);
    expect(already.disabled).toEqual([]);
    const off = setup({ autoDisableAfterMs: false });
    await off.lifecycle.settled([retry], [settled('pending', { failingSince: START - 60 * DAY })]);
    expect(off.disabled).toEqual([]);
  });

  it('logs a storage failure while auto-disabling and carries on', async () => {
    const { lifecycle, errors, events } = setup({ failStorage: true });
    await lifecycle.settled([completed({ kind: 'retry', nextAttemptAt: START + 5_000 })], [settled('pending', { failingSince: START - 6 * DAY })]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fields).toMatchObject({ subscriptionId: 'sub_1' });
    expect(events.map(([name]) => name)).toEqual(['delivery:failed']);
  });
});

describe('DeliveryLifecycle metrics through OpenTelemetry, per tenant', () => {
  /** Settles, for events of org_1, org_2 and none, an attempt of each kind recorded per attempt, and collects. */
  async function recordPerTenant(tenantAttribute: boolean) {
    const { reader, provider } = meterProvider();
    try {
      const { lifecycle, metrics } = setup();
      const observe = { retrySuccessRate: () => null, inFlight: () => 0, retentionLagMs: () => null, stats: () => Promise.reject(new Error('not observed here')) };
      metrics.otel = new OtelDeliveryMetrics(provider.getMeter('test'), observe, { tenantAttribute });
      for (const eventTenantId of ['org_1', 'org_2', null]) {
        await lifecycle.settled(
          [completed({ kind: 'delivered' }, { statusCode: 200, eventTenantId }), completed({ kind: 'dead' }, { eventTenantId }), completed({ kind: 'retry', nextAttemptAt: START + 5_000 }, { eventTenantId })],
          [settled('delivered'), settled('dead'), leaseLost],
        );
      }
      // An all-tenant consumer's delivery (no subscription tenant) counts for its event's tenant.
      await lifecycle.settled([completed({ kind: 'delivered' }, { statusCode: 200, eventTenantId: 'org_1', subscriptionTenantId: null })], [settled('delivered')]);
      return await collect(reader);
    } finally {
      await provider.shutdown();
    }
  }

  it('labels attempts, completions, latency and lost leases with the event\'s tenant when asked, and leaves the label out for events without one', async () => {
    const recorded = await recordPerTenant(true);
    expect(points(recorded.get('webhooks.delivery.attempts'))).toEqual(
      expect.arrayContaining([
        { attributes: { outcome: 'delivered', status_class: '2xx', tenant: 'org_1' }, value: 2 },
        { attributes: { outcome: 'delivered', status_class: '2xx', tenant: 'org_2' }, value: 1 },
        { attributes: { outcome: 'delivered', status_class: '2xx' }, value: 1 },
        { attributes: { outcome: 'dead', status_class: '5xx', tenant: 'org_1' }, value: 1 },
        { attributes: { outcome: 'dead', status_class: '5xx' }, value: 1 },
      ]),
    );
    expect(points(recorded.get('webhooks.deliveries.completed'))).toEqual(
      expect.arrayContaining([
        { attributes: { result: 'delivered', after_retry: false, tenant: 'org_2' }, value: 1 },
        { attributes: { result: 'dead', after_retry: false, tenant: 'org_2' }, value: 1 },
        { attributes: { result: 'dead', after_retry: false }, value: 1 },
      ]),
    );
    expect(points(recorded.get('webhooks.leases.lost'))).toEqual(
      expect.arrayContaining([
        { attributes: { tenant: 'org_1' }, value: 1 },
        { attributes: { tenant: 'org_2' }, value: 1 },
        { attributes: {}, value: 1 },
      ]),
    );
    const latencyCounts = recorded.get('webhooks.delivery.latency')!.dataPoints.map((point) => [point.attributes, (point.value as { count: number }).count]);
    expect(latencyCounts).toEqual(expect.arrayContaining([[{ tenant: 'org_1' }, 2], [{ tenant: 'org_2' }, 1], [{}, 1]]));
    expect(latencyCounts).toHaveLength(3);
  });

  it('adds no tenant label unless asked', async () => {
    const recorded = await recordPerTenant(false);
    for (const name of ['webhooks.delivery.attempts', 'webhooks.deliveries.completed', 'webhooks.leases.lost', 'webhooks.delivery.latency']) {
      const metric = recorded.get(name);
      expect(metric?.dataPoints.length).toBeGreaterThan(0);
      for (const point of metric!.dataPoints) expect(point.attributes).not.toHaveProperty('tenant');
    }
    expect(points(recorded.get('webhooks.leases.lost'))).toEqual([{ attributes: {}, value: 3 }]);
  });
});
