/**
 * The shared storage conformance suite on PostgreSQL: a fresh schema (random name)
 * per test, migrated, dropped afterwards; a peer is a second adapter with its own
 * pool on the same schema. Leases run on the database clock here
 * (`capabilities.databaseClock`), so the suite's lease-expiry tests poll briefly.
 */
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../support/postgres.js';
import { describeStorageAdapter } from './describe-storage-adapter.js';

describeStorageAdapter('postgres', async () => {
  const connectionString = testDatabaseUrl();
  const schema = randomSchemaName('conformance');
  const storage = createPostgresStorage({ connectionString, schema, poolSize: 4 });
  await storage.migrate();
  const peers: StorageAdapter[] = [];
  return {
    storage,
    openPeer: async () => {
      const peer = createPostgresStorage({ connectionString, schema, poolSize: 2 });
      peers.push(peer);
      return peer;
    },
    cleanup: async () => {
      for (const peer of peers) await peer.close();
      await storage.close();
      await dropSchema(connectionString, schema);
    },
  };
});
