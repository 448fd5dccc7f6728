/**
 * Every fixed statement of the SQLite storage, prepared once on a connection when its
 * schema is known to be current, each typed with the row it returns.
 */
import type Database from 'better-sqlite3';
import { cancellableStatuses } from '../../shared/change-log.js';
import type { OrderingKeyState } from '../../shared/ordering.js';
import type { RetentionCandidate, RetentionStatus } from '../../shared/retention.js';
import type {
  AttemptRow,
  ChangeRow,
  ClaimedRow,
  DeliveryRow,
  EventRow,
  FanOutRow,
  BlockedKeyRow,
  FenceRow,
  HeldOrderedRow,
  InstanceRow,
  OrderedCancelledRow,
  OrderedOpenRow,
  ProbeRow,
  ReplayCandidateEventRow,
  ReplayCandidateRow,
  StatsRow,
  SubscriptionRow,
  TestAttemptRow,
} from '../rows.js';
import { claimSql } from './claim.js';
import { deliveryLogSql } from './delivery-log.js';
import { enqueueSql } from './enqueue.js';
import { eventsSql } from './events.js';
import { leasesSql } from './leases.js';
import { orderingSql } from './ordering.js';
import { purgeTenantSql } from './purge-tenant.js';
import { requeueSql } from './requeue.js';
import { retentionSql } from './retention.js';
import { settleSql } from './settle.js';
import { statsPurgeSql } from './stats-purge.js';
import { changesSql, subscriptionsSql } from './subscriptions.js';
import type { SqliteTables } from './tables.js';
import { testAttemptsSql } from './test-attempts.js';

