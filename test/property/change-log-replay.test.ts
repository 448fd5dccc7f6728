/**
 * The change log as a property, through the public API on every storage: random
 * subscriptions and random mutations by random actors — updates of every field (sensitive
 * headers among them), rotations, disables, enables, soft deletes, refused changes of a
 * deleted subscription — in any order, at advancing times; the payload filter set, changed
 * and cleared among them. The transform's name, which the subscriptions API does not take
 * yet, is set, changed and cleared through the storage, with the change audit the registry
 * writes for an update. After every run, for each subscription:
 *
 * - folding its history (`subscriptions.history`, read page by page) field by field, each
 *   record's `after` over the last, gives the subscription's current state as the log shows
 *   it (secrets as their times, sensitive header values redacted, the filter as the object
 *   the API shows) — nothing was changed
 *   without a record, and no record claims a change that did not happen;
 * - the records are in time order, each with the actor and reason of the call that made it;
 * - no credential written in a sensitive header appears anywhere in the log.
 *
 * The fold is written here, independently of the library's diff.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createWebhooks, type SubscriptionChange, type Webhooks } from '../../src/index.js';
import { createId } from '../../src/ids.js';
import { loggedState } from '../../src/storage/shared/change-log.js';
import { sensitiveHeaderMatcher, defaultSensitiveHeaders } from '../../src/registry/sensitive-headers.js';
import { openStorage, type StorageKind } from '../support/every-storage.js';
import { FakeClock } from '../support/fake-clock.js';
import { propertyRuns } from '../support/property-runs.js';

const START = Date.UTC(2026, 11, 4, 9);
const actors = ['alice', 'bob', 'ops-bot', null] as const;
const reasons = ['ticket 42', 'ERP moved', null] as const;

type Change = { actor: string | null; reason: string | null };
type Step =
  | { kind: 'create' }
  | ({ kind: 'update'; pick: number; field: number; value: number } & Change)
  | ({ kind: 'rotate'; pick: number; overlap: boolean } & Change)
  | ({ kind: 'disable'; pick: number } & Change)
  | ({ kind: 'enable'; pick: number } & Change)
  | ({ kind: 'delete'; pick: number } & Change)
  | ({ kind: 'filter'; pick: number; value: number } & Change)
  | ({ kind: 'transform'; pick: number; value: number } & Change);

const change = { actor: fc.constantFrom(...actors), reason: fc.constantFrom(...reasons) };
const pick = fc.nat(1000);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('create' as const) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('update' as const), pick, field: fc.nat(5), value: fc.nat(3), ...change }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rotate' as const), pick, overlap: fc.boolean(), ...change }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('disable' as const), pick, ...change }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('enable' as const), pick, ...change }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick, ...change }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('filter' as const), pick, value: fc.nat(2), ...change }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('transform' as const), pick, value: fc.nat(2), ...change }) },
);

/** The transform of a `transform` step: none, or one of two names (opaque to the storage). */
const transforms = [null, 'thin', 'erp-v2'] as const;

/** The payload filter of a `filter` step: none, or one of two. */
const filters = [null, { 'data.amount.currency': 'EUR' }, { 'data.amount.amount': { $gte: 100_000 } }] as const;

/** A credential per value: none may ever appear in the log. */
const credential = (value: number) => `sk_live_property_${value}_${'x'.repeat(8)}`;

/** The update of field `field` to its `value`-th choice. */
function patchOf(field: number, value: number, url: string): Record<string, unknown> {
  switch (field) {
    case 0:
      return { url: `${url}/v${value}` };
    case 1:
      return { eventTypes: [['payment.*'], ['refund.*'], ['*'], ['payment.succeeded', 'refund.*']][value] };
    case 2:
      return { headers: value === 0 ? {} : { Authorization: `Bearer ${credential(value)}`, 'X-Ledger': `ledger-${value % 2}` } };
    case 3:
      return { description: value === 0 ? null : `ERP ${value}` };
    case 4:
      return { metadata: { plan: value } };
    default:
      return { retry: value === 0 ? null : { delaysMs: [1_000 * value] }, flowControl: value === 1 ? { maxInFlight: 2 } : null };
  }
}

function options(step: Change): { actor?: string; reason?: string } {
  return { ...(step.actor === null ? {} : { actor: step.actor }), ...(step.reason === null ? {} : { reason: step.reason }) };
}

