/**
 * One batch of retention (`purgeRetention`), inside the caller's transaction: under the
 * schema's retention lock (one purger at a time across instances; without it, zeros,
 * `more: false` and `skipped`), the oldest final deliveries past their cutoffs (shared/retention.ts
 * decides which) with their attempts, then the oldest events past theirs that no delivery
 * is left of, then the oldest test attempts past theirs. Each read locks one more row than the batch may remove: the row left over
 * says whether there is more. The statements, and the locks they rely on, are in
 * statements/retention.ts.
 */
import type { PoolClient } from 'pg';
import { oldestOfStatuses, retentionCutoffs, testAttemptCutoffs, type RetentionCandidate } from '../shared/retention.js';
import type { PurgeRetentionInput, PurgeRetentionResult } from '../storage-adapter.js';
import { int, type IntLike, type PurgeRow } from './rows.js';
import type { StatementRunner } from './statement-runner.js';
import type { Statements } from './statements/index.js';

const nothing: PurgeRetentionResult = Object.freeze({ deliveries: 0, attempts: 0, events: 0, testAttempts: 0, more: false });

export async function purgeRetentionBatch(
  runner: StatementRunner,
  sql: Statements,
  client: PoolClient,
  schema: string,
  input: PurgeRetentionInput,
): Promise<PurgeRetentionResult> {
  const { limit } = input;
  const [lock] = await runner.query<{ locked: boolean }>(client, sql.tryRetentionLock, [schema]);
  if (!lock!.locked) return { ...nothing, skipped: true };

  const lists: RetentionCandidate[][] = [];
  for (const { status, before } of retentionCutoffs(input)) {
    const rows = await runner.query<{ id: string; final_at: IntLike }>(client, sql.finalPast, [status, before, limit + 1]);
    lists.push(rows.map((row) => ({ id: row.id, finalAt: int(row.final_at) })));
  }
  const { doomed, more } = oldestOfStatuses(lists, limit);
  let deliveries = 0;
  let attempts = 0;
  if (doomed.length > 0) {
    const [row] = await runner.query<Pick<PurgeRow, 'deliveries' | 'attempts'>>(client, sql.purgeDeliveriesById, [doomed.map((c) => c.id)]);
    deliveries = int(row!.deliveries);
    attempts = int(row!.attempts);
  }

  let events = 0;
  let moreEvents = false;
  if (input.eventsBefore !== null) {
    // The row past `limit` only decides `more`: when deliveries are left, it is true
    // anyway, and looking for that row would walk every old event that still has a delivery
    // (all of them, while a backlog of old deliveries is purged), costing each batch O(n).
    const wanted = more ? limit : limit + 1;
    const ids = (await runner.query<{ id: string }>(client, sql.lockEventsPast, [input.eventsBefore, wanted])).map((row) => row.id);
    moreEvents = ids.length > limit;
    if (ids.length > 0) events = (await runner.query(client, sql.purgeEventsById, [ids.slice(0, limit)])).length;
  }

  const testLists: RetentionCandidate[][] = [];
  for (const { ok, before } of testAttemptCutoffs(input)) {
    const rows = await runner.query<{ id: string; final_at: IntLike }>(client, sql.testAttemptsPast, [ok, before, limit + 1]);
    testLists.push(rows.map((row) => ({ id: row.id, finalAt: int(row.final_at) })));
  }
  const tests = oldestOfStatuses(testLists, limit);
  const testAttempts = tests.doomed.length === 0 ? 0 : (await runner.query(client, sql.purgeTestAttemptsById, [tests.doomed.map((c) => c.id)])).length;
  return { deliveries, attempts, events, testAttempts, more: more || moreEvents || tests.more };
}
