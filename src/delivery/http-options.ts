/**
 * The dispatcher's HTTP options (`createWebhooks({ http })`): the public interface and
 * the zod schema that holds their defaults.
 */
import { z } from 'zod';

/** HTTP settings of the dispatcher. */
export interface HttpOptions {
  /**
   * The whole request (connect, send, response headers and body) must finish within this;
   * past it the attempt fails with error class `timeout`.
   * @defaultValue 15000
   */
  timeoutMs?: number;
  /**
   * Response bytes read at most; the rest is discarded (the first 1 KiB is kept in the attempt log).
   * @defaultValue 65536
   */
  maxResponseBytes?: number;
  /**
   * Upper bound on a receiver's `Retry-After` (429/503).
   * @defaultValue 3600000 (1 hour)
   */
  maxRetryAfterMs?: number;
  /**
   * The `user-agent` header.
   * @defaultValue "Bookkeeper-Webhooks/1"
   */
  userAgent?: string;
}

/** The `http` option, every field defaulted. */
export const httpOptionsSchema = z
  .strictObject({
    timeoutMs: z.int().min(1).max(3_600_000).default(15_000),
    maxResponseBytes: z.int().min(0).max(64 * 1024 * 1024).default(65_536),
    maxRetryAfterMs: z.number().int().min(0).max(365 * 24 * 3_600_000).default(3_600_000),
    userAgent: z.string().min(1).max(200).regex(/^[\x20-\x7e]+$/).default('Bookkeeper-Webhooks/1'),
  })
  .prefault({});
