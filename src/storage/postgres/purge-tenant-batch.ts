/**
 * One batch of a tenant's removal (`purgeTenant`), inside the caller's transaction: the
 * in-flight check, then each kind of row in the order of shared/tenancy.ts's
 * `tenantPurgeSteps`, a kind only once the kinds before it are gone. The statements, and
 * the locks each one relies on, are in statements/purge-tenant.ts.
 */
import type { PoolClient } from 'pg';
import { tenantPurgeSteps } from '../shared/tenancy.js';
import type { PurgeTenantInput, PurgeTenantResult } from '../storage-adapter.js';
import { advancePassedHeads, keyedOf, lockKeys, type CancelledRow } from './ordering-heads.js';
import { int, type IntLike, type PurgeTenantRow, type TenantLeftRow } from './rows.js';
import type { StatementRunner } from './statement-runner.js';
import type { Statements } from './statements/index.js';

type Removed = Omit<PurgeTenantResult, 'done'>;
type Step = (typeof tenantPurgeSteps)[number];

/**
 * Unless `force`, answers `'in_flight'` and removes nothing while one of the tenant's
 * deliveries is under a live lease (by the database clock; `input.now` is not used).
 * Otherwise removes at most `limit` rows of each kind and says whether anything of the
 * tenant is left.
 */
export async function purgeTenantBatch(
  runner: StatementRunner,
  sql: Statements,
  client: PoolClient,
  input: PurgeTenantInput,
): Promise<PurgeTenantResult | 'in_flight'> {
  const { tenantId, limit, force } = input;
  if (!force) {
    const [probe] = await runner.query<{ in_flight: boolean }>(client, sql.tenantInFlight, [tenantId]);
    if (probe!.in_flight) return 'in_flight';
  }
  const removeStep = stepsOf(runner, sql, client, tenantId, limit, force, input.now);
  const tenantLeft = async (): Promise<TenantLeftRow> => (await runner.query<TenantLeftRow>(client, sql.tenantLeft, [tenantId]))[0]!;
  const removed: Removed = { subscriptions: 0, events: 0, deliveries: 0, attempts: 0 };
  let left = await tenantLeft();
  for (const step of tenantPurgeSteps) {
    if (!left[step]) continue;
    const counts = await removeStep[step]();
    removed.subscriptions += counts.subscriptions;
    removed.events += counts.events;
    removed.deliveries += counts.deliveries;
    removed.attempts += counts.attempts;
    left = await tenantLeft();
    // Not all gone (the limit, or a row leased meanwhile): the next batch goes on with this kind.
    if (left[step]) break;
  }
  return { ...removed, done: !left.deliveries && !left.subscriptions && !left.events };
}

/** The `keyed` column of purgeTenantEvents (JSON, or parsed by the driver) as rows. */
function removedKeyed(keyed: unknown): CancelledRow[] {
  if (keyed === null || keyed === undefined) return [];
  const list = (typeof keyed === 'string' ? JSON.parse(keyed) : keyed) as Array<[string, string, IntLike]>;
  return list.map(([subscriptionId, orderingKey, sequence]) => ({ subscription_id: subscriptionId, ordering_key: orderingKey, ordering_seq: sequence }));
}

/**
 * What each step removes, at most `limit` rows of its kind. Removing the events removes the
 * deliveries other consumers (all-tenant ones) still have of them: a head of a consumer's
 * ordering key among them lets the key move on, due at `now`.
 */
function stepsOf(
  runner: StatementRunner,
  sql: Statements,
  client: PoolClient,
  tenantId: string,
  limit: number,
  force: boolean,
  now: number,
): Record<Step, () => Promise<Removed>> {
  const none: Removed = { subscriptions: 0, events: 0, deliveries: 0, attempts: 0 };
  const lockedIds = async (text: string): Promise<string[]> =>
    (await runner.query<{ id: string }>(client, text, [tenantId, limit])).map((row) => row.id);
  return {
    deliveries: async () => {
      const [row] = await runner.query<PurgeTenantRow>(client, sql.purgeTenantDeliveries, [tenantId, limit, force]);
      return { ...none, deliveries: int(row!.deliveries), attempts: int(row!.attempts) };
    },
    subscriptions: async () => {
      const gone = await runner.query(client, sql.purgeTenantSubscriptions, [await lockedIds(sql.lockTenantSubscriptions)]);
      return { ...none, subscriptions: gone.length };
    },
    events: async () => {
      const ids = await lockedIds(sql.lockTenantEvents);
      // The consumers' keys of their deliveries before the deliveries (statements/ordering.ts).
      const locked = await lockKeys(runner, client, sql.lockKeysOfEvents, [ids]);
      const [row] = await runner.query<PurgeTenantRow>(client, sql.purgeTenantEvents, [ids]);
      if (locked.size > 0) await advancePassedHeads(runner, sql, client, locked, keyedOf(removedKeyed(row!.keyed)), now);
      return { ...none, events: int(row!.events ?? 0), deliveries: int(row!.deliveries), attempts: int(row!.attempts) };
    },
  };
}
