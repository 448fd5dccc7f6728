/**
 * The fields every event of Bookkeeper's catalog is built from (ids, dates, timestamps,
 * metadata) and the helpers that tie an event to its object: `eventDefinition` pairs a
 * schema with its example, type-checked where it is written; `objectStatusCheck` holds an
 * event to the statuses its object may have after it.
 */
import { z } from 'zod';

/** An id of a Bookkeeper object (`inv_2026_0042`), 1–255 characters. */
export const id = z.string().min(1).max(255);

/** A calendar date, ISO 8601 `YYYY-MM-DD`: an issue, due, posting or booking date has no time of day. */
export const isoDate = z.iso.date();

/** An instant, ISO 8601 with a `Z` or an offset. */
export const isoDateTime = z.iso.datetime({ offset: true });

/** When the event happened in the ledger (not when the webhook was sent). */
export const occurredAt = isoDateTime;

/** The host's own key–value pairs, passed through as they are. */
export const metadata = z.record(z.string(), z.string().max(500)).optional();

/** A type's schema with an example `data` the compiler checks against the schema's input. */
export function eventDefinition<const TSchema extends z.ZodType>(
  schema: TSchema,
  example: z.input<TSchema>,
): { readonly schema: TSchema; readonly example: z.input<TSchema> } {
  return { schema, example };
}

/**
 * A check that the object under `key` has one of `statuses` (the states the event leaves
 * it in: an `invoice.paid` carries a paid invoice), and, for each of `setFields`, a value
 * other than null (an `invoice.paid` has its `paidAt`).
 */
export function objectStatusCheck<TKey extends string>(key: TKey, statuses: readonly string[], setFields: readonly string[] = []) {
  return (ctx: z.core.ParsePayload<{ [K in TKey]: { status: string } & Record<string, unknown> }>): void => {
    const object = ctx.value[key];
    if (!statuses.includes(object.status)) {
      ctx.issues.push({
        code: 'custom',
        message: `${statuses.map((status) => JSON.stringify(status)).join(' or ')} in this event`,
        input: object.status,
        path: [key, 'status'],
      });
    }
    for (const field of setFields) {
      if (object[field] === null) {
        ctx.issues.push({ code: 'custom', message: 'set in this event', input: null, path: [key, field] });
      }
    }
  };
}
