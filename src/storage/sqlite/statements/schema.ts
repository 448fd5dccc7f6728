/**
 * SQL of the schema's own bookkeeping: the table of applied migrations, and the version
 * check every first call makes.
 */
import type { SqliteTables } from './tables.js';

export function schemaSql(t: SqliteTables) {
  return {
    createMigrationsTable: `CREATE TABLE IF NOT EXISTS ${t.migrations} (
             version    INTEGER NOT NULL PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_at INTEGER NOT NULL
           )`,
    migrationsTableExists: `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '${t.migrations}'`,
    currentVersion: `SELECT COALESCE(MAX(version), 0) FROM ${t.migrations}`,
    recordMigration: `INSERT INTO ${t.migrations} (version, name, applied_at) VALUES (?, ?, ?)`,
  };
}
