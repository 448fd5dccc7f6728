/**
 * `migrate()` of the PostgreSQL storage: applies the pending steps of a phase (expand or
 * contract, see ./schema-compatibility.ts), one transaction per step, with no DDL at all
 * when there is nothing to do.
 */
import type { PoolClient } from 'pg';
import { z } from 'zod';
import { StorageError } from '../../errors.js';
import { parseFactoryOptions } from '../shared/factory-options.js';
import { isConnectionLoss, isMissingTable } from './driver-errors.js';
import {
  defaultLockTimeoutMs,
  migrationSessionLockSql,
  migrationsTableSql,
  phasesRecordedFrom,
  renderStatements,
  type MigrationPhase,
  type MigrationSet,
  type PostgresMigration,
} from './migrations/index.js';
import { assertNoUnknownContract, assertSchemaCompatible, planSteps, type AppliedStep, type StepPlan } from './schema-compatibility.js';
import { retryBusyOrUnavailable, type StatementRunner } from './statement-runner.js';

/** Options of `PostgresStorage.migrate()`. */
export interface PostgresMigrateOptions {
  /**
   * `'expand'`: the pending additive steps, up to the first pending contract step, safe
   * while instances of the previous release still run (what `webhooks.start()` applies).
   * `'contract'`: every pending step, the contract ones too (they remove what older
   * releases used): run it once no instance of an older release runs. On an empty schema
   * both apply every step.
   * @defaultValue `'expand'`
   */
  phase?: MigrationPhase;
  /** Apply nothing; answer the steps that would be applied. @defaultValue `false` */
  dryRun?: boolean;
}

/** A step of a migration plan. */
export interface PostgresMigrationStep {
  /** Its number, recorded in `<schema>.migrations`. */
  readonly version: number;
  /** E.g. `'0014-migration-phases'`. */
  readonly name: string;
  readonly phase: MigrationPhase;
  /** False for a step that runs outside a transaction (`CREATE INDEX CONCURRENTLY`). */
  readonly transaction: boolean;
}

/** What `migrate()` did, or with `dryRun` would do. */
export interface PostgresMigrationPlan {
  readonly phase: MigrationPhase;
  readonly dryRun: boolean;
  /** The steps applied (with `dryRun`: to apply), in order; empty when the schema was current for the phase. */
  readonly steps: readonly PostgresMigrationStep[];
  /** Steps this code knows that stay pending: the contract steps an expand run leaves for `migrate({ phase: 'contract' })`. */
  readonly pending: readonly PostgresMigrationStep[];
}

/** The statements of the version table, from statements/migrate.ts. */
export interface MigrationStatements {
  /** The applied steps, `version` and `phase` (NULL before 0014). */
  readonly appliedMigrations: string;
  /** Records a step before 0014: (version, name). */
  readonly recordMigration: string;
  /** Records a step from 0014 on: (version, name, phase). */
  readonly recordMigrationPhase: string;
}

/** @internal How `migrate()` waits between the tries of a step that hit its lock timeout (tests inject it). */
export type MigrationSleep = (ms: number) => Promise<void>;

/**
 * The pauses before the second, third and fourth try of a step whose statement hit its
 * `lock_timeout` (SQLSTATE 55P03): the transaction holding the lock usually ends within
 * seconds, and meanwhile the queue behind our waiting ALTER is released.
 */
export const lockRetryDelaysMs: readonly number[] = Object.freeze([1_000, 2_000, 4_000]);

const optionKeys = ['phase', 'dryRun'] as const;
const expectations: Record<(typeof optionKeys)[number], string> = {
  phase: "'expand' or 'contract'",
  dryRun: 'a boolean',
};
const optionsSchema = z.strictObject({
  phase: z.enum(['expand', 'contract']).default('expand'),
  dryRun: z.boolean().default(false),
});
type SchemaKeys = keyof z.input<typeof optionsSchema>;
const sameKeys: [SchemaKeys] extends [keyof PostgresMigrateOptions] ? ([keyof PostgresMigrateOptions] extends [SchemaKeys] ? true : never) : never = true;
void sameKeys;

/** @throws ConfigError `CONFIG_INVALID` for an unknown key or a wrong value. */
export function parseMigrateOptions(options: unknown): { phase: MigrationPhase; dryRun: boolean } {
  return parseFactoryOptions(optionsSchema, options ?? {}, 'migrate', optionKeys, expectations);
}

