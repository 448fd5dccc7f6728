/**
 * Statements of `migrate()` and of the schema check before the first operation. The DDL
 * itself is in ../migrations.
 */
import type { Tables } from './sql-parts.js';

export function migrateStatements(t: Tables) {
  return {
    // to_jsonb of the row: its phase, or NULL on a version table from before 0014, which has
    // no such column, with one statement for both.
    appliedMigrations: `SELECT m.version, to_jsonb(m) ->> 'phase' AS phase FROM ${t.migrations} AS m ORDER BY m.version`,
    recordMigration: `INSERT INTO ${t.migrations} (version, name) VALUES ($1, $2)`,
    recordMigrationPhase: `INSERT INTO ${t.migrations} (version, name, phase) VALUES ($1, $2, $3)`,
  };
}
