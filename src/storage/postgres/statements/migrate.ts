/**
 * Statements of `migrate()` and of the schema check before the first operation. The DDL
 * itself is in ../migrations.
 */
import type { Tables } from './sql-parts.js';

export function migrateStatements(t: Tables) {
  return {
    schemaVersion: `SELECT COALESCE(max(version), 0) AS version FROM ${t.migrations}`,
    recordMigration: `INSERT INTO ${t.migrations} (version, name) VALUES ($1, $2)`,
  };
}