/** What {@link migrateSchema} works with. */
export interface MigrationContext {
  readonly runner: StatementRunner;
  readonly schema: string;
  readonly set: MigrationSet;
  readonly statements: MigrationStatements;
  readonly sleep: MigrationSleep;
}

/**
 * A schema current for the phase is recognized with one read and no DDL (so an application
 * role without CREATE rights can start against a schema its DBA migrated). Otherwise it
 * works on one connection under a session-level advisory lock on a key of the schema (two
 * migrators serialize, and the second finds nothing left to do) and applies each step in a
 * transaction of its own, its record in the same transaction: a failing step leaves the
 * steps before it applied (on a fresh schema, the steps up to the last contract step, with
 * the version table, commit as one). A step outside a transaction is recorded after it
 * succeeds; its statements are idempotent, so a crash in between runs it again harmlessly.
 *
 * @throws StorageError `STORAGE_SCHEMA_TOO_NEW` past a newer contract step; `STORAGE_SCHEMA_TOO_OLD`
 *   when this code needs a contract step an expand run may not apply; `STORAGE_MIGRATION_LOCKED`
 *   when a step still hit its lock timeout after the retries.
 */
export async function migrateSchema(context: MigrationContext, options: { phase: MigrationPhase; dryRun: boolean }): Promise<PostgresMigrationPlan> {
  const { runner, set } = context;
  const plan = await runner.run(
    'migrate',
    async () => {
      const applied = await readApplied(context, runner.pool);
      if (applied !== null) assertNoUnknownContract(runner.where, applied, set);
      // Read without the lock, a fresh schema may be half-way through another instance's
      // migration (0001–0002 committed, the contract step 0003 not yet), which planSteps
      // takes for an old schema: only "nothing to do" is taken from this read, the rest is
      // decided again under the lock, once that migration has ended.
      const first = options.dryRun ? planSteps(runner.where, applied, set, options.phase) : planIfCurrent(runner.where, applied, set, options.phase);
      if (first !== null && (first.apply.length === 0 || options.dryRun)) return { applied: first, after: applied };
      return migrateLocked(context, options.phase);
    },
    { needsSchema: false, retry: retryBusyOrUnavailable },
  );
  if (!options.dryRun) {
    assertSchemaCompatible(runner.where, plan.after, set);
    runner.markCurrent();
  }
  return Object.freeze({
    phase: options.phase,
    dryRun: options.dryRun,
    steps: Object.freeze(plan.applied.apply.map(describeStep)),
    pending: Object.freeze(plan.applied.pending.map(describeStep)),
  });
}

/** The plan when it applies nothing; `null` when it would apply steps or refuses (to be decided under the lock). */
function planIfCurrent(where: string, applied: readonly AppliedStep[] | null, set: MigrationSet, phase: MigrationPhase): StepPlan | null {
  try {
    const plan = planSteps(where, applied, set, phase);
    return plan.apply.length === 0 ? plan : null;
  } catch {
    return null;
  }
}

async function migrateLocked(context: MigrationContext, phase: MigrationPhase) {
  const { runner, schema, set } = context;
  const client = await runner.pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(migrationSessionLockSql(schema));
    try {
      const applied = await readApplied(context, client);
      if (applied !== null) assertNoUnknownContract(runner.where, applied, set);
      const steps = planSteps(runner.where, applied, set, phase);
      // No version table yet: it (and the schema, if missing) is made in the first step's
      // transaction, so a first step that fails — the schema holds a table of the same name,
      // it is not ours — leaves the database as it found it.
      let setup = applied === null ? migrationsTableSql(schema) : null;
      for (const group of applied === null ? freshGroups(steps.apply) : steps.apply.map((step) => [step])) {
        await applyWithRetries(context, client, group, setup);
        setup = null;
      }
      return { applied: steps, after: await readApplied(context, client) };
    } finally {
      try {
        await client.query(migrationSessionLockSql(schema, true));
      } catch (error) {
        // The session cannot be handed back still holding the lock: it is destroyed instead.
        broken = error instanceof Error ? error : new Error(String(error));
      }
    }
  } catch (error) {
    if (isConnectionLoss(error)) broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // A client whose connection broke is destroyed (its session lock went with it).
    client.release(broken);
  }
}

