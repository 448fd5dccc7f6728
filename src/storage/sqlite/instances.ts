/**
 * The processes that hold leases on a database file: registering this one, and giving
 * back at once the leases of those on this host that are provably gone (a killed process
 * the restart replaces) instead of after `leaseMs`.
 */
import { randomBytes } from 'node:crypto';
import { currentProcessIdentity, isProvenGone } from './process-liveness.js';
import type { Statements } from './statements/prepared-statements.js';

/**
 * Registers a new instance and, in the caller's transaction, releases the leases of every
 * instance on this host proven gone: due at once, attempts unchanged. Live instances, and
 * any that cannot be checked, keep theirs (see process-liveness.ts).
 *
 * @returns the instance's id: the prefix of its lease tokens.
 */
export function registerInstance(s: Statements, now: number): string {
  const self = currentProcessIdentity();
  // 48 random bits, base64url (no dot): unique among the handful of rows of one file.
  const id = randomBytes(6).toString('base64url');
  if (self.host !== null) {
    for (const row of s.otherInstancesOnHost.all(self.host, id)) {
      if (!isProvenGone({ host: row.host, pid: row.pid, startedTicks: row.started_ticks }, self)) continue;
      s.releaseInstanceLeases.run({ prefix: `${row.id}.`, now });
      s.deleteInstance.run(row.id);
    }
  }
  s.insertInstance.run(id, self.host, self.pid, self.startedTicks, now);
  return id;
}

/**
 * A fencing token for one claim by instance `instanceId`: its id, then 72 random bits. It
 * only has to differ from the row's other leases; short, because it is stored in the row
 * until the settle (a longer row splits more pages).
 */
export function leaseToken(instanceId: string): string {
  return `${instanceId}.${randomBytes(9).toString('base64url')}`;
}
