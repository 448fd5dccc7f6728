/**
 * Storage conformance cases for event versions: a subscription's version pins (`versions`)
 * kept as the opaque text given (created, read, claimed, changed, cleared, logged); the
 * core's `render` asked for a subscription with pins as for one with a transform, a `null`
 * answer leaving its delivery on its event's payload; and the core's own renderer
 * (routing/payload-transforms.ts over a catalog with three versions) handed to the storage
 * as the publish hands it: a pinned subscription gets the event downgraded step by step, and
 * a downgrade that throws rejects the publish with `EVENT_DOWNGRADE_FAILED`, nothing stored.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { envelopeEnvironmentJson, envelopeJson, envelopeTypeJson } from '../../src/envelope-json.js';
import { defineEvents } from '../../src/events/catalog.js';
import { createId } from '../../src/ids.js';
import { createTransformRenderer } from '../../src/routing/payload-transforms.js';
import type { ChangeAudit, NewEventRecord } from '../../src/storage/storage-adapter.js';
import { plainPayloadCodec } from '../../src/payload-codec.js';
import type { ConformanceContext } from './conformance-context.js';

/** `payment.succeeded` in three versions: v2 splits the amount into net and fee, v3 renames the id. */
function paymentCatalog(options: { failAt?: 2 | 3 } = {}) {
  const v1 = z.strictObject({ paymentId: z.string(), amountMinor: z.int() });
  const v2 = z.strictObject({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() });
  const v3 = z.strictObject({ id: z.string(), netMinor: z.int(), feeMinor: z.int() });
  return defineEvents({
    'payment.succeeded': {
      versions: {
        1: { schema: v1 },
        2: {
          schema: v2,
          downgrade: (data) => {
            if (options.failAt === 2) throw new Error('no amount for a split payment');
            return { paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor };
          },
        },
        3: {
          schema: v3,
          downgrade: (data) => {
            if (options.failAt === 3) throw new Error('v3 lost the payment id');
            return { paymentId: data.id, netMinor: data.netMinor, feeMinor: data.feeMinor };
          },
        },
      },
    },
    'refund.created': z.object({ refundId: z.string() }),
  });
}

