/**
 * `webhooks.tenants`: what the host does with a tenant as a whole. Today that is the
 * departure of a customer — `delete` removes every subscription, event, delivery and attempt
 * of the tenant (the offboarding and GDPR erasure path), in bounded batches so that a large
 * tenant never holds a long lock, and without touching any other tenant's records.
 */
import { z } from 'zod';
import { checkArgumentCount } from './check-argument-count.js';
import type { Clock } from './clock.js';
import { ConflictError, ValidationError, describeValue } from './errors.js';
import type { StorageAdapter, StoredTlsIdentity, SubscriptionRecord } from './storage/storage-adapter.js';
import { tenantIdSchema } from './tenant-id.js';
import { parseInput, unreadableInput } from './throw-validation.js';

/** Options of `tenants.delete`. */
export interface DeleteTenantOptions {
  /**
   * Remove the tenant even while one of its deliveries is being attempted: that attempt's
   * outcome will not be recorded. Without it the call refuses (`TENANT_IN_FLIGHT`).
   * @defaultValue false
   */
  force?: boolean;
  /**
   * Rows of each kind removed per storage transaction.
   * @defaultValue 500
   */
  batchSize?: number;
}

/** What `tenants.delete` removed. */
export interface DeletedTenant {
  subscriptions: number;
  events: number;
  deliveries: number;
  attempts: number;
}

/** The `webhooks.tenants` API. */
export interface Tenants {
  /**
   * Removes everything of a tenant: its subscriptions, the events published for it, every
   * delivery of them (an all-tenant consumer's included) and their attempts, in batches of
   * `batchSize`. Idempotent: a tenant already removed, or never seen, gives zeros. Refuses
   * with a `ConflictError` (`TENANT_IN_FLIGHT`) while one of its deliveries is being
   * attempted, unless `force`; a refusal after some batches leaves the rest for the next
   * call. Stop publishing for the tenant first: an event published for it afterwards is kept.
   */
  delete(tenantId: string, options?: DeleteTenantOptions): Promise<DeletedTenant>;
}

/** What `tenants` needs of the instance around it. */
export interface TenantsDeps {
  storage: StorageAdapter;
  clock: Clock;
  /** Drops what the dispatcher keeps of a deleted subscription (its decoded signing keys). */
  forgetSubscription: (id: string) => void;
  /** Closes the connections pooled for a deleted subscription's TLS identity. */
  retireTls: (retired: StoredTlsIdentity) => void;
}

const deleteOptionsSchema = z.strictObject({
  force: z.boolean().default(false),
  batchSize: z.int().min(1).max(10_000).default(500),
});

/** The ids and TLS identities of the tenant's subscriptions, so that the dispatcher can forget them once removed. */
async function subscriptionsOf(storage: StorageAdapter, tenantId: string): Promise<Array<Pick<SubscriptionRecord, 'id' | 'tls'>>> {
  const subscriptions: Array<Pick<SubscriptionRecord, 'id' | 'tls'>> = [];
  let cursor: string | undefined;
  do {
    const page = await storage.listSubscriptions({ limit: 1000, tenantId, ...(cursor === undefined ? {} : { cursor }) });
    for (const record of page.items) subscriptions.push({ id: record.id, tls: record.tls });
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return subscriptions;
}

/** Creates the `tenants` API over a storage. */
export function createTenants(deps: TenantsDeps): Tenants {
  const { storage, clock } = deps;
  return {
    async delete(tenantId, deleteOptions = {}) {
      checkArgumentCount(arguments.length, 2, 'tenants.delete(tenantId, options?)', 'call');
      let parsedId: ReturnType<typeof tenantIdSchema.safeParse>;
      try {
        parsedId = tenantIdSchema.safeParse(tenantId);
      } catch (cause) {
        throw unreadableInput('INPUT_INVALID', cause, 'tenantId');
      }
      if (!parsedId.success) {
        throw new ValidationError('INPUT_INVALID', `Expected \`tenantId\` to be a tenant id (1 to 128 characters, no control characters), got ${describeValue(tenantId)}`, {
          field: 'tenantId',
        });
      }
      const { force, batchSize } = parseInput('INPUT_INVALID', deleteOptionsSchema, deleteOptions, 'options');
      const subscriptions = await subscriptionsOf(storage, parsedId.data);
      const removed: DeletedTenant = { subscriptions: 0, events: 0, deliveries: 0, attempts: 0 };
      try {
        for (;;) {
          const batch = await storage.purgeTenant({ tenantId: parsedId.data, limit: batchSize, now: clock.now(), force });
          if (batch === 'in_flight') {
            throw new ConflictError(
              'TENANT_IN_FLIGHT',
              `Tenant ${JSON.stringify(parsedId.data)} has a delivery being attempted right now; try again when it settles, or pass { force: true } (removed so far: ${removed.subscriptions} subscriptions, ${removed.events} events, ${removed.deliveries} deliveries, ${removed.attempts} attempts)`,
              { field: 'tenantId' },
            );
          }
          removed.subscriptions += batch.subscriptions;
          removed.events += batch.events;
          removed.deliveries += batch.deliveries;
          removed.attempts += batch.attempts;
          if (batch.done) return removed;
        }
      } finally {
        for (const { id, tls } of subscriptions) {
          deps.forgetSubscription(id);
          if (tls != null) deps.retireTls(tls);
        }
      }
    },
  };
}
