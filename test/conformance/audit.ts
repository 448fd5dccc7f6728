/**
 * Storage conformance cases for audit and erasure: the subscription change log written with
 * each change (and rolled back with it), soft delete with its cancelled deliveries, the event
 * list, and the expunge of events' content — with what each does to settle, redeliver,
 * replay, enqueue, stats, purge and a tenant's removal.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestCa } from '../support/test-certificates.js';
import { createId } from '../../src/ids.js';
import {
  CANCELLED_BY_DELETE,
  CANCELLED_BY_EXPUNGE,
  type ChangeAudit,
  type DeliveryRecord,
  type EventQuery,
  type EventRecord,
  type SubscriptionChangeRecord,
  type SubscriptionRecord,
} from '../../src/storage/storage-adapter.js';
import type { ConformanceContext } from './conformance-context.js';

// A real certificate: the log shows it by its fingerprint.
const ca = createTestCa();
const identity = ca.issue({ commonName: 'bookkeeper-sender', usage: 'client' });

const ACME = 'org_acme';
const GLOBEX = 'org_globex';
const ACTOR = 'user_7Hq2';
const EMPTY_STATS = { pending: 0, leased: 0, waiting: 0, held: 0, dead: 0, delivered: 0, cancelled: 0, oldestPendingCreatedAt: null };
/** The most ids one `expungeEvents` call takes. */
const MAX_EXPUNGE_IDS = 1000;
const HOUR_MS = 3_600_000;

