// The rules every storage adapter applies, tested alone; the conformance suite checks that
// each adapter follows them.
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/storage/shared/cursor.js';
import { newDeliveryId } from '../../src/storage/shared/delivery-ids.js';
import { assertExpungeIds, maxExpungeIds } from '../../src/storage/shared/expunge-ids.js';
import { replayAction, redeliverVerdict, requeuedFields, queuedStatus } from '../../src/storage/shared/redelivery.js';
import { assertSchemaCurrent, assertSchemaNotTooNew } from '../../src/storage/shared/schema-version.js';
import { loadOptionalDriver } from '../../src/storage/shared/optional-driver.js';
import { failingSinceAfter, outcomeKindsWhere, settledFields, settledLastError, settledStatusRules } from '../../src/storage/shared/settlement.js';
import { applySubscriptionPatch, subscriptionStatusChange } from '../../src/storage/shared/subscription-changes.js';
import type { SubscriptionRecord } from '../../src/storage/storage-adapter.js';
import { subscriptionAt } from '../support/storage-records.js';

const record: SubscriptionRecord = subscriptionAt(1, {
  id: 'sub_1',
  url: 'https://erp.example/hooks',
  eventTypes: ['payment.*'],
  secrets: [{ value: 'whsec_x', createdAt: 1, expiresAt: null }],
  headers: { 'x-tenant': 'a' },
  metadata: { nested: { a: 1 } },
});

describe('settlement', () => {
  it('maps each outcome and subscription state to one status', () => {
    expect(settledStatusRules.map((r) => `${r.kind}/${r.subscriptionActive ? 'active' : 'disabled'}→${r.status}`)).toEqual([
      'delivered/active→delivered',
      'delivered/disabled→delivered',
      'retry/active→pending',
      'retry/disabled→held',
      'dead/active→dead',
      'dead/disabled→dead',
      'disable/active→held',
      'disable/disabled→held',
    ]);
  });

  it('is due again only as a pending retry, and delivered only when delivered', () => {
    expect(settledFields({ kind: 'retry', nextAttemptAt: 50 }, true, 10)).toEqual({ status: 'pending', nextAttemptAt: 50, deliveredAt: null });
    expect(settledFields({ kind: 'retry', nextAttemptAt: 50 }, false, 10)).toEqual({ status: 'held', nextAttemptAt: null, deliveredAt: null });
    expect(settledFields({ kind: 'delivered' }, true, 10)).toEqual({ status: 'delivered', nextAttemptAt: null, deliveredAt: 10 });
    expect(settledFields({ kind: 'dead' }, true, 10)).toEqual({ status: 'dead', nextAttemptAt: null, deliveredAt: null });
    expect(settledFields({ kind: 'disable', reason: 'gone' }, true, 10)).toEqual({ status: 'held', nextAttemptAt: null, deliveredAt: null });
  });

  it('clears failingSince on success, starts it once on retry or dead, keeps it on disable', () => {
    expect(failingSinceAfter(5, 'delivered', 9, null)).toBeNull();
    expect(failingSinceAfter(null, 'retry', 9, null)).toBe(9);
    expect(failingSinceAfter(5, 'retry', 9, null)).toBe(5);
    expect(failingSinceAfter(null, 'dead', 9, null)).toBe(9);
    expect(failingSinceAfter(null, 'disable', 9, null)).toBeNull();
    expect(failingSinceAfter(5, 'disable', 9, null)).toBe(5);
    expect(outcomeKindsWhere('start')).toEqual(['retry', 'dead']);
    expect(failingSinceAfter(null, 'retry', 9, 'http')).toBe(9);
    expect(outcomeKindsWhere('clear')).toEqual(['delivered']);
  });

  it('leaves failingSince as it is after an attempt failed by the egress proxy, whatever the outcome', () => {
    expect(failingSinceAfter(null, 'retry', 9, 'proxy')).toBeNull();
    expect(failingSinceAfter(5, 'retry', 9, 'proxy')).toBe(5);
    expect(failingSinceAfter(null, 'dead', 9, 'proxy')).toBeNull();
    expect(failingSinceAfter(null, 'retry', 9, 'connect')).toBe(9);
  });

  it("leaves failingSince as it is after an attempt failed by the sender's own configuration (class config)", () => {
    expect(failingSinceAfter(null, 'retry', 9, 'config')).toBeNull();
    expect(failingSinceAfter(5, 'dead', 9, 'config')).toBe(5);
  });

  it("keeps a cancelled delivery's cancel reason as lastError while it stays cancelled, and takes the attempt's error otherwise", () => {
    const reason = 'cancelled: its subscription was deleted';
    expect(settledLastError('cancelled', 'HTTP 503', reason)).toBe(reason);
    expect(settledLastError('delivered', null, reason)).toBeNull();
    expect(settledLastError('pending', 'HTTP 503', 'HTTP 500')).toBe('HTTP 503');
    expect(settledLastError('dead', 'HTTP 400', null)).toBe('HTTP 400');
  });
});

