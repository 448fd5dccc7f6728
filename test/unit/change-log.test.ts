/**
 * The change log's shared rules (storage/shared/change-log.ts): what a record holds, what
 * it redacts, and what a soft delete writes. The conformance suite holds every adapter to
 * them; here they are checked on their own.
 */
import { describe, expect, it } from 'vitest';
import {
  DELETED_REASON,
  changeRecord,
  dispatcherDisableRecord,
  inLoggedOrder,
  loggedFields,
  softDeletedFields,
  subscriptionChanges,
} from '../../src/storage/shared/change-log.js';
import { subscription } from '../support/storage-records.js';

const sensitive = (name: string) => name.toLowerCase() === 'authorization';

describe('the change log', () => {
  it('records every logged field of a creation, before null, secrets as their times only', () => {
    const record = subscription({ headers: { Authorization: 'Bearer sk_live_1', 'X-Ledger': 'l-1' } });
    const changes = subscriptionChanges(null, record, sensitive);
    expect(Object.keys(changes)).toEqual([...loggedFields]);
    expect(changes.secrets).toEqual({ before: null, after: [{ createdAt: record.createdAt, expiresAt: null }] });
    expect(changes.headers).toEqual({ before: null, after: { Authorization: '[redacted]', 'X-Ledger': 'l-1' } });
    expect(JSON.stringify(changes)).not.toContain('whsec_');
    expect(JSON.stringify(changes)).not.toContain('sk_live_1');
  });

  it('records only what changed, comparing objects without regard to key order', () => {
    const before = subscription({ metadata: { a: 1, b: { c: 2, d: 3 } }, url: 'https://a.example/hooks' });
    const after = { ...before, metadata: { b: { d: 3, c: 2 }, a: 1 }, url: 'https://b.example/hooks', updatedAt: before.updatedAt + 1, failingSince: 5 };
    expect(subscriptionChanges(before, after, sensitive)).toEqual({ url: { before: 'https://a.example/hooks', after: 'https://b.example/hooks' } });
  });

  it('shows a swapped credential as a change with both sides redacted, and a sealed value redacted whatever its name', () => {
    const before = subscription({ headers: { Authorization: 'Bearer old', 'X-Custom': 'enc:v1:k1:aaaa:bbbb' } });
    const after = { ...before, headers: { Authorization: 'Bearer new', 'X-Custom': 'enc:v1:k1:aaaa:bbbb' } };
    expect(subscriptionChanges(before, after, sensitive)).toEqual({
      headers: { before: { Authorization: '[redacted]', 'X-Custom': '[redacted]' }, after: { Authorization: '[redacted]', 'X-Custom': '[redacted]' } },
    });
  });

  it('builds API records from the audit and dispatcher records with no actor', () => {
    const before = subscription();
    const after = { ...before, status: 'disabled' as const, disabledReason: 'endpoint answered 410 Gone', disabledAt: 10 };
    const audit = { id: 'chg_1', action: 'disabled' as const, actor: 'alice', reason: 'maintenance', isSensitiveHeader: sensitive };
    expect(changeRecord(audit, before, after, 10)).toEqual({
      id: 'chg_1',
      subscriptionId: before.id,
      tenantId: null,
      action: 'disabled',
      origin: 'api',
      actor: 'alice',
      reason: 'maintenance',
      changes: { status: { before: 'active', after: 'disabled' }, disabledReason: { before: null, after: 'endpoint answered 410 Gone' } },
      at: 10,
    });
    expect(changeRecord({ ...audit, origin: 'dispatcher' }, before, after, 10).origin).toBe('dispatcher');
    expect(dispatcherDisableRecord(before, after, 10)).toMatchObject({ id: expect.stringMatching(/^chg_/), origin: 'dispatcher', actor: null, reason: 'endpoint answered 410 Gone' });
  });

  it('reads a record back with its fields in the logged order, whatever order the storage kept', () => {
    const shuffled = { url: { before: 'a', after: 'b' }, status: { before: 'active', after: 'disabled' }, tenantId: { before: null, after: null }, extra: { before: 1, after: 2 } };
    expect(Object.keys(inLoggedOrder(shuffled))).toEqual(['tenantId', 'url', 'status', 'extra']);
  });

  it('soft-deletes an active subscription as disabled for good, keeps an earlier disable, and does nothing twice', () => {
    expect(softDeletedFields({ status: 'active', disabledReason: null, disabledAt: null, deletedAt: null }, 50)).toEqual({
      status: 'disabled',
      disabledReason: DELETED_REASON,
      disabledAt: 50,
      deletedAt: 50,
      updatedAt: 50,
    });
    expect(softDeletedFields({ status: 'disabled', disabledReason: 'maintenance', disabledAt: 20, deletedAt: null }, 50)).toEqual({
      status: 'disabled',
      disabledReason: 'maintenance',
      disabledAt: 20,
      deletedAt: 50,
      updatedAt: 50,
    });
    expect(softDeletedFields({ status: 'disabled', disabledReason: 'deleted', disabledAt: 20, deletedAt: 20 }, 50)).toBeNull();
  });
});
