/**
 * `webhooks.events` beside the catalog: published events as stored — read one back, or
 * erase the content of some (`expunge`: a GDPR request about one counterparty, a
 * departing customer's payloads), keeping ids, types, times, statuses and change logs so
 * the delivery record stays whole. An expunged event is never sent again.
 */
import { z } from 'zod';
import type { Clock } from './clock.js';
import { ValidationError, describeValue } from './errors.js';
import type { PayloadCodec } from './payload-codec.js';
import { requireId } from './storable-text.js';
import type { EventRecord, StorageAdapter } from './storage/storage-adapter.js';
import { tenantFilterSchema } from './tenant-id.js';
import { throwValidation } from './throw-validation.js';

/** A published event as stored. Times are epoch ms. */
export interface StoredEvent {
  id: string;
  type: string;
  /** Publication time (the envelope's `timestamp`). */
  timestamp: number;
  /** The tenant it was published for; `null` without one. */
  tenantId: string | null;
  idempotencyKey: string | null;
  /** The envelope's `data`; `null` once expunged. */
  data: unknown;
  /** When its content was erased; `null` while it is kept. */
  expungedAt: number | null;
}

/** Which events `expunge` erases: all that match every given condition. */
export interface ExpungeSelector {
  /** This tenant's events; `null`: those published without a tenant. */
  tenantId?: string | null;
  /** Events published before this time (Date or epoch ms). */
  before?: Date | number;
  /**
   * Events whose content matches, e.g. `(event) => event.data.counterparty?.id === 'cus_1'`
   * for a request about one counterparty. Called with each candidate not yet expunged,
   * newest first; a filter that throws stops the erasure there (the pages before it are
   * erased; run it again to go on: expunging is idempotent).
   */
  filter?: (event: StoredEvent) => boolean;
}

/** What `expunge` did. */
export interface ExpungeSummary {
  /** Events whose content was erased now (already expunged ones are not counted). */
  expunged: number;
  /** Their open deliveries (pending or held) that were cancelled: they will not be sent. */
  cancelled: number;
  /** Response snippets erased from their attempts. */
  snippets: number;
}

/** The stored events, beside the catalog in `webhooks.events`. */
export interface StoredEvents {
  /** The event, expunged ones included (with `data` `null`), or `null` when there is none with this id. */
  get(id: string): Promise<StoredEvent | null>;
  /**
   * Erases the content of one event (by id) or of every event a selector matches: the
   * payload, and the response snippets of its attempts, are replaced by a tombstone;
   * ids, types, times, statuses and change logs stay. Its open deliveries are cancelled;
   * `deliveries.redeliver` of it is refused with `EVENT_EXPUNGED` and `replay` skips it.
   * A selector needs at least one condition (erasing every event is
   * `expunge({ filter: () => true })`, said on purpose). An unknown id is refused
   * (`EVENT_NOT_FOUND`); an expunged one changes nothing.
   */
  expunge(target: string | ExpungeSelector): Promise<ExpungeSummary>;
}

/** What the stored events need of the instance. */
export interface StoredEventsDeps {
  storage: StorageAdapter;
  clock: Clock;
  /** Opens stored payloads (`security.payloadKey`). */
  payloads: PayloadCodec;
}

const timeSchema = z.union([z.date(), z.int().min(0).describe('epoch milliseconds (an integer ≥ 0)')]).transform((value) => (value instanceof Date ? value.getTime() : value));
const selectorSchema = z
  .strictObject({
    tenantId: tenantFilterSchema.optional(),
    before: timeSchema.optional(),
    filter: z.custom<(event: StoredEvent) => boolean>((value) => typeof value === 'function', { message: 'a function (event) => boolean' }).optional(),
  })
  .refine((selector) => selector.tenantId !== undefined || selector.before !== undefined || selector.filter !== undefined, {
    message: 'at least one of tenantId, before or filter (to erase every event, pass filter: () => true)',
  });

/** Events read per page, and erased per storage call, while a selector is walked. */
const PAGE = 500;

/** Creates `webhooks.events`' stored-event calls. */
export function createStoredEvents(deps: StoredEventsDeps): StoredEvents {
  const { storage, clock, payloads } = deps;

  function toStoredEvent(record: EventRecord): StoredEvent {
    const data = record.expungedAt === null ? (JSON.parse(payloads.open(record.payload, record.id)) as { data?: unknown }).data ?? null : null;
    return {
      id: record.id,
      type: record.type,
      timestamp: record.timestamp,
      tenantId: record.tenantId,
      idempotencyKey: record.idempotencyKey,
      data,
      expungedAt: record.expungedAt,
    };
  }

  async function expungeSelected(selector: z.output<typeof selectorSchema>): Promise<ExpungeSummary> {
    const summary: ExpungeSummary = { expunged: 0, cancelled: 0, snippets: 0 };
    let cursor: string | undefined;
    do {
      const page = await storage.listEvents({
        limit: PAGE,
        ...(selector.tenantId === undefined ? {} : { tenantId: selector.tenantId }),
        ...(selector.before === undefined ? {} : { until: selector.before }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      const ids: string[] = [];
      for (const record of page.items) {
        if (record.expungedAt !== null) continue;
        if (selector.filter === undefined || selector.filter(toStoredEvent(record))) ids.push(record.id);
      }
      if (ids.length > 0) {
        const result = await storage.expungeEvents(ids, clock.now());
        summary.expunged += result.events;
        summary.cancelled += result.cancelled;
        summary.snippets += result.snippets;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return summary;
  }

  return {
    async get(id) {
      const record = await storage.getEvent(requireId(id, 'id'));
      return record === null ? null : toStoredEvent(record);
    },

    async expunge(target) {
      if (typeof target === 'string') {
        const id = requireId(target, 'id');
        if ((await storage.getEvent(id)) === null) throw new ValidationError('EVENT_NOT_FOUND', `No event with id ${describeValue(id)}`, { field: 'id' });
        const result = await storage.expungeEvents([id], clock.now());
        return { expunged: result.events, cancelled: result.cancelled, snippets: result.snippets };
      }
      const parsed = selectorSchema.safeParse(target);
      if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, target, selectorSchema);
      return expungeSelected(parsed.data);
    },
  };
}
