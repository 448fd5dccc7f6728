/**
 * Storage conformance cases for schema migration: idempotent, and safe from two handles at once.
 */
import { describe, expect, it } from 'vitest';
import type { ConformanceContext } from './conformance-context.js';

/** Defines this area's cases of the conformance suite, on the store `t` provides for each test. */
export function describeMigrate(t: ConformanceContext): void {
  const { createSubscription } = t;

  describe('migrate', () => {
    it('is idempotent, and two migrations at once on two handles both succeed', async () => {
      await t.storage.migrate();
      await t.storage.migrate();
      const peer = await t.openPeer();
      await Promise.all([t.storage.migrate(), peer.migrate()]);
      const sub = await createSubscription();
      expect(await peer.getSubscription(sub.id)).toEqual(sub);
    });
  });
}
