/**
 * The deliveries behind the overview's latency chart: those delivered in a window, read
 * through the public delivery log. The log is paged newest first and has no index on
 * `deliveredAt`, so the read asks for deliveries created in the window (`since`/`until`)
 * and keeps those delivered in it, stopping after {@link maxDeliveredRead} of them: a
 * chart of the newest 5,000 is as telling as one of all, and a page load stays bounded.
 */
import { z } from 'zod';
import { throwValidation } from '../throw-validation.js';
import type { DashboardSource } from './dashboard-context.js';

/** What the latency chart reads of a delivery. */
export interface DeliveredTimes {
  createdAt: number;
  deliveredAt: number;
}

const pageSize = 1_000;
const maxPages = 5;
/** The most deliveries one read looks at (the newest created in the window). */
export const maxDeliveredRead = pageSize * maxPages;

const epochMs = z.int().min(0).describe('epoch milliseconds (an integer ≥ 0)');
const windowSchema = z.strictObject({ fromMs: epochMs, toMs: epochMs }).refine((window) => window.fromMs <= window.toMs, {
  message: 'a time at or after `fromMs`',
  path: ['toMs'],
});

/**
 * The deliveries created and delivered in `[fromMs, toMs)`, newest first: at most
 * {@link maxDeliveredRead} read (5 pages of 1,000). A delivery created before the window
 * and delivered in it is not among them.
 *
 * @throws ValidationError `INPUT_INVALID` when `fromMs`/`toMs` are not epoch ms or `toMs` is before `fromMs`.
 */
export async function readDeliveredInWindow(webhooks: Pick<DashboardSource, 'deliveries'>, fromMs: number, toMs: number): Promise<DeliveredTimes[]> {
  const parsed = windowSchema.safeParse({ fromMs, toMs });
  if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, { fromMs, toMs }, windowSchema);
  const delivered: DeliveredTimes[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const { items, nextCursor } = await webhooks.deliveries.list({
      status: 'delivered',
      since: fromMs,
      until: toMs,
      limit: pageSize,
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const { createdAt, deliveredAt } of items) {
      if (deliveredAt !== null && deliveredAt >= fromMs && deliveredAt < toMs) delivered.push({ createdAt, deliveredAt });
    }
    if (nextCursor === null) break;
    cursor = nextCursor;
  }
  return delivered;
}
