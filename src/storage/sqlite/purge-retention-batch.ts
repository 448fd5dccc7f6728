/**
 * One batch of retention (`purgeRetention`), in the caller's write transaction: the oldest
 * final deliveries past their cutoffs (shared/retention.ts decides which), with their
 * attempts, then the oldest events past theirs that no delivery is left of, then the oldest
 * test attempts past theirs. Each read takes
 * one more row than the batch may remove: the row left over says whether there is more.
 * The per-subscription counts follow the deleted rows by their triggers (migration 0004).
 */
import { oldestOfStatuses, retentionCutoffs, testAttemptCutoffs, type RetentionCandidate } from '../shared/retention.js';
import type { PurgeRetentionInput, PurgeRetentionResult } from '../storage-adapter.js';
import type { Statements } from './statements/prepared-statements.js';

export function purgeRetentionBatch(s: Statements, input: PurgeRetentionInput): PurgeRetentionResult {
  const { limit, now } = input;
  const lists = retentionCutoffs(input).map(({ status, before }) => s.retentionFinalPast[status].all({ before, now, limit: limit + 1 }));
  const { doomed, more } = oldestOfStatuses<RetentionCandidate>(lists, limit);
  let attempts = 0;
  let deliveries = 0;
  if (doomed.length > 0) {
    const json = JSON.stringify(doomed.map((c) => c.id));
    attempts = s.deleteAttemptsOfDeliveries.run(json).changes;
    deliveries = s.deleteDeliveries.run(json).changes;
  }
  let events = 0;
  let moreEvents = false;
  if (input.eventsBefore !== null) {
    // The row past `limit` only decides `more`: when deliveries are left, it is true
    // anyway, and looking for that row would walk every old event that still has a delivery
    // (all of them, while a backlog of old deliveries is purged), costing each batch O(n).
    const ids = s.retentionEventsPast.all({ before: input.eventsBefore, limit: more ? limit : limit + 1 });
    moreEvents = ids.length > limit;
    if (ids.length > 0) events = s.deleteEvents.run(JSON.stringify(ids.slice(0, limit))).changes;
  }
  const tests = oldestOfStatuses<RetentionCandidate>(
    testAttemptCutoffs(input).map(({ ok, before }) => s.retentionTestAttemptsPast[ok ? 'ok' : 'failed'].all({ before, limit: limit + 1 })),
    limit,
  );
  const testAttempts = tests.doomed.length === 0 ? 0 : s.deleteTestAttempts.run(JSON.stringify(tests.doomed.map((c) => c.id))).changes;
  return { deliveries, attempts, events, testAttempts, more: more || moreEvents || tests.more };
}
