/**
 * The age of a subscription's signing secrets as its reads show it (`secretsCreatedAt`),
 * computed from the stored secrets at read time, so that a host can enforce a rotation
 * policy ("no secret older than 90 days signs") without ever reading a secret.
 */
import type { SecretRecord } from '../storage/storage-adapter.js';

/** When a subscription's secrets were created (epoch ms), as of the read. */
export interface SecretsCreatedAt {
  /** The newest secret: the one `getSecrets` returns as `secret`, created at the last rotation (or at `create`). */
  newest: number;
  /**
   * The oldest secret that still signs: during a rotation's overlap, the previous one;
   * otherwise the same as `newest`. A rotation policy compares this with its limit.
   */
  oldestActive: number;
}

/**
 * The creation times of the newest secret and of the oldest one still signing at `now`
 * (unexpired). A record with no unexpired secret (none can sign) shows its newest for both.
 */
export function secretsCreatedAt(secrets: readonly SecretRecord[], now: number): SecretsCreatedAt {
  let newest = Number.NEGATIVE_INFINITY;
  let oldestActive = Number.POSITIVE_INFINITY;
  for (const secret of secrets) {
    if (secret.createdAt > newest) newest = secret.createdAt;
    if ((secret.expiresAt === null || secret.expiresAt > now) && secret.createdAt < oldestActive) oldestActive = secret.createdAt;
  }
  return { newest, oldestActive: oldestActive === Number.POSITIVE_INFINITY ? newest : oldestActive };
}