/**
 * The steps of a fresh schema as they commit: those up to its last contract step together,
 * each later one alone. Cut short between them (a killed process), the schema would read as
 * one of an older release, which an expand run refuses to finish (see planSteps).
 */
function freshGroups(steps: readonly PostgresMigration[]): PostgresMigration[][] {
  const last = steps.findLastIndex((step) => step.phase === 'contract');
  const head = steps.slice(0, last + 1);
  if (head.some((step) => step.transaction === false)) return steps.map((step) => [step]);
  return [...(head.length > 0 ? [head] : []), ...steps.slice(last + 1).map((step) => [step])];
}

/**
 * @param group one step, or transactional steps that commit together.
 * @param setup SQL run first, in the group's transaction (the version table of a fresh schema), or `null`.
 */
async function applyWithRetries(context: MigrationContext, client: PoolClient, group: readonly PostgresMigration[], setup: string | null): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await applyGroup(context, client, group, setup);
      return;
    } catch (error) {
      if (!isLockTimeout(error)) throw error;
      const delay = lockRetryDelaysMs[attempt];
      if (delay === undefined) {
        const step = group[group.length - 1]!;
        throw new StorageError(
          'STORAGE_MIGRATION_LOCKED',
          `${context.runner.where}: migration ${group.map((each) => each.name).join(', ')} waited for a table lock longer than its lock timeout (${lockTimeoutOf(step)} ms) on each of ${attempt + 1} tries; a long transaction holds a lock on its table: retry migrate() once it ends`,
          { cause: error, retryable: true },
        );
      }
      await context.sleep(delay);
    }
  }
}

async function applyGroup(context: MigrationContext, client: PoolClient, group: readonly PostgresMigration[], setup: string | null): Promise<void> {
  const first = group[0]!;
  if (first.transaction === false) {
    const statements = renderStatements(first, context.schema);
    if (setup !== null) await client.query(setup);
    // One statement at a time in autocommit: CREATE INDEX CONCURRENTLY refuses any block.
    await client.query(`SET lock_timeout = '${lockTimeoutOf(first)}ms'`);
    await client.query(`SET statement_timeout = '${first.statementTimeoutMs ?? 0}ms'`);
    try {
      for (const statement of statements) await client.query(statement);
    } finally {
      await client.query('RESET lock_timeout; RESET statement_timeout');
    }
    await record(context, client, first);
    return;
  }
  await client.query('BEGIN');
  try {
    for (const step of group) {
      await client.query(`SET LOCAL lock_timeout = '${lockTimeoutOf(step)}ms'; SET LOCAL statement_timeout = '${step.statementTimeoutMs ?? 0}ms'`);
      if (step === first && setup !== null) await client.query(setup);
      await client.query(renderStatements(step, context.schema)[0]!);
      await record(context, client, step);
    }
    await client.query('COMMIT');
  } catch (error) {
    if (!isConnectionLoss(error)) await client.query('ROLLBACK');
    throw error;
  }
}

async function record(context: MigrationContext, client: PoolClient, step: PostgresMigration): Promise<void> {
  const { statements } = context;
  if (step.version >= phasesRecordedFrom) await client.query(statements.recordMigrationPhase, [step.version, step.name, step.phase]);
  else await client.query(statements.recordMigration, [step.version, step.name]);
}

/** The version table's rows; `null` when there is no version table (nor schema). */
export async function readApplied(context: Pick<MigrationContext, 'runner' | 'statements'>, on: Pick<PoolClient, 'query'>): Promise<AppliedStep[] | null> {
  try {
    const { rows } = await on.query<{ version: number; phase: string | null }>(context.statements.appliedMigrations);
    return rows.map((row) => ({ version: Number(row.version), phase: row.phase === 'expand' || row.phase === 'contract' ? row.phase : null }));
  } catch (error) {
    if (isMissingTable(error)) return null;
    throw error;
  }
}

function isLockTimeout(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '55P03';
}

function lockTimeoutOf(step: PostgresMigration): number {
  return step.lockTimeoutMs ?? defaultLockTimeoutMs;
}

function describeStep(step: PostgresMigration): PostgresMigrationStep {
  return Object.freeze({ version: step.version, name: step.name, phase: step.phase, transaction: step.transaction !== false });
}
