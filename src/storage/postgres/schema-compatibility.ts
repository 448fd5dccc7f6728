/**
 * The compatibility window of the PostgreSQL storage: which schemas a release runs on, and
 * which steps a `migrate()` of a phase applies. Pure: the applied steps come in as rows of
 * the version table.
 *
 * A release runs on a schema where every step up to its `minSchema` is applied. Newer steps
 * it does not know are tolerated while every one of them is recorded as `expand` (additive:
 * its statements still run); one `contract` step among them (it removed or narrowed
 * something) and the release refuses with `STORAGE_SCHEMA_TOO_NEW`. The phases are read from
 * the database because older code cannot know a newer release's steps; a row without a
 * phase (written before 0014) counts as contract, the safe reading.
 */
import { StorageError } from '../../errors.js';
import type { MigrationPhase, MigrationSet, PostgresMigration } from './migrations/index.js';

/** A row of `<schema>.migrations`. */
export interface AppliedStep {
  readonly version: number;
  /** `null` when the table has no phase column yet (before 0014). */
  readonly phase: MigrationPhase | null;
}

/**
 * Before the first operation: may this code run on a schema with these steps applied?
 *
 * @param applied `null` when there is no version table.
 * @throws StorageError `STORAGE_NOT_MIGRATED`, `STORAGE_SCHEMA_TOO_NEW`, `STORAGE_SCHEMA_TOO_OLD`.
 */
export function assertSchemaCompatible(where: string, applied: readonly AppliedStep[] | null, set: MigrationSet): void {
  if (applied === null || applied.length === 0) {
    throw new StorageError('STORAGE_NOT_MIGRATED', `${where} has no webhook tables yet; call \`storage.migrate()\` (or apply getMigrationSql()) first`);
  }
  assertNoUnknownContract(where, applied, set);
  const missing = missingRequired(applied, set);
  if (missing.length > 0) {
    const last = applied.reduce((max, step) => Math.max(max, step.version), 0);
    throw new StorageError(
      'STORAGE_SCHEMA_TOO_OLD',
      `${where} is at schema version ${last}, this code needs ${set.minSchema} (${missing.map((step) => step.name).join(', ')} not applied); call \`storage.migrate()\``,
    );
  }
}

/** @throws StorageError `STORAGE_SCHEMA_TOO_NEW` when a step newer than this code is not recorded as expand. */
export function assertNoUnknownContract(where: string, applied: readonly AppliedStep[], set: MigrationSet): void {
  const known = latestOf(set);
  const blocking = applied.filter((step) => step.version > known && step.phase !== 'expand');
  if (blocking.length > 0) {
    const versions = blocking.map((step) => step.version).join(', ');
    throw new StorageError(
      'STORAGE_SCHEMA_TOO_NEW',
      `${where} has step ${versions} applied, newer than this code (which knows up to ${known}) and not an expand step; upgrade @bookkeeper/webhooks`,
    );
  }
}

/** What a `migrate()` of `phase` applies, and what it leaves pending. */
export interface StepPlan {
  readonly apply: readonly PostgresMigration[];
  readonly pending: readonly PostgresMigration[];
}

/**
 * The steps to apply, in version order: with `expand`, the pending steps up to the first
 * pending contract step (on an empty schema, where no older code can run, every step); with
 * `contract`, every pending step.
 *
 * @throws StorageError `STORAGE_SCHEMA_TOO_OLD` when an expand run would leave a step this
 *   code needs behind a pending contract step: the contract must be applied explicitly first.
 */
export function planSteps(where: string, applied: readonly AppliedStep[] | null, set: MigrationSet, phase: MigrationPhase): StepPlan {
  const done = new Set((applied ?? []).map((step) => step.version));
  const pending = set.steps.filter((step) => !done.has(step.version));
  const fresh = done.size === 0;
  if (phase === 'contract' || fresh) return { apply: pending, pending: [] };
  const stop = pending.findIndex((step) => step.phase === 'contract');
  if (stop === -1) return { apply: pending, pending: [] };
  const blocker = pending[stop]!;
  if (blocker.version <= set.minSchema) {
    throw new StorageError(
      'STORAGE_SCHEMA_TOO_OLD',
      `${where} lacks the contract step ${blocker.name}, which this code needs; once no instance of an older release runs, call \`storage.migrate({ phase: 'contract' })\``,
    );
  }
  return { apply: pending.slice(0, stop), pending: pending.slice(stop) };
}

function missingRequired(applied: readonly AppliedStep[], set: MigrationSet): PostgresMigration[] {
  const done = new Set(applied.map((step) => step.version));
  return set.steps.filter((step) => step.version <= set.minSchema && !done.has(step.version));
}

function latestOf(set: MigrationSet): number {
  return set.steps.reduce((max, step) => Math.max(max, step.version), 0);
}
