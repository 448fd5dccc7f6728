/**
 * How an adapter gets the payload of a delivery to a subscription with a `transform` or
 * version pins (`versions`), decided once for every adapter. The storage keeps both as opaque
 * text and never runs anything: the core renders, handed over as `render` in the enqueue's
 * or the replay's input, and the adapter stores what comes back as the delivery's own
 * payload — or, when it returns `null`, the delivery sends its event's payload (a
 * subscription pinned to the version the event is in costs the call, no stored copy).
 * Here:
 * - a subscription with neither is not asked about (its delivery sends its event's
 *   payload, and costs nothing more);
 * - with either and no callback, it gets no delivery: nothing is sent unrendered;
 * - the callback is asked once per delivery created, after the payload filter accepted
 *   (shared/payload-filters.ts) — a requeued delivery keeps the payload it has, so every
 *   retry sends the same bytes;
 * - what the callback throws reaches the caller unchanged (shared/host-callbacks.ts).
 */
import type { EnqueueInput, EventRecord, ReplayInput, SubscriptionRecord } from '../storage-adapter.js';
import { callHost } from './host-callbacks.js';

/**
 * What a delivery's payload is at creation: `null` (its event's) for a subscription the
 * callback is not asked about, or when it returns `null`; else the rendered text, or
 * `undefined` when nothing renders (no delivery).
 */
export type CreatedPayload = string | null | undefined;

/** True when the core renders the payloads of `subscription`'s deliveries: it has a transform or version pins. */
export function rendersPayloads(subscription: Pick<SubscriptionRecord, 'transform' | 'versions'>): boolean {
  return subscription.transform !== null || subscription.versions !== null;
}

/** The payload of a publish's delivery to `subscription` (whose filter accepted the event). */
export function enqueuePayload(input: Pick<EnqueueInput, 'render'>, subscription: SubscriptionRecord): CreatedPayload {
  if (!rendersPayloads(subscription)) return null;
  const render = input.render;
  return render === undefined ? undefined : callHost(() => render(subscription));
}

/** The payload of the delivery a replay creates for `event` to `subscription` (whose filter accepted it). */
export function replayPayload(input: Pick<ReplayInput, 'render'>, subscription: SubscriptionRecord, event: EventRecord): CreatedPayload {
  if (!rendersPayloads(subscription)) return null;
  const render = input.render;
  return render === undefined ? undefined : callHost(() => render(subscription, event));
}

/** True when a replay to `subscription` can create nothing (it renders, and no callback does); requeues still happen. */
export function replayCreatesNothing(input: Pick<ReplayInput, 'render'>, subscription: SubscriptionRecord): boolean {
  return rendersPayloads(subscription) && input.render === undefined;
}
