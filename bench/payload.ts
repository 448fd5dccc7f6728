/**
 * The 1 KB payloads every suite sends: Bookkeeper's real `payment.succeeded` schema
 * (so publish pays the real validation), with `metadata` padded until the serialized
 * envelope `{ id, type, timestamp, data }` is 1,024 bytes (with an `orderingKey`, the
 * padding is that much shorter: the same 1,024 bytes).
 */
import { createHmac } from 'node:crypto';
import { createId } from '../src/ids.js';
import type { EnqueueInput } from '../src/storage/storage-adapter.js';

/** The size every envelope is padded to, bytes. */
export const payloadBytes = 1024;

export const eventType = 'payment.succeeded';

/** `data` of a `payment.succeeded` event; `n` varies the ids. */
export function paymentData(n: number, padding = paddingFor()): Record<string, unknown> {
  return {
    paymentId: `pay_${String(n).padStart(10, '0')}`,
    customerId: 'cus_0000004242',
    invoiceId: `inv_${String(n).padStart(10, '0')}`,
    amount: { amount: 12_345, currency: 'EUR' },
    method: 'card',
    reference: 'BK-2025-000042',
    occurredAt: '2025-06-01T12:00:00.000Z',
    metadata: padding,
  };
}

function envelope(id: string, data: unknown): string {
  return JSON.stringify({ id, type: eventType, timestamp: '2025-06-01T12:00:00.000Z', data });
}

const cachedPaddings = new Map<number, Record<string, string>>();

/**
 * Metadata entries (each ≤ 500 characters, as the schema requires) that bring the envelope to
 * {@link payloadBytes}; `extraBytes`: what the envelope holds beside `{ id, type, timestamp, data }`
 * (an `orderingKey`: see {@link orderingKeyBytes}).
 */
export function paddingFor(extraBytes = 0): Record<string, string> {
  const cached = cachedPaddings.get(extraBytes);
  if (cached !== undefined) return cached;
  const bare = envelope(createId('evt'), paymentData(0, {})).length + extraBytes;
  // `{"note1":"…","note2":"…"}` minus the `{}` that `metadata: {}` already counts.
  let left = payloadBytes - bare - '{"note1":"","note2":""}'.length + 2;
  const first = Math.min(500, left);
  left -= first;
  const padding = { note1: 'n'.repeat(first), note2: 'm'.repeat(Math.max(0, left)) };
  cachedPaddings.set(extraBytes, padding);
  return padding;
}

/** The bytes an `orderingKey` adds to an envelope (ASCII keys). */
export function orderingKeyBytes(orderingKey: string): number {
  return `,"orderingKey":${JSON.stringify(orderingKey)}`.length;
}

/** A signed message as a receiver gets it. */
export interface SignedSample {
  id: string;
  timestampSeconds: number;
  body: string;
  /** Node-style lower-case request headers, as `req.headers` has them. */
  headers: Record<string, string>;
}

/** `count` distinct 1 KB envelopes signed with `secret` at `timestampSeconds` (bare node:crypto). */
export function signedSamples(count: number, secret: string, timestampSeconds: number): SignedSample[] {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const padding = paddingFor();
  return Array.from({ length: count }, (_, n) => {
    const id = createId('evt');
    const body = envelope(id, paymentData(n, padding));
    const signature = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
    return {
      id,
      timestampSeconds,
      body,
      headers: {
        host: '127.0.0.1:8080',
        'user-agent': 'bookkeeper-webhooks/0.1',
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'webhook-id': id,
        'webhook-timestamp': String(timestampSeconds),
        'webhook-signature': `v1,${signature}`,
        connection: 'keep-alive',
      },
    };
  });
}

/**
 * `count` enqueue inputs of 1 KB events, made as `publish` makes them (a fresh, flat
 * payload string each: shared or concatenated strings would understate the memory a
 * real backlog takes), for filling a storage without going through `publish`. `tenantOf(n)`
 * is the tenant the n-th event is published for (default: none); `orderingKeyOf(n)` its
 * ordering key (default: none), in the event record and in the envelope where publish puts
 * it (after the timestamp), the padding shortened to keep the envelope at 1,024 bytes.
 */
export function* enqueueInputs(
  count: number,
  tenantOf: (n: number) => string | null = () => null,
  orderingKeyOf: (n: number) => string | null = () => null,
): Generator<EnqueueInput> {
  for (let n = 0; n < count; n++) {
    const now = Date.now();
    const id = createId('evt', now);
    const orderingKey = orderingKeyOf(n);
    const timestamp = new Date(now).toISOString();
    const payload =
      orderingKey === null
        ? JSON.stringify({ id, type: eventType, timestamp, data: paymentData(n, paddingFor()) })
        : JSON.stringify({ id, type: eventType, timestamp, orderingKey, data: paymentData(n, paddingFor(orderingKeyBytes(orderingKey))) });
    // publish() measures every payload's bytes, which flattens JSON.stringify's rope: so here.
    Buffer.byteLength(payload);
    const event: EnqueueInput['event'] = { id, type: eventType, timestamp: now, payload, idempotencyKey: null, tenantId: tenantOf(n) };
    if (orderingKey !== null) event.orderingKey = orderingKey;
    yield { event, now };
  }
}
