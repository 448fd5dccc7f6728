/**
 * The `retention` option of `createWebhooks`: how long finished deliveries and events are
 * kept, and how the background task that removes them paces itself. Its defaults live
 * here, in the schema that parses it.
 */
import { z } from 'zod';

const dayMs = 24 * 3_600_000;

/**
 * How long the log is kept. The instance removes what is past it in the background, in
 * small batches, while it is started. Pending and held deliveries are never removed,
 * whatever their age; an event goes only once none of its deliveries is left.
 *
 * @example
 * ```ts
 * createWebhooks({ retention: { deliveredMs: 7 * 86_400_000, deadMs: null } }); // dead deliveries kept for good
 * ```
 */
export interface RetentionOptions {
  /**
   * How long a delivered delivery (with its attempts) is kept after it was delivered, and an
   * ok test request (`subscriptions.testAttempts`) after it was sent; `null` keeps them.
   * @defaultValue 2592000000 (30 days)
   */
  deliveredMs?: number | null;
  /**
   * How long a dead or cancelled delivery (with its attempts) is kept after it became so,
   * and a failed test request after it was sent; `null` keeps them.
   * @defaultValue 7776000000 (90 days)
   */
  deadMs?: number | null;
  /**
   * How long an event is kept after it was published; it goes only once none of its
   * deliveries is left (a redelivery needs its payload). `null` keeps them.
   * @defaultValue 7776000000 (90 days)
   */
  eventsMs?: number | null;
  /**
   * The wait between two runs of the task, on the instance's clock. A run removes batches
   * until nothing is left past retention, for at most about 100 ms of the process's time
   * in batches, each followed by a pause of 19 times its own time: the task takes at most
   * about a twentieth of the process's time.
   * @defaultValue 60000
   */
  intervalMs?: number;
  /**
   * At most this many deliveries, this many events and this many test requests per batch:
   * each batch is one short transaction. The task takes fewer where a batch would hold the
   * event loop longer than about 5 ms (SQLite runs its transaction synchronously): the
   * size follows each batch's time, between 10 and this.
   * @defaultValue 500
   */
  batchSize?: number;
}

/** `retention` after parsing: every default filled in. */
export interface ResolvedRetentionOptions {
  readonly deliveredMs: number | null;
  readonly deadMs: number | null;
  readonly eventsMs: number | null;
  readonly intervalMs: number;
  readonly batchSize: number;
}

const keptMs = z.int().min(0).max(100 * 365 * dayMs).nullable();

/** The schema of the `retention` option (`false`: no retention task); a type test keeps it and {@link RetentionOptions} in step. */
export const retentionOptionsSchema = z
  .union([
    z.literal(false),
    z
      .strictObject({
        deliveredMs: keptMs.default(30 * dayMs),
        deadMs: keptMs.default(90 * dayMs),
        eventsMs: keptMs.default(90 * dayMs),
        intervalMs: z.int().min(1).max(7 * dayMs).default(60_000),
        batchSize: z.int().min(1).max(10_000).default(500),
      })
      .transform((options): ResolvedRetentionOptions => Object.freeze(options)),
  ])
  .prefault({});