/** The header the tests' hosts call sensitive; a value sealed at rest (`enc:v1:`) is redacted whatever its name. */
const isSensitiveHeader = (name: string): boolean => name === 'authorization';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeAudit(t: ConformanceContext): void {
  const { subscriptionRecord, createSubscription, publish, publishFor, claim, claimOne, settle, deliveriesOfEvent, delivery, rejectionOf } = t;

  /** A change audit named at `now`, of `action` by {@link ACTOR} unless told otherwise. */
  function audit(action: ChangeAudit['action'], overrides: Partial<ChangeAudit> = {}): ChangeAudit {
    return { id: createId('chg', t.now), action, actor: ACTOR, reason: null, isSensitiveHeader, ...overrides };
  }

  /** Creates a subscription with its `created` change record. */
  async function createAudited(overrides: Partial<SubscriptionRecord> = {}, options: { maxPerTenant?: number } = {}): Promise<SubscriptionRecord> {
    return t.storage.createSubscription(subscriptionRecord(overrides), options, audit('created'));
  }

  /** Every page of a subscription's change log, with the page size given. */
  async function changesOf(subscriptionId: string, limit = 100): Promise<SubscriptionChangeRecord[]> {
    const all: SubscriptionChangeRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await t.storage.listSubscriptionChanges({ subscriptionId, limit, ...(cursor === undefined ? {} : { cursor }) });
      expect(result.items.length).toBeLessThanOrEqual(limit);
      all.push(...result.items);
      if (result.nextCursor === null) return all;
      cursor = result.nextCursor;
    }
    throw new Error('paging did not end');
  }

  /** Every page of an event query, with the page size given. */
  async function eventsOf(query: Omit<EventQuery, 'cursor'>): Promise<EventRecord[]> {
    const all: EventRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await t.storage.listEvents({ ...query, ...(cursor === undefined ? {} : { cursor }) });
      expect(result.items.length).toBeLessThanOrEqual(query.limit);
      all.push(...result.items);
      if (result.nextCursor === null) return all;
      cursor = result.nextCursor;
    }
    throw new Error('paging did not end');
  }

  async function subscription(id: string): Promise<SubscriptionRecord> {
    const found = await t.storage.getSubscription(id);
    if (found === null) throw new Error(`expected subscription ${id} to exist`);
    return found;
  }

  async function event(id: string): Promise<EventRecord> {
    const found = await t.storage.getEvent(id);
    if (found === null) throw new Error(`expected event ${id} to exist`);
    return found;
  }

  /** The fields a delivery takes when it is cancelled at `at`: the rest, its lease included, as it was. */
  function cancelled(d: DeliveryRecord, lastError: string, at: number): DeliveryRecord {
    return { ...d, status: 'cancelled', nextAttemptAt: null, lastError, updatedAt: at };
  }

  describe('change log', () => {
    it("writes a 'created' record with every logged field: secrets as their times only, a sensitive or sealed header value as \"[redacted]\"", async () => {
      const secretCreatedAt = t.now - 1000;
      const record = subscriptionRecord({
        tenantId: ACME,
        eventTypes: ['payment.*', 'refund.created'],
        filter: '{"data.currency":{"eq":"EUR"}}',
        transform: 'thin',
        versions: '{"payment.succeeded":1}',
        headers: { 'x-tenant': 'acme', authorization: 'Bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'x-signing-key': 'enc:v1:k1:9f8e7d6c' },
        secrets: [{ value: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', createdAt: secretCreatedAt, expiresAt: null }],
        description: 'ERP',
        retry: { delaysMs: [1000, 5000] },
        flowControl: { maxInFlight: 2 },
        tls: { clientCertificate: identity.certificate, clientKey: 'enc:v1:k1:c2VhbGVk:a2V5', ca: ca.certificate, serverName: 'erp.internal' },
      });
      const a = audit('created', { reason: 'onboarding' });
      const created = await t.storage.createSubscription(record, undefined, a);
      expect(created).toEqual(record);

      const expected: SubscriptionChangeRecord = {
        id: a.id,
        subscriptionId: record.id,
        sequence: 1,
        tenantId: ACME,
        action: 'created',
        origin: 'api',
        actor: ACTOR,
        reason: 'onboarding',
        changes: {
          tenantId: { before: null, after: ACME },
          allTenants: { before: null, after: false },
          url: { before: null, after: record.url },
          eventTypes: { before: null, after: ['payment.*', 'refund.created'] },
          filter: { before: null, after: '{"data.currency":{"eq":"EUR"}}' },
          transform: { before: null, after: 'thin' },
          orderingOnDead: { before: null, after: 'block' },
          versions: { before: null, after: '{"payment.succeeded":1}' },
          headers: { before: null, after: { authorization: '[redacted]', 'x-signing-key': '[redacted]', 'x-tenant': 'acme' } },
          description: { before: null, after: 'ERP' },
          metadata: { before: null, after: { team: { name: 'finance' }, tags: ['erp'] } },
          retry: { before: null, after: { delaysMs: [1000, 5000] } },
          flowControl: { before: null, after: { maxInFlight: 2 } },
          tls: { before: null, after: { clientCertificate: new X509Certificate(identity.certificate).fingerprint256, clientKey: '[redacted]', ca: [new X509Certificate(ca.certificate).fingerprint256], serverName: 'erp.internal' } },
          secrets: { before: null, after: [{ createdAt: secretCreatedAt, expiresAt: null }] },
          status: { before: null, after: 'active' },
          disabledReason: { before: null, after: null },
          deletedAt: { before: null, after: null },
        },
        at: record.createdAt,
      };
      expect(await changesOf(record.id)).toEqual([expected]);
      expect(await t.storage.getSubscriptionChange(a.id)).toEqual(expected);
      const stored = JSON.stringify(await t.storage.getSubscriptionChange(a.id));
      for (const secret of ['whsec_', 'sk_live_', 'enc:v1:', 'c2VhbGVk']) expect(stored).not.toContain(secret);
    });

    it("writes an 'updated' record at now with the redacted before and after of the changed fields only (a sensitive header's new value too)", async () => {
      const sub = await createAudited({ headers: { 'x-tenant': 'acme', authorization: 'Bearer old-token' } });
      t.now += 1000;
      const rotatedAt = t.now;
      const a = audit('updated', { reason: 'moved endpoint' });
      const updated = await t.storage.updateSubscription(
        sub.id,
        {
          url: 'https://erp.example.com/v2/hooks',
          headers: { 'x-tenant': 'acme', authorization: 'Bearer new-token' },
          secrets: [...sub.secrets, { value: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD', createdAt: rotatedAt, expiresAt: null }],
          description: sub.description,
          metadata: { team: { name: 'treasury' }, tags: ['erp'] },
          filter: '{"data.amountMinor":{"gte":100000}}',
          transform: 'thin',
          versions: '{"refund.created":2}',
        },
        t.now,
        a,
      );
      expect(updated).toMatchObject({ url: 'https://erp.example.com/v2/hooks', updatedAt: t.now });
      const [, change] = await changesOf(sub.id);
      expect(change).toEqual({
        id: a.id,
        subscriptionId: sub.id,
        sequence: 2,
        tenantId: null,
        action: 'updated',
        origin: 'api',
        actor: ACTOR,
        reason: 'moved endpoint',
        changes: {
          url: { before: sub.url, after: 'https://erp.example.com/v2/hooks' },
          filter: { before: null, after: '{"data.amountMinor":{"gte":100000}}' },
          transform: { before: null, after: 'thin' },
          versions: { before: null, after: '{"refund.created":2}' },
          headers: { before: { authorization: '[redacted]', 'x-tenant': 'acme' }, after: { authorization: '[redacted]', 'x-tenant': 'acme' } },
          metadata: { before: { team: { name: 'finance' }, tags: ['erp'] }, after: { team: { name: 'treasury' }, tags: ['erp'] } },
          secrets: {
            before: [{ createdAt: sub.secrets[0]!.createdAt, expiresAt: null }],
            after: [
              { createdAt: sub.secrets[0]!.createdAt, expiresAt: null },
              { createdAt: rotatedAt, expiresAt: null },
            ],
          },
        },
        at: t.now,
      });
      expect(JSON.stringify(change)).not.toContain('token');
    });

    it('writes the record of an update that changes no logged field (a reseal), with no changes', async () => {
      const sub = await createAudited();
      t.now += 1000;
      const resealed = sub.secrets.map((s) => ({ ...s, value: 'sealed:v2:0a1b2c3d' }));
      const a = audit('secrets_resealed', { actor: null });
      expect(await t.storage.updateSubscription(sub.id, { secrets: resealed }, t.now, a)).toMatchObject({ secrets: resealed, updatedAt: t.now });
      expect((await changesOf(sub.id)).map((c) => [c.id, c.action])).toEqual([
        [expect.any(String), 'created'],
        [a.id, 'secrets_resealed'],
      ]);
      expect(await t.storage.getSubscriptionChange(a.id)).toEqual({
        id: a.id,
        subscriptionId: sub.id,
        sequence: 2,
        tenantId: null,
        action: 'secrets_resealed',
        origin: 'api',
        actor: null,
        reason: null,
        changes: {},
        at: t.now,
      });
    });

    it("writes 'disabled' and 'enabled' records of status changes with the status and reason they changed", async () => {
      const sub = await createAudited({ tenantId: GLOBEX });
      t.now += 1000;
      const off = audit('disabled', { reason: 'maintenance window' });
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'maintenance' }, t.now, off);
      const disabledAt = t.now;
      t.now += 1000;
      const on = audit('enabled');
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now, on);
      const [, disabled, enabled] = await changesOf(sub.id);
      expect(disabled).toEqual({
        id: off.id,
        subscriptionId: sub.id,
        sequence: 2,
        tenantId: GLOBEX,
        action: 'disabled',
        origin: 'api',
        actor: ACTOR,
        reason: 'maintenance window',
        changes: { status: { before: 'active', after: 'disabled' }, disabledReason: { before: null, after: 'maintenance' } },
        at: disabledAt,
      });
      expect(enabled).toEqual({
        id: on.id,
        subscriptionId: sub.id,
        sequence: 3,
        tenantId: GLOBEX,
        action: 'enabled',
        origin: 'api',
        actor: ACTOR,
        reason: null,
        changes: { status: { before: 'disabled', after: 'active' }, disabledReason: { before: 'maintenance', after: null } },
        at: t.now,
      });
    });

    it('writes no record for a status change that changes nothing, and leaves its change id free', async () => {
      const sub = await createAudited();
      const unchanged = audit('enabled');
      expect(await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now, unchanged)).toEqual(sub);
      const first = audit('disabled');
      const disabled = await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now, first);
      t.now += 1000;
      const again = audit('disabled');
      expect(await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'other' }, t.now, again)).toEqual(disabled);
      expect((await changesOf(sub.id)).map((c) => c.action)).toEqual(['created', 'disabled']);
      expect(await t.storage.getSubscriptionChange(unchanged.id)).toBeNull();
      expect(await t.storage.getSubscriptionChange(again.id)).toBeNull();
      // Not taken: a later change may use it.
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now, unchanged);
      expect(await t.storage.getSubscriptionChange(unchanged.id)).toMatchObject({ subscriptionId: sub.id, action: 'enabled' });
    });

    it("writes a 'deleted' record of a soft delete: disabled with reason 'deleted' and deletedAt now", async () => {
      const sub = await createAudited();
      t.now += 1000;
      const a = audit('deleted', { reason: 'customer offboarded' });
      await t.storage.softDeleteSubscription(sub.id, t.now, a);
      expect(await t.storage.getSubscriptionChange(a.id)).toEqual({
        id: a.id,
        subscriptionId: sub.id,
        sequence: 2,
        tenantId: null,
        action: 'deleted',
        origin: 'api',
        actor: ACTOR,
        reason: 'customer offboarded',
        changes: {
          status: { before: 'active', after: 'disabled' },
          disabledReason: { before: null, after: 'deleted' },
          deletedAt: { before: null, after: t.now },
        },
        at: t.now,
      });
    });

    it('writes no record for a change made without an audit', async () => {
      const sub = await createSubscription();
      t.now += 1000;
      await t.storage.updateSubscription(sub.id, { url: 'https://erp.example.com/v2' }, t.now);
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      await t.storage.softDeleteSubscription(sub.id, t.now);
      expect(await t.storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 10 })).toEqual({ items: [], nextCursor: null });
    });

    it('writes a dispatcher record when a disable settle disables the subscription, and none when it was disabled already', async () => {
      const sub = await createAudited({ tenantId: ACME });
      await publishFor(sub.id, 'payment.succeeded', { tenantId: ACME });
      await publishFor(sub.id, 'payment.succeeded', { tenantId: ACME });
      const [first, second] = await claim(2);
      t.now += 1000;
      const before = await subscription(sub.id);
      const result = await settle(first!, { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 });
      expect(result).toMatchObject({ ok: true, subscriptionDisabled: true });
      const [, record] = await changesOf(sub.id);
      expect(record!.id).toMatch(/^chg_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(record).toEqual({
        id: record!.id,
        subscriptionId: sub.id,
        sequence: 2,
        tenantId: ACME,
        action: 'disabled',
        origin: 'dispatcher',
        actor: null,
        reason: 'HTTP 410 Gone',
        changes: { status: { before: 'active', after: 'disabled' }, disabledReason: { before: before.disabledReason, after: 'HTTP 410 Gone' } },
        at: t.now,
      });
      expect(await t.storage.getSubscriptionChange(record!.id)).toEqual(record);

      t.now += 1000;
      expect(await settle(second!, { kind: 'disable', reason: 'HTTP 410 Gone' }, { statusCode: 410 })).toMatchObject({ ok: true, subscriptionDisabled: false });
      expect(await changesOf(sub.id)).toHaveLength(2);
    });

    it('lists a subscription\'s change log oldest first, in pages that cover each record exactly once; an unknown subscription gives an empty page', async () => {
      const sub = await createAudited();
      const other = await createAudited();
      const ids = [(await changesOf(sub.id))[0]!.id];
      for (let i = 0; i < 4; i++) {
        t.now += 10;
        const a = audit('updated');
        await t.storage.updateSubscription(sub.id, { description: `v${i}` }, t.now, a);
        ids.push(a.id);
        await t.storage.updateSubscription(other.id, { description: `v${i}` }, t.now, audit('updated'));
      }
      expect(ids.slice().sort()).toEqual(ids);
      for (const limit of [1, 2, 5, 10]) {
        const log = await changesOf(sub.id, limit);
        expect(log.map((c) => c.id)).toEqual(ids);
        expect(log.map((c) => c.sequence)).toEqual([1, 2, 3, 4, 5]);
        expect(log.map((c) => c.changes['description']?.after ?? null)).toEqual([null, 'v0', 'v1', 'v2', 'v3']);
      }
      const firstPage = await t.storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 5 });
      expect(firstPage.items).toHaveLength(5);
      expect(firstPage.nextCursor).toBeNull();
      expect(await t.storage.listSubscriptionChanges({ subscriptionId: createId('sub', t.now), limit: 10 })).toEqual({ items: [], nextCursor: null });
    });

    it('numbers the log in the order the changes took effect, whatever their ids and times say (two hosts share no clock)', async () => {
      const sub = await createAudited();
      // Made on a host whose clock runs behind, or named before a change that committed first.
      const late = audit('updated', { id: createId('chg', t.now - 60_000) });
      const first = audit('updated');
      await t.storage.updateSubscription(sub.id, { description: 'first' }, t.now, first);
      await t.storage.updateSubscription(sub.id, { description: 'second' }, t.now - 60_000, late);
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'third' }, t.now, audit('disabled', { id: createId('chg', t.now - 120_000), reason: 'third' }));
      const log = await changesOf(sub.id, 1);
      expect(log.map((c) => [c.sequence, c.action, c.changes['description']?.after ?? c.reason])).toEqual([
        [1, 'created', null],
        [2, 'updated', 'first'],
        [3, 'updated', 'second'],
        [4, 'disabled', 'third'],
      ]);
      // Each record's before is the last one's after: the log replays.
      expect(log[2]!.changes['description']).toEqual({ before: 'first', after: 'second' });
      expect(await t.storage.getSubscriptionChange(late.id)).toMatchObject({ sequence: 3 });
    });

    it('refuses a cursor from another list, or none at all, with CURSOR_INVALID on the change log and on the event list', async () => {
      const sub = await createAudited();
      await createAudited();
      await t.storage.updateSubscription(sub.id, { description: 'v1' }, t.now, audit('updated'));
      await publish('payment.succeeded');
      await publish('payment.succeeded');
      const subscriptionsCursor = (await t.storage.listSubscriptions({ limit: 1 })).nextCursor!;
      const changesCursor = (await t.storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 1 })).nextCursor!;
      const eventsCursor = (await t.storage.listEvents({ limit: 1 })).nextCursor!;
      for (const cursor of [subscriptionsCursor, changesCursor, eventsCursor]) expect(cursor).toEqual(expect.any(String));

      for (const cursor of [subscriptionsCursor, eventsCursor, 'not a cursor']) {
        const error = await rejectionOf(t.storage.listSubscriptionChanges({ subscriptionId: sub.id, limit: 1, cursor }));
        expect(error).toMatchObject({ name: 'ValidationError', code: 'CURSOR_INVALID' });
      }
      for (const cursor of [subscriptionsCursor, changesCursor, 'not a cursor']) {
        const error = await rejectionOf(t.storage.listEvents({ limit: 1, cursor }));
        expect(error).toMatchObject({ name: 'ValidationError', code: 'CURSOR_INVALID' });
      }
    });

    it('reads one change record by its id, and null for an unknown id', async () => {
      const sub = await createAudited();
      const a = audit('updated');
      await t.storage.updateSubscription(sub.id, { description: 'ERP' }, t.now, a);
      const log = await changesOf(sub.id);
      expect(log).toHaveLength(2);
      for (const record of log) expect(await t.storage.getSubscriptionChange(record.id)).toEqual(record);
      expect(await t.storage.getSubscriptionChange(createId('chg', t.now))).toBeNull();
    });
  });

  describe('change log: rolled back with the change', () => {
    it('refuses a create whose change id is in the log with STORAGE_CONFLICT, and stores neither the subscription nor a record', async () => {
      const first = subscriptionRecord({ tenantId: ACME });
      const a = audit('created');
      await t.storage.createSubscription(first, undefined, a);
      const second = subscriptionRecord({ tenantId: ACME });
      const error = await rejectionOf(t.storage.createSubscription(second, { maxPerTenant: 10 }, { ...a, actor: 'someone-else' }));
      expect(error).toMatchObject({ code: 'STORAGE_CONFLICT' });
      expect(await t.storage.getSubscription(second.id)).toBeNull();
      expect(await changesOf(second.id)).toEqual([]);
      expect(await changesOf(first.id)).toMatchObject([{ id: a.id, subscriptionId: first.id, actor: ACTOR }]);
      expect((await t.storage.listSubscriptions({ limit: 10, includeDeleted: true })).items.map((s) => s.id)).toEqual([first.id]);
      // Nothing of it counts toward the tenant's limit either.
      expect(await createAudited({ tenantId: ACME }, { maxPerTenant: 2 })).toMatchObject({ tenantId: ACME });
    });

    it('refuses an update whose change id is in the log with STORAGE_CONFLICT, and leaves the subscription and its log as they were', async () => {
      const sub = await createAudited();
      const taken = (await changesOf(sub.id))[0]!;
      t.now += 1000;
      const error = await rejectionOf(
        t.storage.updateSubscription(sub.id, { url: 'https://erp.example.com/v2', description: 'moved' }, t.now, { ...audit('updated'), id: taken.id }),
      );
      expect(error).toMatchObject({ code: 'STORAGE_CONFLICT' });
      expect(await t.storage.getSubscription(sub.id)).toEqual(sub);
      expect(await changesOf(sub.id)).toEqual([taken]);
    });

    it('refuses a status change whose change id is in the log with STORAGE_CONFLICT, and neither disables the subscription nor holds its deliveries', async () => {
      const sub = await createAudited();
      const taken = (await changesOf(sub.id))[0]!;
      const d = await publishFor(sub.id);
      t.now += 1000;
      const error = await rejectionOf(
        t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now, { ...audit('disabled'), id: taken.id }),
      );
      expect(error).toMatchObject({ code: 'STORAGE_CONFLICT' });
      expect(await t.storage.getSubscription(sub.id)).toEqual(sub);
      expect(await delivery(d.id)).toEqual(d);
      expect(await changesOf(sub.id)).toEqual([taken]);
      expect((await claim()).map((c) => c.delivery.id)).toEqual([d.id]);
    });

    it('refuses a soft delete whose change id is in the log with STORAGE_CONFLICT, and neither deletes the subscription nor cancels its deliveries', async () => {
      const sub = await createAudited();
      const other = await createAudited();
      const taken = (await changesOf(other.id))[0]!;
      const d = await publishFor(sub.id);
      t.now += 1000;
      const error = await rejectionOf(t.storage.softDeleteSubscription(sub.id, t.now, { ...audit('deleted'), id: taken.id }));
      expect(error).toMatchObject({ code: 'STORAGE_CONFLICT' });
      expect(await t.storage.getSubscription(sub.id)).toEqual(sub);
      expect(await delivery(d.id)).toEqual(d);
      expect((await changesOf(sub.id)).map((c) => c.action)).toEqual(['created']);
      expect(await changesOf(other.id)).toEqual([taken]);
      expect((await t.storage.listSubscriptions({ limit: 10 })).items.map((s) => s.id)).toContain(sub.id);
    });
  });

  describe('soft delete', () => {
    it("makes an active subscription disabled with reason 'deleted', a disabled one keeping its reason and time, deletedAt and updatedAt now; null for an unknown id", async () => {
      const active = await createSubscription();
      const disabled = await createSubscription();
      const disabledAt = t.now;
      await t.storage.setSubscriptionStatus(disabled.id, { status: 'disabled', reason: 'HTTP 410 Gone' }, t.now);
      t.now += 1000;

      const removed = await t.storage.softDeleteSubscription(active.id, t.now);
      const expected = { ...active, status: 'disabled', disabledReason: 'deleted', disabledAt: t.now, deletedAt: t.now, updatedAt: t.now };
      expect(removed).toEqual({ subscription: expected, cancelled: 0 });
      expect(await t.storage.getSubscription(active.id)).toEqual(expected);

      expect(await t.storage.softDeleteSubscription(disabled.id, t.now)).toEqual({
        subscription: { ...disabled, status: 'disabled', disabledReason: 'HTTP 410 Gone', disabledAt, deletedAt: t.now, updatedAt: t.now },
        cancelled: 0,
      });
      expect(await t.storage.softDeleteSubscription(createId('sub', t.now), t.now)).toBeNull();
    });

    it('cancels its pending deliveries, leased or not, and its held ones with CANCELLED_BY_DELETE, keeping a lease; final ones and other subscriptions\' stay', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const paused = await createSubscription({ eventTypes: ['refund.*'] });
      const other = await createSubscription({ eventTypes: ['payment.*'] });
      const waiting = await publishFor(sub.id, 'payment.succeeded');
      const leased = await publishFor(sub.id, 'payment.succeeded');
      const delivered = await publishFor(sub.id, 'payment.succeeded');
      const dead = await publishFor(sub.id, 'payment.succeeded');
      const held = await publishFor(paused.id, 'refund.created');
      const heldLeased = await publishFor(paused.id, 'refund.created');
      const claimed = await claim(100);
      const byId = (id: string) => claimed.find((c) => c.delivery.id === id)!;
      await settle(byId(waiting.id), { kind: 'retry', nextAttemptAt: t.now + HOUR_MS }, { statusCode: 500 });
      await settle(byId(delivered.id), { kind: 'delivered' });
      await settle(byId(dead.id), { kind: 'dead' }, { statusCode: 400 });
      await settle(byId(held.id), { kind: 'retry', nextAttemptAt: t.now + HOUR_MS }, { statusCode: 500 });
      await t.storage.setSubscriptionStatus(paused.id, { status: 'disabled', reason: 'manual' }, t.now);
      const before = new Map<string, DeliveryRecord>();
      for (const d of [waiting, leased, delivered, dead, held, heldLeased]) before.set(d.id, await delivery(d.id));
      expect(before.get(heldLeased.id)).toMatchObject({ status: 'held', leaseExpiresAt: expect.any(Number) });
      const othersBefore = (await t.storage.listDeliveries({ subscriptionId: other.id, limit: 100 })).items;
      t.now += 1000;

      expect(await t.storage.softDeleteSubscription(sub.id, t.now)).toMatchObject({ cancelled: 2 });
      expect(await delivery(waiting.id)).toEqual(cancelled(before.get(waiting.id)!, CANCELLED_BY_DELETE, t.now));
      const leasedNow = await delivery(leased.id);
      expect(leasedNow).toEqual(cancelled(before.get(leased.id)!, CANCELLED_BY_DELETE, t.now));
      expect(leasedNow.leaseExpiresAt).not.toBeNull();
      expect(await delivery(delivered.id)).toEqual(before.get(delivered.id));
      expect(await delivery(dead.id)).toEqual(before.get(dead.id));

      expect(await t.storage.softDeleteSubscription(paused.id, t.now)).toMatchObject({ cancelled: 2 });
      expect(await delivery(held.id)).toEqual(cancelled(before.get(held.id)!, CANCELLED_BY_DELETE, t.now));
      expect(await delivery(heldLeased.id)).toEqual(cancelled(before.get(heldLeased.id)!, CANCELLED_BY_DELETE, t.now));

      expect((await t.storage.listDeliveries({ subscriptionId: other.id, limit: 100 })).items).toEqual(othersBefore);
      expect((await t.storage.listDeliveries({ status: 'cancelled', limit: 100 })).items.map((d) => d.id).sort()).toEqual(
        [waiting.id, leased.id, held.id, heldLeased.id].sort(),
      );
      expect((await t.storage.listAttempts(waiting.id)).map((a) => a.outcome)).toEqual(['retry']);
      t.now += 2 * HOUR_MS;
      const due = await claim(100);
      expect(due.every((c) => c.delivery.subscriptionId === other.id)).toBe(true);
    });

    it('records the attempt of a delivery cancelled while in flight without its response snippet, and a delivered outcome makes it delivered', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      const claimed = await claimOne(d.id);
      t.now += 1000;
      await t.storage.softDeleteSubscription(sub.id, t.now);
      t.now += 50;
      const result = await settle(claimed, { kind: 'delivered' }, { statusCode: 200, responseSnippet: 'thanks', startedAt: t.now - 50 });
      const stored = await delivery(d.id);
      expect(result).toEqual({ ok: true, delivery: stored, subscriptionDisabled: false, failingSince: null });
      expect(stored).toMatchObject({
        status: 'delivered',
        attempts: 1,
        deliveredAt: t.now,
        nextAttemptAt: null,
        leaseExpiresAt: null,
        lastStatusCode: 200,
        lastError: null,
        updatedAt: t.now,
      });
      expect(await t.storage.listAttempts(d.id)).toMatchObject([{ attemptNumber: 1, outcome: 'delivered', statusCode: 200, responseSnippet: null }]);
      expect(await settle(claimed, { kind: 'delivered' })).toMatchObject({ ok: false, code: 'STORAGE_LEASE_LOST' });
    });

    it('keeps a delivery cancelled while in flight cancelled when its attempt settles as retry, dead or disable, recording the attempt without its snippet', async () => {
      const sub = await createAudited();
      for (let i = 0; i < 3; i++) await publishFor(sub.id);
      const claimed = await claim(3);
      expect(claimed).toHaveLength(3);
      t.now += 1000;
      await t.storage.softDeleteSubscription(sub.id, t.now, audit('deleted'));
      const deletedSub = await subscription(sub.id);
      t.now += 50;
      const startedAt = t.now - 50;
      const outcomes = [{ kind: 'retry', nextAttemptAt: t.now + 1000 }, { kind: 'dead' }, { kind: 'disable', reason: 'HTTP 410 Gone' }] as const;
      for (const [i, outcome] of outcomes.entries()) {
        const c = claimed[i]!;
        const result = await settle(c, outcome, { startedAt, statusCode: 503, errorClass: 'http', errorMessage: 'HTTP 503', responseSnippet: 'busy' });
        expect(result).toMatchObject({ ok: true, subscriptionDisabled: false, failingSince: startedAt });
        const stored = await delivery(c.delivery.id);
        expect(result).toMatchObject({ delivery: stored });
        expect(stored).toEqual({
          ...c.delivery,
          status: 'cancelled',
          attempts: 1,
          nextAttemptAt: null,
          lastAttemptAt: startedAt,
          lastStatusCode: 503,
          lastError: CANCELLED_BY_DELETE,
          deliveredAt: null,
          leaseExpiresAt: null,
          updatedAt: t.now,
        });
        expect(await t.storage.listAttempts(c.delivery.id)).toMatchObject([{ attemptNumber: 1, outcome: outcome.kind, statusCode: 503, responseSnippet: null }]);
      }
      expect(await subscription(sub.id)).toEqual({ ...deletedSub, failingSince: startedAt });
      expect((await changesOf(sub.id)).map((c) => c.action)).toEqual(['created', 'deleted']);
      t.now += HOUR_MS;
      expect(await claim()).toEqual([]);
      expect(await t.storage.nextDueAt(t.now)).toBeNull();
    });

    it('gives a soft-deleted subscription no new delivery on enqueue', async () => {
      const sub = await createSubscription({ tenantId: ACME });
      const keeper = await createSubscription({ tenantId: ACME });
      await t.storage.softDeleteSubscription(sub.id, t.now);
      const published = await publish('payment.succeeded', { tenantId: ACME });
      expect(published).toMatchObject({ created: true, deliveryCount: 1 });
      expect((await deliveriesOfEvent(published.event.id)).map((d) => d.subscriptionId)).toEqual([keeper.id]);
      expect((await t.storage.listDeliveries({ subscriptionId: sub.id, limit: 10 })).items).toEqual([]);
    });

    it('leaves soft-deleted subscriptions out of listSubscriptions, by tenant, by status and in pages, unless includeDeleted', async () => {
      const subs: SubscriptionRecord[] = [];
      for (let i = 0; i < 6; i++) subs.push(await createSubscription({ tenantId: i % 2 === 0 ? ACME : null }));
      await t.storage.setSubscriptionStatus(subs[4]!.id, { status: 'disabled', reason: 'manual' }, t.now);
      t.now += 1000;
      for (const i of [0, 3]) await t.storage.softDeleteSubscription(subs[i]!.id, t.now);
      const ids = (list: SubscriptionRecord[]) => list.map((s) => s.id);
      const all = async (query: { limit: number; tenantId?: string | null; status?: 'active' | 'disabled'; includeDeleted?: boolean }) => {
        const found: SubscriptionRecord[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = await t.storage.listSubscriptions({ ...query, ...(cursor === undefined ? {} : { cursor }) });
          expect(page.items.length).toBeLessThanOrEqual(query.limit);
          found.push(...page.items);
          if (page.nextCursor === null) return found;
          cursor = page.nextCursor;
        }
      };
      for (const limit of [1, 2, 10]) {
        expect(ids(await all({ limit }))).toEqual(ids([subs[1]!, subs[2]!, subs[4]!, subs[5]!]));
        expect(ids(await all({ limit, includeDeleted: true }))).toEqual(ids(subs));
        expect(ids(await all({ limit, tenantId: ACME }))).toEqual(ids([subs[2]!, subs[4]!]));
        expect(ids(await all({ limit, tenantId: ACME, includeDeleted: true }))).toEqual(ids([subs[0]!, subs[2]!, subs[4]!]));
        expect(ids(await all({ limit, tenantId: null }))).toEqual(ids([subs[1]!, subs[5]!]));
        expect(ids(await all({ limit, status: 'disabled' }))).toEqual(ids([subs[4]!]));
        expect(ids(await all({ limit, status: 'disabled', includeDeleted: true }))).toEqual(ids([subs[0]!, subs[3]!, subs[4]!]));
        expect(ids(await all({ limit, status: 'active', includeDeleted: true }))).toEqual(ids([subs[1]!, subs[2]!, subs[5]!]));
      }
      expect((await all({ limit: 10, includeDeleted: true })).filter((s) => s.deletedAt !== null).map((s) => s.id)).toEqual(ids([subs[0]!, subs[3]!]));
    });

    it("does not count a tenant's soft-deleted subscriptions toward its limit", async () => {
      const maxPerTenant = 2;
      const first = await createSubscription({ tenantId: ACME }, { maxPerTenant });
      await createSubscription({ tenantId: ACME }, { maxPerTenant });
      await t.storage.softDeleteSubscription(first.id, t.now);
      const third = await createAudited({ tenantId: ACME }, { maxPerTenant });
      expect(await t.storage.getSubscription(third.id)).toEqual(third);
      const refused = subscriptionRecord({ tenantId: ACME });
      const error = await rejectionOf(t.storage.createSubscription(refused, { maxPerTenant }, audit('created')));
      expect(error).toMatchObject({ name: 'ConflictError', code: 'TENANT_SUBSCRIPTION_LIMIT' });
      expect(await t.storage.getSubscription(refused.id)).toBeNull();
      expect(await changesOf(refused.id)).toEqual([]);
    });

    it('returns a soft-deleted subscription unchanged from an update or a status change, logging nothing, and it stays deleted', async () => {
      const sub = await createAudited();
      t.now += 1000;
      const { subscription: deleted } = (await t.storage.softDeleteSubscription(sub.id, t.now, audit('deleted')))!;
      const logged = await changesOf(sub.id);
      t.now += 1000;
      const update = audit('updated');
      expect(await t.storage.updateSubscription(sub.id, { url: 'https://erp.example.com/v2', description: 'again' }, t.now, update)).toEqual(deleted);
      const enable = audit('enabled');
      expect(await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now, enable)).toEqual(deleted);
      expect(await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now)).toEqual(deleted);
      expect(await t.storage.getSubscription(sub.id)).toEqual(deleted);
      expect(await changesOf(sub.id)).toEqual(logged);
      expect(await t.storage.getSubscriptionChange(update.id)).toBeNull();
      expect(await t.storage.getSubscriptionChange(enable.id)).toBeNull();
      expect((await publish('payment.succeeded')).deliveryCount).toBe(0);
    });

    it('returns a subscription deleted before as it is with cancelled 0, writing nothing', async () => {
      const sub = await createAudited();
      const d = await publishFor(sub.id);
      const first = (await t.storage.softDeleteSubscription(sub.id, t.now, audit('deleted')))!;
      expect(first.cancelled).toBe(1);
      const cancelledDelivery = await delivery(d.id);
      const logged = await changesOf(sub.id);
      t.now += 1000;
      const again = audit('deleted');
      expect(await t.storage.softDeleteSubscription(sub.id, t.now, again)).toEqual({ subscription: first.subscription, cancelled: 0 });
      expect(await t.storage.getSubscription(sub.id)).toEqual(first.subscription);
      expect(await delivery(d.id)).toEqual(cancelledDelivery);
      expect(await changesOf(sub.id)).toEqual(logged);
      expect(await t.storage.getSubscriptionChange(again.id)).toBeNull();
    });

    it('hard-deletes a subscription, soft-deleted or not, with its deliveries, attempts and change log', async () => {
      const deleted = await createAudited({ eventTypes: ['payment.*'] });
      const live = await createAudited({ eventTypes: ['refund.*'] });
      const keeper = await createAudited({ eventTypes: ['refund.*'] });
      const d = await publishFor(deleted.id);
      await settle(await claimOne(d.id), { kind: 'delivered' });
      await t.storage.softDeleteSubscription(deleted.id, t.now, audit('deleted'));
      await t.storage.updateSubscription(live.id, { description: 'ERP' }, t.now, audit('updated'));
      const logs = [await changesOf(deleted.id), await changesOf(live.id)];
      expect(logs.map((log) => log.length)).toEqual([2, 2]);
      const kept = await changesOf(keeper.id);

      expect(await t.storage.deleteSubscription(deleted.id)).toBe(true);
      expect(await t.storage.deleteSubscription(live.id)).toBe(true);
      for (const id of [deleted.id, live.id]) {
        expect(await t.storage.getSubscription(id)).toBeNull();
        expect(await t.storage.listSubscriptionChanges({ subscriptionId: id, limit: 10 })).toEqual({ items: [], nextCursor: null });
      }
      for (const record of logs.flat()) expect(await t.storage.getSubscriptionChange(record.id)).toBeNull();
      expect(await t.storage.getDelivery(d.id)).toBeNull();
      expect(await t.storage.listAttempts(d.id)).toEqual([]);
      expect(await changesOf(keeper.id)).toEqual(kept);
      expect(await t.storage.deleteSubscription(deleted.id)).toBe(false);
    });
  });

  describe('events: list', () => {
    it('lists events newest first, expunged ones included, in pages that cover each exactly once', async () => {
      const published: EventRecord[] = [];
      for (let i = 0; i < 5; i++) {
        t.now += 10;
        published.push((await publish(i % 2 === 0 ? 'payment.succeeded' : 'refund.created', { tenantId: i === 3 ? ACME : null })).event);
      }
      for (const e of published) expect(e.expungedAt).toBeNull();
      t.now += 10;
      await t.storage.expungeEvents([published[2]!.id], t.now);
      const expected = published.map((e, i) => (i === 2 ? { ...e, payload: '', expungedAt: t.now } : e)).reverse();
      for (const limit of [1, 2, 5, 10]) expect(await eventsOf({ limit })).toEqual(expected);
      const firstPage = await t.storage.listEvents({ limit: 5 });
      expect(firstPage.items).toHaveLength(5);
      expect(firstPage.nextCursor).toBeNull();
    });

    it('filters events by tenant (null: published without one), since (inclusive) and until (exclusive), alone and together', async () => {
      const at: number[] = [];
      const ofAcme: EventRecord[] = [];
      const tenantless: EventRecord[] = [];
      const ofGlobex: EventRecord[] = [];
      for (let i = 0; i < 4; i++) {
        t.now += 1000;
        at.push(t.now);
        ofAcme.push((await publish('payment.succeeded', { tenantId: ACME })).event);
        tenantless.push((await publish('payment.succeeded')).event);
        ofGlobex.push((await publish('payment.succeeded', { tenantId: GLOBEX })).event);
      }
      const newestFirst = (events: EventRecord[]) => events.slice().reverse();
      for (const limit of [1, 3, 100]) {
        expect(await eventsOf({ limit, tenantId: ACME })).toEqual(newestFirst(ofAcme));
        expect(await eventsOf({ limit, tenantId: null })).toEqual(newestFirst(tenantless));
        expect(await eventsOf({ limit, tenantId: 'org_initech' })).toEqual([]);
        expect(await eventsOf({ limit, since: at[1]!, until: at[3]! })).toEqual(
          newestFirst([ofAcme[1]!, tenantless[1]!, ofGlobex[1]!, ofAcme[2]!, tenantless[2]!, ofGlobex[2]!]),
        );
        expect(await eventsOf({ limit, tenantId: GLOBEX, since: at[2]! })).toEqual(newestFirst(ofGlobex.slice(2)));
        expect(await eventsOf({ limit, tenantId: null, until: at[1]! })).toEqual([tenantless[0]!]);
        expect(await eventsOf({ limit, tenantId: ACME, since: at[3]! + 1 })).toEqual([]);
      }
    });
  });

  describe('events: expunge', () => {
    it("erases each event's content: payload '' and expungedAt now; its id, type, times, key and tenant stay", async () => {
      await createSubscription({ allTenants: true });
      const a = (await publish('payment.succeeded', { tenantId: ACME, idempotencyKey: 'invoice-42' })).event;
      const b = (await publish('refund.created')).event;
      const kept = (await publish('payment.succeeded')).event;
      t.now += 1000;
      const result = await t.storage.expungeEvents([a.id, b.id], t.now);
      expect(result).toEqual({ events: 2, cancelled: 2, snippets: 0 });
      expect(await event(a.id)).toEqual({ ...a, payload: '', expungedAt: t.now });
      expect(await event(b.id)).toEqual({ ...b, payload: '', expungedAt: t.now });
      expect(await event(kept.id)).toEqual(kept);
    });

    it('cancels the open deliveries of its events with CANCELLED_BY_EXPUNGE, keeping a lease, and leaves final ones and other events\' alone', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const paused = await createSubscription({ eventTypes: ['payment.*'] });
      const target = await publish('payment.succeeded');
      const other = await publish('payment.succeeded');
      await t.storage.setSubscriptionStatus(paused.id, { status: 'disabled', reason: 'manual' }, t.now);
      // Both events' deliveries to `sub` are leased; those to `paused` are held.
      const leasedClaim = (await claim(100)).find((c) => c.delivery.eventId === target.event.id)!;
      const leased = leasedClaim.delivery;
      const held = (await deliveriesOfEvent(target.event.id)).find((d) => d.subscriptionId === paused.id)!;
      const final = await publishFor(sub.id, 'payment.final');
      await settle(await claimOne(final.id), { kind: 'delivered' });
      const before = new Map<string, DeliveryRecord>();
      for (const d of [leased, held, final]) before.set(d.id, await delivery(d.id));
      const otherBefore = await deliveriesOfEvent(other.event.id);
      t.now += 1000;

      const result = await t.storage.expungeEvents([target.event.id, final.eventId], t.now);
      expect(result).toEqual({ events: 2, cancelled: 2, snippets: 1 });
      const leasedNow = await delivery(leased.id);
      expect(leasedNow).toEqual(cancelled(before.get(leased.id)!, CANCELLED_BY_EXPUNGE, t.now));
      expect(leasedNow.leaseExpiresAt).not.toBeNull();
      expect(await delivery(held.id)).toEqual(cancelled(before.get(held.id)!, CANCELLED_BY_EXPUNGE, t.now));
      expect(await delivery(final.id)).toEqual(before.get(final.id));
      expect(await deliveriesOfEvent(other.event.id)).toEqual(otherBefore);
      expect(await t.storage.stats(t.now, { subscriptionId: paused.id })).toMatchObject({ held: 1, cancelled: 1 });

      t.now += 50;
      const settled = await settle(leasedClaim, { kind: 'retry', nextAttemptAt: t.now + 1000 }, { statusCode: 500, errorMessage: 'HTTP 500', responseSnippet: 'oops' });
      expect(settled).toMatchObject({ ok: true, delivery: { status: 'cancelled', lastError: CANCELLED_BY_EXPUNGE, nextAttemptAt: null, leaseExpiresAt: null } });
      expect(await t.storage.listAttempts(leased.id)).toMatchObject([{ outcome: 'retry', statusCode: 500, responseSnippet: null }]);
    });

    it("erases every response snippet of its deliveries' attempts, counting those that had one, and no other's", async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const other = await createSubscription({ eventTypes: ['refund.*'] });
      const target = await publishFor(sub.id, 'payment.succeeded');
      await settle(await claimOne(target.id), { kind: 'retry', nextAttemptAt: t.now }, { statusCode: 500, responseSnippet: 'upstream error' });
      await settle(await claimOne(target.id), { kind: 'retry', nextAttemptAt: t.now }, { statusCode: null, errorClass: 'timeout', responseSnippet: null });
      await settle(await claimOne(target.id), { kind: 'delivered' }, { statusCode: 200, responseSnippet: 'ok' });
      const kept = await publishFor(other.id, 'refund.created');
      await settle(await claimOne(kept.id), { kind: 'delivered' }, { statusCode: 200, responseSnippet: 'kept' });
      const attemptsBefore = await t.storage.listAttempts(target.id);
      const keptBefore = await t.storage.listAttempts(kept.id);
      t.now += 1000;

      expect(await t.storage.expungeEvents([target.eventId], t.now)).toEqual({ events: 1, cancelled: 0, snippets: 2 });
      expect(await t.storage.listAttempts(target.id)).toEqual(attemptsBefore.map((a) => ({ ...a, responseSnippet: null })));
      expect(await t.storage.listAttempts(kept.id)).toEqual(keptBefore);
      expect(await delivery(target.id)).toMatchObject({ status: 'delivered', attempts: 3 });
    });

    it('is idempotent: an expunged event, an unknown id or a repeated one is skipped and counted nothing', async () => {
      const sub = await createSubscription();
      const d = await publishFor(sub.id);
      await settle(await claimOne(d.id), { kind: 'dead' }, { statusCode: 500, responseSnippet: 'nope' });
      const other = (await publish('refund.created')).event;
      t.now += 1000;
      const expungedAt = t.now;
      expect(await t.storage.expungeEvents([d.eventId, d.eventId, createId('evt', t.now)], t.now)).toEqual({ events: 1, cancelled: 0, snippets: 1 });
      const after = { event: await event(d.eventId), delivery: await delivery(d.id), attempts: await t.storage.listAttempts(d.id) };
      expect(after.event.expungedAt).toBe(expungedAt);
      t.now += 1000;
      expect(await t.storage.expungeEvents([d.eventId, createId('evt', t.now)], t.now)).toEqual({ events: 0, cancelled: 0, snippets: 0 });
      expect(await t.storage.expungeEvents([], t.now)).toEqual({ events: 0, cancelled: 0, snippets: 0 });
      expect({ event: await event(d.eventId), delivery: await delivery(d.id), attempts: await t.storage.listAttempts(d.id) }).toEqual(after);
      expect(await t.storage.expungeEvents([d.eventId, other.id], t.now)).toEqual({ events: 1, cancelled: 1, snippets: 0 });
      expect(await event(d.eventId)).toEqual(after.event);
    });

    it(`refuses more than ${MAX_EXPUNGE_IDS} ids with INPUT_INVALID and erases nothing; ${MAX_EXPUNGE_IDS} are taken`, async () => {
      const e = (await publish('payment.succeeded')).event;
      const unknown = Array.from({ length: MAX_EXPUNGE_IDS }, () => createId('evt', t.now));
      const error = await rejectionOf(t.storage.expungeEvents([e.id, ...unknown], t.now));
      expect(error).toMatchObject({ name: 'ValidationError', code: 'INPUT_INVALID' });
      expect(await event(e.id)).toEqual(e);
      expect(await t.storage.expungeEvents([e.id, ...unknown.slice(1)], t.now)).toEqual({ events: 1, cancelled: 0, snippets: 0 });
    });

    it('returns an expunged event as stored to an idempotent enqueue that matches it, creating nothing', async () => {
      await createSubscription();
      const first = await publish('payment.succeeded', { tenantId: ACME, idempotencyKey: 'invoice-42' });
      t.now += 1000;
      await t.storage.expungeEvents([first.event.id], t.now);
      const expunged = { ...first.event, payload: '', expungedAt: t.now };
      t.now += 1000;
      expect(await publish('payment.succeeded', { tenantId: ACME, idempotencyKey: 'invoice-42' })).toEqual({ event: expunged, created: false, deliveryCount: 0 });
      expect((await t.storage.listDeliveries({ limit: 10 })).items).toHaveLength(0);
    });
  });

  describe('redeliver and replay after a delete or an expunge', () => {
    it("answers 'expunged' for a delivery of an expunged event and 'deleted' for one of a soft-deleted subscription, expunged first, before in_flight and held, changing nothing", async () => {
      const deletedSub = await createSubscription({ eventTypes: ['payment.*'] });
      const pausedSub = await createSubscription({ eventTypes: ['payment.*'] });
      const liveSub = await createSubscription({ eventTypes: ['refund.*'] });
      const kept = await publish('payment.succeeded');
      const erased = await publish('payment.succeeded');
      const leasedErased = await publishFor(liveSub.id, 'refund.created');
      const claimed = await claim(100);
      for (const c of claimed) if (c.delivery.subscriptionId !== liveSub.id) await settle(c, { kind: 'delivered' });
      const to = (eventId: string, subscriptionId: string) =>
        deliveriesOfEvent(eventId).then((ds) => ds.find((d) => d.subscriptionId === subscriptionId)!);
      t.now += 1000;
      await t.storage.setSubscriptionStatus(pausedSub.id, { status: 'disabled', reason: 'manual' }, t.now);
      await t.storage.softDeleteSubscription(deletedSub.id, t.now);
      await t.storage.expungeEvents([erased.event.id, leasedErased.eventId], t.now);

      const cases = [
        [await to(kept.event.id, deletedSub.id), 'deleted'],
        [await to(erased.event.id, deletedSub.id), 'expunged'],
        [await to(erased.event.id, pausedSub.id), 'expunged'],
        [await delivery(leasedErased.id), 'expunged'],
        [await to(kept.event.id, pausedSub.id), 'held'],
      ] as const;
      expect(cases[3][0].leaseExpiresAt).not.toBeNull();
      t.now += 1000;
      for (const [d, verdict] of cases) {
        expect(await t.storage.redeliver(d.id, t.now)).toBe(verdict);
        expect(await delivery(d.id)).toEqual(d);
      }

      await t.storage.setSubscriptionStatus(pausedSub.id, { status: 'active' }, t.now);
      const waiting = await publishFor(pausedSub.id, 'payment.succeeded');
      await t.storage.softDeleteSubscription(pausedSub.id, t.now);
      expect(await delivery(waiting.id)).toMatchObject({ status: 'cancelled', lastError: CANCELLED_BY_DELETE });
      expect(await t.storage.redeliver(waiting.id, t.now)).toBe('deleted');
    });

    it('gives a soft-deleted subscription nothing on replay: count 0 and nothing changes', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const since = t.now;
      const dead = await publishFor(sub.id, 'payment.failed');
      await settle(await claimOne(dead.id), { kind: 'dead' }, { statusCode: 500 });
      const waiting = await publishFor(sub.id, 'payment.succeeded');
      t.now += 1000;
      await t.storage.softDeleteSubscription(sub.id, t.now);
      const missed = await publish('payment.refunded');
      const before = [await delivery(dead.id), await delivery(waiting.id), await subscription(sub.id)];
      t.now += 1000;
      const input = { subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now };
      expect(await t.storage.replay({ ...input, dryRun: true })).toEqual({ count: 0 });
      expect(await t.storage.replay(input)).toEqual({ count: 0 });
      expect([await delivery(dead.id), await delivery(waiting.id), await subscription(sub.id)]).toEqual(before);
      expect(await deliveriesOfEvent(missed.event.id)).toEqual([]);
    });

    it('never replays an expunged event: its dead delivery is not requeued and a missing one is not created', async () => {
      const sub = await createSubscription({ eventTypes: ['payment.*'] });
      const since = t.now;
      const deadErased = await publishFor(sub.id, 'payment.failed');
      const deadKept = await publishFor(sub.id, 'payment.failed');
      for (const c of await claim(2)) await settle(c, { kind: 'dead' }, { statusCode: 500 });
      await t.storage.setSubscriptionStatus(sub.id, { status: 'disabled', reason: 'manual' }, t.now);
      const missedErased = await publish('payment.refunded');
      const missedKept = await publish('payment.refunded');
      await t.storage.setSubscriptionStatus(sub.id, { status: 'active' }, t.now);
      t.now += 1000;
      await t.storage.expungeEvents([deadErased.eventId, missedErased.event.id], t.now);
      const deadBefore = await delivery(deadErased.id);
      t.now += 1000;

      const input = { subscriptionId: sub.id, eventTypes: t.eventTypesOf(sub), since, now: t.now };
      expect(await t.storage.replay({ ...input, dryRun: true })).toEqual({ count: 2 });
      expect(await t.storage.replay(input)).toEqual({ count: 2 });
      expect(await delivery(deadErased.id)).toEqual(deadBefore);
      expect(await deliveriesOfEvent(missedErased.event.id)).toEqual([]);
      expect(await delivery(deadKept.id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(await deliveriesOfEvent(missedKept.event.id)).toMatchObject([{ subscriptionId: sub.id, status: 'pending' }]);
    });
  });

  describe('stats, purge and a tenant\'s removal', () => {
    it('counts cancelled deliveries: all, of one subscription and of one tenant', async () => {
      const acme = await createSubscription({ tenantId: ACME });
      const platform = await createSubscription();
      await publishFor(acme.id, 'payment.succeeded', { tenantId: ACME });
      await publishFor(acme.id, 'payment.succeeded', { tenantId: ACME });
      const tenantless = await publishFor(platform.id);
      t.now += 10;
      const waiting = await publishFor(platform.id);
      t.now += 1000;
      await t.storage.softDeleteSubscription(acme.id, t.now);
      await t.storage.expungeEvents([tenantless.eventId], t.now);

      expect(await t.storage.stats(t.now)).toEqual({ ...EMPTY_STATS, pending: 1, cancelled: 3, oldestPendingCreatedAt: waiting.createdAt });
      expect(await t.storage.stats(t.now, { subscriptionId: acme.id })).toEqual({ ...EMPTY_STATS, cancelled: 2 });
      expect(await t.storage.stats(t.now, { tenantId: ACME })).toEqual({ ...EMPTY_STATS, cancelled: 2 });
      expect(await t.storage.stats(t.now, { tenantId: null })).toEqual({ ...EMPTY_STATS, pending: 1, cancelled: 1, oldestPendingCreatedAt: waiting.createdAt });
      expect(await t.storage.stats(t.now, { subscriptionId: platform.id, tenantId: ACME })).toEqual(EMPTY_STATS);
    });

    it('purges old cancelled deliveries with their attempts like final ones, and keeps the change log and soft-deleted subscriptions', async () => {
      const sub = await createAudited();
      const attempted = await publishFor(sub.id);
      await settle(await claimOne(attempted.id), { kind: 'retry', nextAttemptAt: t.now + HOUR_MS }, { statusCode: 500 });
      const untried = await publishFor(sub.id);
      t.now += 1000;
      await t.storage.softDeleteSubscription(sub.id, t.now, audit('deleted'));
      const logged = await changesOf(sub.id);
      const deleted = await subscription(sub.id);
      t.now += 1000;
      const cutoff = t.now;
      const recent = await createSubscription();
      t.now += 1000;
      const recentlyCancelled = await publishFor(recent.id);
      await t.storage.softDeleteSubscription(recent.id, t.now);

      expect(await t.storage.purge({ olderThan: cutoff })).toEqual({ events: 2, deliveries: 2, attempts: 1, testAttempts: 0 });
      for (const d of [attempted, untried]) {
        expect(await t.storage.getDelivery(d.id)).toBeNull();
        expect(await t.storage.listAttempts(d.id)).toEqual([]);
        expect(await t.storage.getEvent(d.eventId)).toBeNull();
      }
      expect(await delivery(recentlyCancelled.id)).toMatchObject({ status: 'cancelled' });
      expect(await t.storage.getSubscription(sub.id)).toEqual(deleted);
      expect(await changesOf(sub.id)).toEqual(logged);
      expect(await t.storage.stats(t.now)).toEqual({ ...EMPTY_STATS, cancelled: 1 });
    });

    it("holds back a tenant's removal while a delivery cancelled in flight is still leased, unless forced", async () => {
      const sub = await createAudited({ tenantId: ACME });
      const d = await publishFor(sub.id, 'payment.succeeded', { tenantId: ACME });
      const claimed = await claimOne(d.id);
      await t.storage.softDeleteSubscription(sub.id, t.now, audit('deleted'));
      expect(await delivery(d.id)).toMatchObject({ status: 'cancelled', leaseExpiresAt: expect.any(Number) });
      // Its attempt is still under way: removing the tenant now would lose the attempt's record.
      expect(await t.storage.purgeTenant({ tenantId: ACME, limit: 10, now: t.now, force: false })).toBe('in_flight');
      expect(await delivery(d.id)).toMatchObject({ status: 'cancelled' });
      await settle(claimed, { kind: 'retry', nextAttemptAt: t.now + HOUR_MS }, { statusCode: 500 });
      let result = await t.storage.purgeTenant({ tenantId: ACME, limit: 10, now: t.now, force: false });
      for (let batch = 0; result !== 'in_flight' && !result.done; batch++) {
        expect(batch).toBeLessThan(20);
        result = await t.storage.purgeTenant({ tenantId: ACME, limit: 10, now: t.now, force: false });
      }
      expect(result).toMatchObject({ done: true });
      expect(await t.storage.getDelivery(d.id)).toBeNull();
    });

    it("removes a tenant's change log with its subscriptions, soft-deleted ones too, and no other tenant's", async () => {
      const live = await createAudited({ tenantId: ACME });
      const deleted = await createAudited({ tenantId: ACME });
      const globex = await createAudited({ tenantId: GLOBEX });
      const platform = await createAudited();
      await publishFor(deleted.id, 'payment.succeeded', { tenantId: ACME });
      await t.storage.softDeleteSubscription(deleted.id, t.now, audit('deleted'));
      await t.storage.updateSubscription(live.id, { description: 'ERP' }, t.now, audit('updated'));
      const doomed = [...(await changesOf(live.id)), ...(await changesOf(deleted.id))];
      expect(doomed).toHaveLength(4);
      const kept = [await changesOf(globex.id), await changesOf(platform.id)];

      for (let batch = 0; ; batch++) {
        expect(batch).toBeLessThan(20);
        const result = await t.storage.purgeTenant({ tenantId: ACME, limit: 1, now: t.now, force: false });
        if (result === 'in_flight') return expect.fail('expected no delivery of the tenant in flight');
        if (result.done) break;
      }
      for (const s of [live, deleted]) {
        expect(await t.storage.getSubscription(s.id)).toBeNull();
        expect(await t.storage.listSubscriptionChanges({ subscriptionId: s.id, limit: 10 })).toEqual({ items: [], nextCursor: null });
      }
      for (const record of doomed) expect(await t.storage.getSubscriptionChange(record.id)).toBeNull();
      expect([await changesOf(globex.id), await changesOf(platform.id)]).toEqual(kept);
    });
  });
}