async function readHistory(webhooks: Webhooks, id: string): Promise<SubscriptionChange[]> {
  const all: SubscriptionChange[] = [];
  let cursor: string | undefined;
  do {
    const page = await webhooks.subscriptions.history(id, { limit: 3, ...(cursor === undefined ? {} : { cursor }) });
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return all;
}

async function runSteps(kind: StorageKind, steps: Step[]): Promise<void> {
  const opened = await openStorage[kind]('change-log-property');
  const clock = new FakeClock(START);
  const webhooks = createWebhooks({ storage: opened.storage, clock, meter: false, security: { allowPrivateNetworks: true } });
  const isSensitive = sensitiveHeaderMatcher(defaultSensitiveHeaders);
  const ids: string[] = [];
  /** What each subscription's log must hold, in order: action, actor, reason. */
  const expected = new Map<string, Array<{ action: string } & Change>>();
  try {
    await opened.storage.migrate();
    for (const current of steps) {
      await clock.advance(1_000);
      if (current.kind === 'create') {
        const created = await webhooks.subscriptions.create({ url: 'http://127.0.0.1:9/erp', eventTypes: ['payment.*'], headers: { 'X-Api-Key': credential(9) } }, { actor: 'creator' });
        ids.push(created.id);
        expected.set(created.id, [{ action: 'created', actor: 'creator', reason: null }]);
        continue;
      }
      if (ids.length === 0) continue;
      const id = ids[current.pick % ids.length]!;
      const before = (await opened.storage.getSubscription(id))!;
      const log = expected.get(id)!;
      const said = { actor: current.actor, reason: current.reason };
      if (current.kind === 'transform') {
        // What the registry's update writes: the patch and its audit, in one storage call (a
        // deleted subscription is returned as it is, nothing logged).
        const audit = { id: createId('chg', clock.now()), action: 'updated' as const, actor: current.actor, reason: current.reason, isSensitiveHeader: isSensitive };
        await opened.storage.updateSubscription(id, { transform: transforms[current.value]! }, clock.now(), audit);
        if (before.deletedAt === null) log.push({ action: 'updated', ...said });
        continue;
      }
      if (before.deletedAt !== null) {
        // Every change of a deleted subscription is refused and recorded nowhere; a second soft delete does nothing.
        if (current.kind === 'delete') await webhooks.subscriptions.delete(id, options(current));
        else {
          const refused =
            current.kind === 'update'
              ? webhooks.subscriptions.update(id, patchOf(current.field, current.value, 'http://127.0.0.1:9'), options(current))
              : current.kind === 'filter'
                ? webhooks.subscriptions.update(id, { filter: filters[current.value]! }, options(current))
                : current.kind === 'rotate'
                ? webhooks.subscriptions.rotateSecret(id, options(current))
                : webhooks.subscriptions[current.kind](id, options(current));
          await expect(refused).rejects.toMatchObject({ code: 'SUBSCRIPTION_DELETED' });
        }
        continue;
      }
      switch (current.kind) {
        case 'update':
          await webhooks.subscriptions.update(id, patchOf(current.field, current.value, 'http://127.0.0.1:9'), options(current));
          log.push({ action: 'updated', ...said });
          break;
        case 'filter':
          await webhooks.subscriptions.update(id, { filter: filters[current.value]! }, options(current));
          log.push({ action: 'updated', ...said });
          break;
        case 'rotate':
          await webhooks.subscriptions.rotateSecret(id, { ...options(current), overlapMs: current.overlap ? 5_000 : 0 });
          log.push({ action: 'secret_rotated', ...said });
          break;
        case 'disable':
          await webhooks.subscriptions.disable(id, options(current));
          if (before.status === 'active') log.push({ action: 'disabled', actor: current.actor, reason: current.reason ?? 'disabled by the operator' });
          break;
        case 'enable':
          await webhooks.subscriptions.enable(id, options(current));
          if (before.status === 'disabled') log.push({ action: 'enabled', ...said });
          break;
        case 'delete':
          await webhooks.subscriptions.delete(id, options(current));
          log.push({ action: 'deleted', ...said });
          break;
      }
    }

    for (const id of ids) {
      const history = await readHistory(webhooks, id);
      expect(history.map(({ action, actor, reason }) => ({ action, actor, reason }))).toEqual(expected.get(id));
      const folded: Record<string, unknown> = {};
      for (const record of history) for (const [field, fieldChange] of Object.entries(record.changes)) folded[field] = fieldChange.after;
      const current = (await opened.storage.getSubscription(id))!;
      const state = loggedState(current, isSensitive);
      expect(folded).toEqual({ ...state, filter: current.filter === null ? null : JSON.parse(current.filter) });
      const times = history.map((record) => record.at);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      const text = JSON.stringify(history);
      for (let value = 0; value <= 9; value++) expect(text).not.toContain(credential(value));
    }
  } finally {
    await webhooks.close();
    await opened.cleanup();
  }
}

const runs: Record<StorageKind, number> = { memory: 150, sqlite: 40, postgres: 15 };

describe.each(Object.keys(runs) as StorageKind[])('the change log on the %s storage', (kind) => {
  it('replays to the current state of each subscription, records every change with its actor, and never a credential', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), (steps) => runSteps(kind, steps)),
      { numRuns: propertyRuns(runs[kind]) },
    );
  }, 300_000);
});
