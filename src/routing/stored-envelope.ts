/**
 * A stored event's envelope as filters and transforms read it: opened with the instance's
 * payload key (`security.payloadKey`) and parsed — what was sent.
 */
import type { PayloadCodec } from '../payload-codec.js';
import type { EventRecord } from '../storage/storage-adapter.js';

/** The fields of a stored envelope a filter or a transform reads. */
export interface StoredEnvelope {
  type: string;
  /** The version its `data` is in, for a type that had versions when it was published. */
  version?: number;
  timestamp: string;
  orderingKey?: string;
  metadata?: Record<string, string>;
  data: unknown;
}

/** @throws ConfigError `PAYLOAD_KEY_INVALID` for a payload sealed with a key this instance lacks. */
export function openStoredEnvelope(codec: PayloadCodec, event: EventRecord): StoredEnvelope {
  return JSON.parse(codec.open(event.payload, event.id)) as StoredEnvelope;
}
