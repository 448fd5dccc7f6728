/**
 * The three storages a user can pick, opened fresh for one test: memory, a SQLite file in
 * its own temporary directory, and a PostgreSQL schema of its own on the test database.
 * For tests that hold a rule to every storage through the public API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStorage, type StorageAdapter } from '../../src/index.js';
import { createPostgresStorage } from '../../src/storage/postgres/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
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
