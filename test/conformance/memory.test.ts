import { createMemoryStorage } from '../../src/storage/memory/index.js';
import { describeStorageAdapter } from './describe-storage-adapter.js';

describeStorageAdapter('memory', async () => {
  const storage = createMemoryStorage();
  await storage.migrate();
  // One process, one store: a peer is the same instance.
  return { storage, openPeer: async () => storage, cleanup: () => storage.close() };
});