const v3Data = { id: 'pay_1', netMinor: 970, feeMinor: 30 };

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeEventVersions(t: ConformanceContext): void {
  const { subscriptionRecord, createSubscription, claim, deliveriesOfEvent } = t;

  function audit(action: ChangeAudit['action']): ChangeAudit {
    return { id: createId('chg', t.now), action, actor: 'user_7Hq2', reason: null, isSensitiveHeader: () => false };
  }

  /** A `payment.succeeded` event in v3, its envelope as publish writes it (with `version`). */
  function v3Event(): { event: NewEventRecord; timestamp: string } {
    const id = createId('evt', t.now);
    const timestamp = new Date(t.now).toISOString();
    const payload = envelopeJson(id, 'payment.succeeded', envelopeTypeJson('payment.succeeded', 3), timestamp, null, envelopeEnvironmentJson(null), null, null, v3Data, 3);
    return { event: { id, type: 'payment.succeeded', timestamp: t.now, payload, idempotencyKey: null, tenantId: null }, timestamp };
  }

  /** The core's renderer over `catalog`, as createWebhooks makes it (no payload key, no environment). */
  function coreRenderer(catalog: ReturnType<typeof paymentCatalog>) {
    return createTransformRenderer({
      catalog,
      transforms: {},
      environment: null,
      maxPayloadBytes: 256 * 1024,
      payloadCodec: plainPayloadCodec,
      toSubscription: () => {
        throw new Error('no transform here');
      },
    });
  }

  describe('event versions', () => {
    it('keeps the version pins as the exact text given: created, read, claimed, changed and cleared by update, kept by another patch, logged', async () => {
      const pins = '{"payment.succeeded":1,"refund.created":2}';
      const record = subscriptionRecord({ versions: pins });
      expect(await t.storage.createSubscription(record, undefined, audit('created'))).toEqual(record);
      expect(await t.storage.getSubscription(record.id)).toEqual(record);
      const plain = await createSubscription();
      expect(plain.versions).toBeNull();

      await t.storage.enqueue({ event: t.eventRecord('refund.created'), now: t.now, render: () => null });
      const claimed = await claim();
      expect(Object.fromEntries(claimed.map((c) => [c.subscription.id, c.subscription.versions]))).toEqual({ [record.id]: pins, [plain.id]: null });

      t.now += 1000;
      expect(await t.storage.updateSubscription(record.id, { versions: '{"payment.succeeded":2}' }, t.now, audit('updated'))).toEqual({
        ...record,
        versions: '{"payment.succeeded":2}',
        updatedAt: t.now,
      });
      expect(await t.storage.updateSubscription(record.id, { description: 'pins kept' }, t.now, audit('updated'))).toMatchObject({ versions: '{"payment.succeeded":2}' });
      t.now += 1000;
      expect(await t.storage.updateSubscription(record.id, { versions: null }, t.now, audit('updated'))).toMatchObject({ versions: null, updatedAt: t.now });
      expect(await t.storage.getSubscription(record.id)).toMatchObject({ versions: null });

      const log = (await t.storage.listSubscriptionChanges({ subscriptionId: record.id, limit: 10 })).items;
      expect(log.map((change) => change.changes['versions'])).toEqual([
        { before: null, after: pins },
        { before: pins, after: '{"payment.succeeded":2}' },
        undefined,
        { before: '{"payment.succeeded":2}', after: null },
      ]);
      // After the transform, in the fixed order of the logged fields.
      const fields = Object.keys(log[0]!.changes);
      expect(fields.indexOf('versions')).toBe(fields.indexOf('transform') + 1);
    });

    it('asks render for a subscription with pins: its text is the delivery\'s own payload, `null` leaves it on the event\'s', async () => {
      const plain = await createSubscription({ eventTypes: ['payment.*'] });
      const older = await createSubscription({ eventTypes: ['payment.*'], versions: '{"payment.succeeded":1}' });
      const newest = await createSubscription({ eventTypes: ['payment.*'], versions: '{"payment.succeeded":3}' });
      const asked: string[] = [];
      const result = await t.storage.enqueue({
        event: t.eventRecord('payment.succeeded'),
        now: t.now,
        render: (subscription) => {
          asked.push(subscription.id);
          expect(subscription).toEqual(subscription.id === older.id ? older : newest);
          return subscription.id === older.id ? '{"version":1}' : null;
        },
      });
      expect(result).toMatchObject({ created: true, deliveryCount: 3 });
      expect([...asked].sort()).toEqual([older.id, newest.id].sort());
      const payloads = Object.fromEntries((await claim()).map((c) => [c.subscription.id, c.event.payload]));
      expect(payloads).toEqual({ [plain.id]: result.event.payload, [older.id]: '{"version":1}', [newest.id]: result.event.payload });
      const own = async (subscriptionId: string) => {
        const delivery = (await deliveriesOfEvent(result.event.id)).find((d) => d.subscriptionId === subscriptionId)!;
        return t.storage.getDeliveryPayload(delivery.id);
      };
      expect(await own(older.id)).toBe('{"version":1}');
      expect(await own(newest.id)).toBeNull();
      expect(await own(plain.id)).toBeNull();

      // Without a render, a subscription with pins gets no delivery (nothing is sent unrendered).
      const unrendered = await t.storage.enqueue({ event: t.eventRecord('payment.succeeded'), now: t.now });
      expect((await deliveriesOfEvent(unrendered.event.id)).map((d) => d.subscriptionId)).toEqual([plain.id]);
    });

    it('stores what the core renders: a subscription pinned to v1 gets the v3 event downgraded through v2, one pinned to v3 the event as published', async () => {
      const renderer = coreRenderer(paymentCatalog());
      const v1 = await createSubscription({ eventTypes: ['payment.*'], versions: '{"payment.succeeded":1}' });
      const v2 = await createSubscription({ eventTypes: ['payment.*'], versions: '{"payment.succeeded":2}' });
      const v3 = await createSubscription({ eventTypes: ['payment.*'], versions: '{"payment.succeeded":3}' });
      const { event, timestamp } = v3Event();
      const result = await t.storage.enqueue({
        event,
        now: t.now,
        render: (subscription) => renderer.render(subscription, { id: event.id, type: event.type, version: 3, timestamp, orderingKey: null, metadata: null, tenantId: null, data: v3Data }),
      });
      expect(result.deliveryCount).toBe(3);
      const sent = Object.fromEntries((await claim()).map((c) => [c.subscription.id, c.event.payload]));
      const envelope = (version: number, data: unknown) => JSON.stringify({ id: event.id, type: 'payment.succeeded', version, timestamp, data });
      expect(sent).toEqual({
        [v1.id]: envelope(1, { paymentId: 'pay_1', amountMinor: 1000 }),
        [v2.id]: envelope(2, { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 }),
        [v3.id]: event.payload,
      });
      expect(event.payload).toBe(envelope(3, v3Data));
    });

    it('rejects the publish with EVENT_DOWNGRADE_FAILED when a downgrade throws, storing nothing: no event, no delivery', async () => {
      for (const failAt of [2, 3] as const) {
        const renderer = coreRenderer(paymentCatalog({ failAt }));
        const pinned = await createSubscription({ eventTypes: ['payment.*'], versions: '{"payment.succeeded":1}' });
        await createSubscription({ eventTypes: ['payment.*'] });
        const { event, timestamp } = v3Event();
        const refused = await t.rejectionOf(
          t.storage.enqueue({
            event,
            now: t.now,
            render: (subscription) => renderer.render(subscription, { id: event.id, type: event.type, version: 3, timestamp, orderingKey: null, metadata: null, tenantId: null, data: v3Data }),
          }),
        );
        expect(refused).toMatchObject({ name: 'ValidationError', code: 'EVENT_DOWNGRADE_FAILED', field: 'versions.payment.succeeded' });
        expect((refused as Error).message).toContain(`from version ${failAt} to version ${failAt - 1}`);
        expect((refused as Error).message).toContain(pinned.id);
        expect(await t.storage.getEvent(event.id)).toBeNull();
        expect(await deliveriesOfEvent(event.id)).toEqual([]);
        expect((await t.storage.listEvents({ limit: 10 })).items).toEqual([]);
        await t.storage.softDeleteSubscription(pinned.id, t.now);
      }
    });

    it('renders what a replay creates for a pinned subscription in its version, the stored event read back as published', async () => {
      const renderer = coreRenderer(paymentCatalog());
      const { event } = v3Event();
      await t.storage.enqueue({ event, now: t.now });
      t.now += 1000;
      const v1 = await createSubscription({ eventTypes: ['payment.*'], versions: '{"payment.succeeded":1}' });
      const v3 = await createSubscription({ eventTypes: ['payment.*'], versions: '{"payment.succeeded":3}' });
      for (const subscription of [v1, v3]) {
        const { count } = await t.storage.replay({
          subscriptionId: subscription.id,
          since: event.timestamp,
          eventTypes: ['payment.succeeded'],
          now: t.now,
          render: (stored, storedEvent) => renderer.renderStored(stored, storedEvent),
        });
        expect(count).toBe(1);
      }
      const sent = Object.fromEntries((await claim()).map((c) => [c.subscription.id, JSON.parse(c.event.payload) as { version: number; data: unknown }]));
      expect(sent[v1.id]).toMatchObject({ version: 1, data: { paymentId: 'pay_1', amountMinor: 1000 } });
      expect(sent[v3.id]).toEqual(JSON.parse(event.payload));
      const ownPayloads = await Promise.all((await deliveriesOfEvent(event.id)).map(async (d) => [d.subscriptionId, await t.storage.getDeliveryPayload(d.id)] as const));
      expect(Object.fromEntries(ownPayloads)[v3.id]).toBeNull();
    });
  });
}