describe('subscription changes', () => {
  it('replaces each field the patch has, keeps the rest, stamps updatedAt, and shares nothing with its inputs', () => {
    const patch = { url: 'https://crm.example/hooks', headers: { 'x-tenant': 'b' }, description: undefined };
    const next = applySubscriptionPatch(record, patch, 99);
    expect(next).toEqual({ ...record, url: 'https://crm.example/hooks', headers: { 'x-tenant': 'b' }, updatedAt: 99 });
    patch.headers['x-tenant'] = 'c';
    (next.metadata.nested as { a: number }).a = 2;
    expect(next.headers['x-tenant']).toBe('b');
    expect(record.metadata).toEqual({ nested: { a: 1 } });
  });

  it('disables an active subscription and holds its deliveries; enables a disabled one and resumes them', () => {
    expect(subscriptionStatusChange(record, { status: 'disabled', reason: 'gone' }, 7)).toEqual({
      fields: { status: 'disabled', disabledReason: 'gone', disabledAt: 7, updatedAt: 7 },
      deliveries: 'hold',
    });
    expect(subscriptionStatusChange({ status: 'disabled' }, { status: 'active' }, 8)).toEqual({
      fields: { status: 'active', disabledReason: null, disabledAt: null, updatedAt: 8 },
      deliveries: 'resume',
    });
  });

  it('changes nothing when the subscription is in that status already (a second disable keeps the first reason)', () => {
    expect(subscriptionStatusChange({ status: 'disabled' }, { status: 'disabled', reason: 'another' }, 9)).toBeNull();
    expect(subscriptionStatusChange(record, { status: 'active' }, 9)).toBeNull();
  });
});

describe('redelivery and replay', () => {
  it.each([
    ['delivered', true, false, 'requeue'],
    ['dead', true, false, 'requeue'],
    ['pending', true, false, 'requeue'],
    ['pending', true, true, 'in_flight'],
    ['held', true, false, 'held'],
    ['dead', false, false, 'held'],
    ['pending', false, true, 'held'],
  ] as const)('redeliver of a %s delivery (subscription active: %s, lease live: %s) → %s', (status, active, leaseLive, verdict) => {
    expect(redeliverVerdict(status, { subscriptionActive: active, subscriptionDeleted: false, eventExpunged: false, leaseLive })).toBe(verdict);
  });

  it.each([
    ['cancelled', false, true, false, 'expunged'],
    ['delivered', true, true, false, 'expunged'],
    ['cancelled', false, false, true, 'deleted'],
    ['pending', false, true, true, 'expunged'],
  ] as const)('redeliver of a %s delivery (subscription active: %s, event expunged: %s, subscription deleted: %s) → %s', (status, active, expunged, deleted, verdict) => {
    // Expunged and deleted come before a live lease: such a delivery is never sent again.
    expect(redeliverVerdict(status, { subscriptionActive: active, subscriptionDeleted: deleted, eventExpunged: expunged, leaseLive: true })).toBe(verdict);
  });

  it('requeues with a fresh cycle: pending and due now, or held for a disabled subscription', () => {
    expect(requeuedFields(queuedStatus(true), 5)).toEqual({
      status: 'pending',
      attempts: 0,
      nextAttemptAt: 5,
      deliveredAt: null,
      leaseExpiresAt: null,
      leaseToken: null,
      updatedAt: 5,
    });
    expect(requeuedFields(queuedStatus(false), 5)).toMatchObject({ status: 'held', nextAttemptAt: null });
  });

  it('replay creates what is missing, requeues what is dead, leaves the rest', () => {
    expect([null, 'dead', 'delivered', 'pending', 'held'].map((s) => replayAction(s as never))).toEqual(['create', 'requeue', 'skip', 'skip', 'skip']);
  });
});

