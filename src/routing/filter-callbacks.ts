/**
 * The payload-filter questions the storage asks, answered by the one evaluator
 * (payload-filter.ts) on the envelope as it is sent: at fan-out on the data being
 * published, at replay on the stored event opened. The storage keeps a filter as text and
 * never interprets it; these callbacks are the only place it is evaluated.
 */
import { ValidationError } from '../errors.js';
import type { PayloadCodec } from '../payload-codec.js';
import type { EventRecord } from '../storage/storage-adapter.js';
import { payloadFilterMatcher, type FilterDocument } from './payload-filter.js';
import { openStoredEnvelope } from './stored-envelope.js';

/**
 * The matcher of a subscription's stored filter. The registry stores only filters it
 * validated, so a text that does not compile was changed outside the API (or written by a
 * newer version before a rollback): the refusal names the subscription, to be set again.
 * @throws ValidationError `PAYLOAD_FILTER_INVALID` naming the subscription.
 */
function storedFilterMatcher(filter: string, subscriptionId: string): (document: FilterDocument) => boolean {
  try {
    return payloadFilterMatcher(filter);
  } catch (cause) {
    throw new ValidationError(
      'PAYLOAD_FILTER_INVALID',
      `Expected the stored payload filter of subscription ${subscriptionId} to be a valid filter, got one that is not (${cause instanceof Error ? cause.message : String(cause)}): it was changed outside the API or written by a newer version; set it again with subscriptions.update`,
      { field: 'filter', cause },
    );
  }
}

/**
 * `EnqueueInput.matchesFilter` of one publish: `data` is the validated data, whose JSON form
 * reads back the same (publish refuses any other) once each `toJSON` in it (a `Date`) is
 * applied, as the matcher applies it, so it is the envelope's `data` as sent; `metadata` the
 * validated metadata, `null` when the envelope has none.
 */
export function publishedEventFilter(
  type: string,
  timestamp: string,
  metadata: Readonly<Record<string, string>> | null,
  data: unknown,
): (filter: string, subscriptionId: string) => boolean {
  const document: FilterDocument = metadata === null ? { type, timestamp, data } : { type, timestamp, metadata, data };
  return (filter, subscriptionId) => storedFilterMatcher(filter, subscriptionId)(document);
}

/**
 * `ReplayInput.matchesFilter`: the stored event's envelope, opened with the instance's
 * payload key (`security.payloadKey`), is what the filter is evaluated on — what was sent.
 * @throws ConfigError `PAYLOAD_KEY_INVALID` for a payload sealed with a key this instance lacks.
 */
export function storedEventFilter(codec: PayloadCodec): (filter: string, event: EventRecord, subscriptionId: string) => boolean {
  let last: { id: string; document: FilterDocument } | null = null;
  return (filter, event, subscriptionId) => {
    // One replay asks about each event once; the cache spares a second parse should it not.
    if (last === null || last.id !== event.id) {
      const envelope = openStoredEnvelope(codec, event);
      const document: FilterDocument = { type: envelope.type, timestamp: envelope.timestamp, data: envelope.data };
      if (envelope.metadata !== undefined) document.metadata = envelope.metadata;
      last = { id: event.id, document };
    }
    return storedFilterMatcher(filter, subscriptionId)(last.document);
  };
}
