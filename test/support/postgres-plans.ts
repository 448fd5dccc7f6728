/**
 * Reading the PostgreSQL storage's query plans in tests: a statement's plan (for its values,
 * or run by EXPLAIN ANALYZE in a transaction that is rolled back), its generic plan as a
 * named statement settles on it, and what a plan read: its nodes per relation, the rows
 * they returned and the buffers it touched. Uses the admin pool of postgres-fixtures.ts.
 */
import { admin } from './postgres-fixtures.js';

/** A node of an EXPLAIN (FORMAT JSON) plan, with the fields the tests read. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Subplan Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  /** With BUFFERS: shared buffers found in the cache, by this node and those below it. */
  'Shared Hit Blocks'?: number;
  /** With BUFFERS: shared buffers read from disk, by this node and those below it. */
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** The node and every node below it. */
export function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

/** The first node of the plan (itself included) that passes `test`. */
export function findNode(node: PlanNode, test: (node: PlanNode) => boolean): PlanNode | undefined {
  return planNodes(node).find(test);
}

/**
 * The plan of `text` with `values`; with `analyze`, run inside a transaction that is rolled
 * back; with `buffers` too, counting the buffers each node touched.
 */
export async function planOf(text: string, values: unknown[], analyze = false, buffers = false): Promise<PlanNode> {
  const options = [...(analyze ? ['ANALYZE'] : []), ...(buffers ? ['BUFFERS'] : []), 'FORMAT JSON'].join(', ');
  const client = await admin.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (${options}) ${text}`, values);
    return (rows[0]!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

/**
 * The generic plan of `text` (every parameter cast in it), the one a named statement runs once
 * PostgreSQL stops planning it per call, run with `values` by an EXPLAIN ANALYZE (with BUFFERS)
 * that is rolled back; and whether, prepared and run `runs` times, PostgreSQL settled on that
 * generic plan.
 */
export async function genericPlanOf(text: string, values: unknown[], runs = 10): Promise<{ plan: PlanNode; genericChosen: boolean }> {
  const client = await admin.connect();
  // EXECUTE takes no bind parameters: the values go in as literals (they stay parameters of the generic plan).
  const placeholders = values.map(sqlLiteral).join(', ');
  try {
    await client.query('BEGIN');
    await client.query(`PREPARE statement_under_test AS ${text}`);
    for (let i = 0; i < runs; i++) {
      await client.query('SAVEPOINT run');
      await client.query(`EXECUTE statement_under_test(${placeholders})`);
      await client.query('ROLLBACK TO SAVEPOINT run');
    }
    const { rows: chosen } = await client.query<{ generic_plans: string }>(
      `SELECT generic_plans FROM pg_prepared_statements WHERE name = 'statement_under_test'`,
    );
    await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
    const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE statement_under_test(${placeholders})`,
    );
    return { plan: (rows[0]!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan, genericChosen: Number(chosen[0]!.generic_plans) > 0 };
  } finally {
    await client.query('ROLLBACK');
    await client.query('DEALLOCATE ALL');
    client.release();
  }
}

/** A statement value (text, number, boolean, null, or an array of text) as an SQL literal. */
function sqlLiteral(value: unknown): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `ARRAY[${value.map(sqlLiteral).join(', ')}]::text[]`;
  return `'${String(value).replaceAll("'", "''")}'`;
}

/** The nodes of a plan that read `relation` (the writes left out), as [node type, index name]. */
export function readsOf(plan: PlanNode, relation: string): Array<[string, string | undefined]> {
  return planNodes(plan)
    .filter((node) => node['Relation Name'] === relation && node['Node Type'] !== 'ModifyTable')
    .map((node) => [node['Node Type'], node['Index Name']]);
}

/** How many rows the reads of `relation` returned in all, by an EXPLAIN ANALYZE. */
export function rowsRead(plan: PlanNode, relation: string): number {
  return planNodes(plan)
    .filter((node) => node['Relation Name'] === relation && node['Node Type'] !== 'ModifyTable')
    .reduce((sum, node) => sum + (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1), 0);
}

/** The most rows any one read of `relation` returned (over all its loops), by an EXPLAIN ANALYZE. */
export function mostRowsOneRead(plan: PlanNode, relation: string): number {
  return Math.max(
    0,
    ...planNodes(plan)
      .filter((node) => node['Relation Name'] === relation && node['Node Type'] !== 'ModifyTable')
      .map((node) => (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1)),
  );
}

/** The shared buffers the whole statement touched (found cached or read), by an EXPLAIN (ANALYZE, BUFFERS). */
export function buffersTouched(plan: PlanNode): number {
  return (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
}
