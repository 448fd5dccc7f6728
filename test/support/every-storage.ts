/**
 * The three storages a user can pick, opened fresh for one test: memory, a SQLite file in
 * its own temporary directory, and a PostgreSQL schema of its own on the test database.
 * For tests that hold a rule to every storage through the public API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { createMemoryStorage, createWebhooks, type BookkeeperEvents, type StorageAdapter, type Webhooks, type WebhooksOptions } from '../../src/index.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { LoopbackReceiver } from './loopback-receiver.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from './postgres.js';

/** A storage opened for a test, and what removes it afterwards. */
export interface OpenedStorage {
  storage: StorageAdapter;
  cleanup: () => Promise<void>;
}

export type StorageKind = 'memory' | 'sqlite' | 'postgres';

/** Opens a fresh storage of each kind; `label` names the temporary directory or schema. */
export const openStorage: Record<StorageKind, (label: string) => Promise<OpenedStorage>> = {
  memory: async () => ({ storage: createMemoryStorage(), cleanup: async () => undefined }),
  sqlite: async (label) => {
    const directory = await mkdtemp(join(tmpdir(), `webhooks-${label}-`));
    const storage = createSqliteStorage({ filename: join(directory, 'webhooks.db') });
    return { storage, cleanup: () => rm(directory, { recursive: true, force: true }) };
  },
  postgres: async (label) => {
    const connectionString = testDatabaseUrl();
    const schema = randomSchemaName(label.replaceAll('-', '_'));
    const storage = createPostgresStorage({ connectionString, schema, poolSize: 2 });
    return { storage, cleanup: () => dropSchema(connectionString, schema) };
  },
};

/** Every storage kind, for `describe.each`. */
export const storageKinds = Object.keys(openStorage) as StorageKind[];

/** What {@link useInstancesOnStorage} gives a test: read its fields inside the test, after `beforeEach` has run. */
export interface InstancesOnStorage {
  /** The storage opened (and migrated) for this test. */
  readonly opened: OpenedStorage;
  /** A loopback receiver started for this test. */
  readonly server: LoopbackReceiver;
  /** A webhooks instance over the test's storage, private networks allowed (the receiver is on 127.0.0.1), no meter; stopped after the test. */
  instance(options?: Omit<WebhooksOptions<BookkeeperEvents>, 'storage'>): Webhooks<BookkeeperEvents>;
}

/**
 * Opens a fresh storage of `kind` and starts a loopback receiver before each test of the
 * enclosing `describe`, and stops every instance made, the receiver and the storage after it.
 */
export function useInstancesOnStorage(kind: StorageKind, label: string): InstancesOnStorage {
  let opened: OpenedStorage | undefined;
  let server: LoopbackReceiver | undefined;
  const instances: Array<Webhooks<BookkeeperEvents>> = [];

  beforeEach(async () => {
    opened = await openStorage[kind](label);
    await opened.storage.migrate();
    server = await LoopbackReceiver.start();
  });

  afterEach(async () => {
    for (const webhooks of instances.splice(0)) await webhooks.stop();
    await server?.close();
    await opened?.storage.close();
    await opened?.cleanup();
  });

  return {
    get opened() {
      if (opened === undefined) throw new Error('the storage opens in beforeEach: read it inside a test');
      return opened;
    },
    get server() {
      if (server === undefined) throw new Error('the receiver starts in beforeEach: read it inside a test');
      return server;
    },
    instance(options = {}) {
      const webhooks = createWebhooks<BookkeeperEvents>({ meter: false, ...options, storage: this.opened.storage, security: { allowPrivateNetworks: true, ...options.security } });
      instances.push(webhooks);
      return webhooks;
    },
  };
}