/**
 * A prepared statement whose rows are `Row`. An interface of our own rather than the
 * driver's alias, so that the declarations of the build can name it.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the name is its purpose (see above)
export interface Statement<Row = unknown> extends Database.Statement<unknown[], Row> {}

export function prepareStatements(db: Database.Database, t: SqliteTables) {
  const prepare = <Row = unknown>(sql: string): Statement<Row> => db.prepare<unknown[], Row>(sql) as Statement<Row>;
  const subscriptions = subscriptionsSql(t);
  const changes = changesSql(t);
  const events = eventsSql(t);
  const enqueue = enqueueSql(t);
  const claim = claimSql(t);
  const settle = settleSql(t);
  const leases = leasesSql(t);
  const log = deliveryLogSql(t);
  const requeue = requeueSql(t);
  const statsPurge = statsPurgeSql(t);
  const purgeTenant = purgeTenantSql(t);
  const retention = retentionSql(t);
  const tests = testAttemptsSql(t);
  const ordering = orderingSql(t);
  return {
    insertSubscription: prepare(subscriptions.insertSubscription),
    updateSubscription: prepare(subscriptions.updateSubscription),
    getSubscription: prepare<SubscriptionRow>(subscriptions.getSubscription),
    countTenantSubscriptions: prepare<number>(subscriptions.countTenantSubscriptions).pluck(),
    insertFilter: prepare(subscriptions.insertFilter),
    deleteFilters: prepare(subscriptions.deleteFilters),
    setSubscriptionStatus: prepare(subscriptions.setSubscriptionStatus),
    updateOpenDeliveries: {
      pending: prepare(subscriptions.updateOpenDeliveries('pending')),
      held: prepare(subscriptions.updateOpenDeliveries('held')),
    },
    softDeleteSubscription: prepare(subscriptions.softDeleteSubscription),
    /** One statement per status of cancellableStatuses. */
    cancelSubscriptionDeliveries: cancellableStatuses.map((from) => prepare(subscriptions.cancelSubscriptionDeliveries(from))),
    deleteSubscriptionAttempts: prepare(subscriptions.deleteSubscriptionAttempts),
    deleteSubscriptionDeliveries: prepare(subscriptions.deleteSubscriptionDeliveries),
    deleteSubscription: prepare(subscriptions.deleteSubscription),

    insertChange: prepare(changes.insertChange),
    getChange: prepare<ChangeRow>(changes.getChange),
    listChanges: prepare<ChangeRow>(changes.listChanges),
    deleteSubscriptionChanges: prepare(changes.deleteSubscriptionChanges),

    insertTestAttempt: prepare(tests.insertTestAttempt),
    listTestAttempts: prepare<TestAttemptRow>(tests.listTestAttempts),
    listTestAttemptsBefore: prepare<TestAttemptRow>(tests.listTestAttemptsBefore),
    deleteSubscriptionTestAttempts: prepare(tests.deleteSubscriptionTestAttempts),
    deleteTestAttemptsOfSubscriptions: prepare(tests.deleteTestAttemptsOfSubscriptions),

    insertEvent: prepare(enqueue.insertEvent),
    getEvent: prepare<EventRow>(enqueue.getEvent),
    getEventByKey: prepare<EventRow>(enqueue.getEventByKey),
    scopeSubscriptions: prepare<FanOutRow>(enqueue.scopeSubscriptions),
    allTenantConsumers: prepare<FanOutRow>(enqueue.allTenantConsumers),
    insertDeliveries: prepare(enqueue.insertDeliveries),

    unexpungedEvents: prepare<string>(events.unexpungedEvents).pluck(),
    expungeEvents: prepare(events.expungeEvents),
    eraseDeliveryPayloads: prepare(events.eraseDeliveryPayloads),
    cancelEventDeliveries: prepare(events.cancelEventDeliveries),
    eraseSnippets: prepare(events.eraseSnippets),

    claim: prepare<number>(claim.claim).pluck(),
    claimWalkingExcluded: prepare<number>(claim.claimWalkingExcluded).pluck(),
    claimPerSubscription: prepare<number>(claim.claimPerSubscription).pluck(),
    excludedDueRows: prepare<number>(claim.excludedDueRows).pluck(),
    activeSubscriptions: prepare<number>(claim.activeSubscriptions).pluck(),
    tenantSubscriptionIds: prepare<string>(claim.tenantSubscriptionIds).pluck(),
    claimedRows: prepare<ClaimedRow>(claim.claimedRows),
    nextDue: prepare<number>(claim.nextDue).pluck(),

    settleFence: prepare<FenceRow>(settle.settleFence),
    setFailingSince: prepare(settle.setFailingSince),
    insertAttempt: prepare(settle.insertAttempt),
    settleDelivery: prepare(settle.settleDelivery),

    releaseLease: prepare(leases.releaseLease),
    insertInstance: prepare(leases.insertInstance),
    otherInstancesOnHost: prepare<InstanceRow>(leases.otherInstancesOnHost),
    deleteInstance: prepare(leases.deleteInstance),
    releaseInstanceLeases: prepare(leases.releaseInstanceLeases),

    getDelivery: prepare<DeliveryRow>(log.getDelivery),
    listAttempts: prepare<AttemptRow>(log.listAttempts),
    getDeliveryPayload: prepare<string | null>(log.getDeliveryPayload).pluck(),

    probeDelivery: prepare<ProbeRow>(requeue.probeDelivery),
    requeueDelivery: prepare<DeliveryRow>(requeue.requeueDelivery),
    replayCandidates: prepare<ReplayCandidateRow>(requeue.replayCandidates),
    replayCandidateEvents: prepare<ReplayCandidateEventRow>(requeue.replayCandidateEvents),
    requeueDeliveries: prepare(requeue.requeueDeliveries),
    insertReplayDeliveries: prepare(requeue.insertReplayDeliveries),

    stats: prepare<StatsRow>(statsPurge.stats),
    subscriptionStats: prepare<StatsRow>(statsPurge.subscriptionStats),
    tenantStats: prepare<StatsRow>(statsPurge.tenantStats),
    purgeAttempts: prepare(statsPurge.purgeAttempts),
    purgeDeliveries: prepare(statsPurge.purgeDeliveries),
    purgeEvents: prepare(statsPurge.purgeEvents),
    purgeTestAttempts: prepare(statsPurge.purgeTestAttempts),

    tenantInFlight: prepare<number>(purgeTenant.inFlight).pluck(),
    tenantDeliveries: prepare<string>(purgeTenant.tenantDeliveries).pluck(),
    deleteAttemptsOfDeliveries: prepare(purgeTenant.deleteAttemptsOfDeliveries),
    deleteDeliveries: prepare(purgeTenant.deleteDeliveries),
    tenantSubscriptions: prepare<string>(purgeTenant.tenantSubscriptions).pluck(),
    deleteFiltersOfSubscriptions: prepare(purgeTenant.deleteFiltersOfSubscriptions),
    deleteChangesOfSubscriptions: prepare(purgeTenant.deleteChangesOfSubscriptions),
    deleteSubscriptions: prepare(purgeTenant.deleteSubscriptions),
    tenantEvents: prepare<string>(purgeTenant.tenantEvents).pluck(),
    deliveriesOfEvents: prepare<string>(purgeTenant.deliveriesOfEvents).pluck(),
    deleteEvents: prepare(purgeTenant.deleteEvents),
    tenantHasDeliveries: prepare<number>(purgeTenant.hasDeliveries).pluck(),
    tenantHasSubscriptions: prepare<number>(purgeTenant.hasSubscriptions).pluck(),
    tenantHasEvents: prepare<number>(purgeTenant.hasEvents).pluck(),

    /** One statement per status retention removes. */
    retentionFinalPast: Object.fromEntries(
      Object.entries(retention.finalPast).map(([status, sql]) => [status, prepare<RetentionCandidate>(sql)]),
    ) as Record<RetentionStatus, Statement<RetentionCandidate>>,
    retentionEventsPast: prepare<string>(retention.eventsPast).pluck(),
    /** Ok and failed test attempts past a cutoff, oldest first. */
    retentionTestAttemptsPast: {
      ok: prepare<RetentionCandidate>(retention.testAttemptsPast.ok),
      failed: prepare<RetentionCandidate>(retention.testAttemptsPast.failed),
    },
    deleteTestAttempts: prepare(retention.deleteTestAttempts),

    getOrderingKey: prepare<OrderingKeyState>(ordering.getOrderingKey),
    putOrderingKey: prepare(ordering.putOrderingKey),
    passKeyHead: prepare<OrderingKeyState>(ordering.passKeyHead),
    makeHeadDue: prepare(ordering.makeHeadDue),
    insertOrderedEvent: prepare(ordering.insertOrderedEvent),
    insertOrderedDeliveries: prepare(ordering.insertOrderedDeliveries),
    insertOrderedReplayDeliveries: prepare(ordering.insertOrderedReplayDeliveries),
    orderedOpenOfEvents: prepare<OrderedCancelledRow>(ordering.orderedOpenOfEvents),
    orderedOfEvents: prepare<OrderedOpenRow>(ordering.orderedOfEvents),
    heldOrdered: prepare<HeldOrderedRow>(ordering.heldOrdered),
    setWaiting: prepare(ordering.setWaiting),
    listBlockedKeys: prepare<BlockedKeyRow>(ordering.listBlockedKeys),
    deleteSubscriptionKeys: prepare(ordering.deleteSubscriptionKeys),
    deleteKeysOfSubscriptions: prepare(ordering.deleteKeysOfSubscriptions),
  };
}

/** The prepared statements of one connection and table prefix. */
export type Statements = ReturnType<typeof prepareStatements>;