describe('cursors', () => {
  it('round-trips an id for its own list only', () => {
    const cursor = encodeCursor('deliveries', 'dlv_01ABC');
    expect(decodeCursor('deliveries', cursor)).toBe('dlv_01ABC');
    expect(() => decodeCursor('subscriptions', cursor)).toThrow(expect.objectContaining({ code: 'CURSOR_INVALID', field: 'cursor' }));
  });

  it.each([
    ['an empty string', ''],
    ['not base64url', 'a+b/c='],
    ['a tag alone', Buffer.from('d:').toString('base64url')],
    ['a control character', Buffer.from('d:dlv_\u0000x').toString('base64url')],
    ['trailing junk that decodes to nothing', `${encodeCursor('deliveries', 'dlv_1')}A`],
    ['a number', 12],
    ['null', null],
  ])('refuses %s with CURSOR_INVALID', (_label, cursor) => {
    expect(() => decodeCursor('deliveries', cursor)).toThrow(expect.objectContaining({ code: 'CURSOR_INVALID' }));
  });
});

describe('schema versions', () => {
  it('refuses a missing, older or newer schema with its own code', () => {
    expect(() => assertSchemaCurrent('X', null, 3, '`m()`')).toThrow(expect.objectContaining({ code: 'STORAGE_NOT_MIGRATED' }));
    expect(() => assertSchemaCurrent('X', 0, 3, '`m()`')).toThrow(expect.objectContaining({ code: 'STORAGE_NOT_MIGRATED' }));
    expect(() => assertSchemaCurrent('X', 2, 3, '`m()`')).toThrow(expect.objectContaining({ code: 'STORAGE_SCHEMA_TOO_OLD' }));
    expect(() => assertSchemaCurrent('X', 4, 3, '`m()`')).toThrow(expect.objectContaining({ code: 'STORAGE_SCHEMA_TOO_NEW' }));
    expect(() => assertSchemaNotTooNew('X', 4, 3)).toThrow(/X is at schema version 4, this code knows up to 3/);
    expect(() => assertSchemaCurrent('X', 3, 3, '`m()`')).not.toThrow();
  });
});

describe('optional drivers', () => {
  const driver = { name: 'fake-db', neededBy: 'createFake()', repair: 'run `npm rebuild fake-db`', expected: 'install fake-db 1.x', pick: (m: unknown) => (typeof m === 'function' ? m : null) };
  const fail = (code: string) => () => {
    throw Object.assign(new Error('nope'), { code });
  };

  it('says what to install when missing, what to repair when broken, what to expect when wrong', () => {
    expect(() => loadOptionalDriver(driver, fail('MODULE_NOT_FOUND'))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('npm install fake-db') }));
    expect(() => loadOptionalDriver(driver, fail('ERR_DLOPEN_FAILED'))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('npm rebuild fake-db') }));
    expect(() => loadOptionalDriver(driver, () => ({}))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('install fake-db 1.x') }));
    const constructor = function Fake() {};
    expect(loadOptionalDriver(driver, () => constructor)).toBe(constructor);
  });
});

describe('expunge ids', () => {
  it(`takes up to ${maxExpungeIds} event ids and refuses more with INPUT_INVALID`, () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `evt_${i}`);
    expect(maxExpungeIds).toBe(1000);
    expect(() => assertExpungeIds(ids(0))).not.toThrow();
    expect(() => assertExpungeIds(ids(maxExpungeIds))).not.toThrow();
    expect(() => assertExpungeIds(ids(maxExpungeIds + 1))).toThrow(expect.objectContaining({ name: 'ValidationError', code: 'INPUT_INVALID', field: 'ids' }));
  });
});

describe('delivery ids', () => {
  it('makes distinct, time-ordered dlv_ ids', () => {
    const a = newDeliveryId(1_000);
    const b = newDeliveryId(1_000);
    const c = newDeliveryId(2_000);
    expect(a).toMatch(/^dlv_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(a < b && b < c).toBe(true);
  });
});
