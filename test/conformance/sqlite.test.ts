/**
 * The shared storage conformance suite on SQLite: a real database FILE in a fresh
 * temporary directory per test; a peer is a second connection to the same file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { describeStorageAdapter } from './describe-storage-adapter.js';

describeStorageAdapter('sqlite', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'bookkeeper-webhooks-sqlite-'));
  const filename = join(directory, 'webhooks.db');
  const storage = createSqliteStorage({ filename });
  await storage.migrate();
  const peers: StorageAdapter[] = [];
  return {
    storage,
    openPeer: async () => {
      const peer = createSqliteStorage({ filename });
      peers.push(peer);
      return peer;
    },
    cleanup: async () => {
      for (const peer of peers) await peer.close();
      await storage.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
});
